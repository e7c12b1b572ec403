"""Tests of medwarden.reports."""
