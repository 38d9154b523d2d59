"""The shared kernel: settings, database, errors, security. It imports no context."""
