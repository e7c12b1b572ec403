"""Tests of the reference fleet simulator (medwarden.testing.fleet)."""
