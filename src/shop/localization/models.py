"""ORM classes of the localization context (schema `localization`)."""
