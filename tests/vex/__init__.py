"""Tests of medwarden.vex."""
