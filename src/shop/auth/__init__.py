"""The auth context: accounts, passwords, tokens, sessions, lockout, audit log (schema `auth`)."""
