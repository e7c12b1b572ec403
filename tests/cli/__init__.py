"""Tests of medwarden.cli."""
