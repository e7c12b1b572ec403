"""The REST API (FastAPI, ``/api/v1``): an entry point over the services, like the CLI.

* :mod:`medwarden.api.app` — :func:`~medwarden.api.app.create_app` (one store per app, no
  other state) and the factory ``medwarden serve --workers N`` uses;
* :mod:`medwarden.api.deps` — the store/clock/settings dependencies, Bearer-token
  authentication, ``require(permission)``, ``require_product(permission)``,
  :data:`~medwarden.api.deps.PUBLIC_ROUTES`;
* :mod:`medwarden.api.problems` — RFC 9457 problem details, the one error → status mapping;
* :mod:`medwarden.api.pagination` — keyset pagination (``limit``, ``cursor``, ``Link``);
* :mod:`medwarden.api.middleware` — the request body limit and security headers;
* :mod:`medwarden.api.routers` — the routers, registered in one list;
  :mod:`medwarden.api.schemas` — their Pydantic DTOs.

See ``docs/api.md`` and ``docs/adr/0008-auth-and-api.md``.
"""
