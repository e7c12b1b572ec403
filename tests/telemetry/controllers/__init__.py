"""Tests of controller runners, oref0, re-computation and the safety envelope."""
