"""The accounts capability of auth: what the owner does with the account itself."""
