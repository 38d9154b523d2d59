"""What other contexts may use from localization, inside the caller's transaction."""
