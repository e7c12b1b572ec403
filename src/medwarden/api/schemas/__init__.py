"""Pydantic request and response models (DTOs) of the API, one module per router.

DTOs are built from domain values with their ``of`` class method and never carry
secrets, except :class:`~medwarden.api.schemas.tokens.TokenCreated` (the token's
plaintext, returned once) and the write-only password of a new user.
"""
