"""The ``medwarden`` command line: a Typer app over the services, one exit-code mapping."""
