"""ORM classes of the users context (schema `users`)."""
