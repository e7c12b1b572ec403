"""Fetch the single-file feeds: the CISA KEV catalog and the FIRST EPSS scores."""

from __future__ import annotations

import httpx

from medwarden.intel.sources._http import DEFAULT_HTTP, HttpOptions, get

__all__ = ["fetch_epss", "fetch_kev"]


def fetch_kev(client: httpx.Client, url: str, *, options: HttpOptions = DEFAULT_HTTP) -> bytes:
    """Fetch the KEV catalog (JSON) as raw bytes."""
    return get(client, url, options=options).content


def fetch_epss(client: httpx.Client, url: str, *, options: HttpOptions = DEFAULT_HTTP) -> bytes:
    """Fetch the EPSS scores file as raw bytes (gzip-compressed CSV)."""
    return get(client, url, options=options).content
