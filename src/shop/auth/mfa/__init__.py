"""Two-step sign-in: TOTP, recovery codes and the second step of a login."""
