"""Use cases: each owns its transaction and sees storage only through ports."""
