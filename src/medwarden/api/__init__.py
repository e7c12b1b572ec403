"""The REST API (FastAPI, ``/api/v1``): an entry point over the services, like the CLI."""
