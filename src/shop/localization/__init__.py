"""The localization context: languages, currencies, exchange rates, conversion (schema `localization`)."""
