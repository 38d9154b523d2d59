"""The users context: profiles and addresses (schema `users`)."""
