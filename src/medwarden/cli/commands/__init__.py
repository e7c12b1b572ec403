"""CLI commands: each parses input, calls one service function and renders the result."""
