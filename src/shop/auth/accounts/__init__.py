"""Accounts: registration, verification, passwords, email change, deletion and their administration."""
