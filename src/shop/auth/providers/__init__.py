"""Sign-in with other providers (OpenID Connect): the start, the provider's callback, the one-time
code's exchange, and the identities linked to an account."""
