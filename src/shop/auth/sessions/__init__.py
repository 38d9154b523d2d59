"""Sessions: sign-in, refresh, sign-out, the list of sessions, token minting and SPA cookies."""
