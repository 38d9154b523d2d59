"""Passkeys (WebAuthn): adding, listing, renaming and removing an account's passkeys, and signing in
with one. py_webauthn makes the options and verifies the responses (WebAuthn §7.1, §7.2)."""
