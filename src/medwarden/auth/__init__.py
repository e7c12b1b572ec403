"""Authentication and authorisation: roles, permissions, password and API-token hashing."""
