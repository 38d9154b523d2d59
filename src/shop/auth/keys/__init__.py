"""Signing keys: JWKS, rotation, and the access tokens they sign and verify."""
