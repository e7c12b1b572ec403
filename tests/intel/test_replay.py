"""The loopback replay server: matching, recording, fault injection, clean shutdown."""

from __future__ import annotations

import httpx
import pytest

from medwarden.testing.replay import ReplayServer, Response


def test_most_specific_query_match_wins() -> None:
    """A route with matching query parameters beats a path-only route; extra params are ignored."""
    with ReplayServer() as server, httpx.Client() as client:
        server.add("GET", "/a", Response(body=b"any"))
        server.add("GET", "/a", Response(body=b"page2"), query={"page": "2"})
        assert client.get(f"{server.url}/a", params={"page": "2", "x": "1"}).text == "page2"
        assert client.get(f"{server.url}/a", params={"page": "3"}).text == "any"
        assert client.get(f"{server.url}/b").status_code == 404


def test_requests_are_recorded() -> None:
    """Method, path, query and lower-cased headers of each request are kept."""
    with ReplayServer() as server, httpx.Client() as client:
        server.add("GET", "/x", Response(body=b"ok", headers={"X-Test": "1"}))
        response = client.get(f"{server.url}/x?q=1", headers={"apiKey": "k"})
        assert response.headers["x-test"] == "1"
        (request,) = server.requests
        assert (request.method, request.path, request.query["q"]) == ("GET", "/x", "1")
        assert request.headers["apikey"] == "k"


def test_injected_faults_come_first_then_the_recording() -> None:
    """Injected statuses are served once each, in order, before the recorded response."""
    with ReplayServer() as server, httpx.Client() as client:
        server.add("GET", "/x", Response(body=b"ok"))
        server.inject("GET", "/x", [429, 503])
        codes = [client.get(f"{server.url}/x").status_code for _ in range(3)]
        assert codes == [429, 503, 200]


def test_url_requires_a_running_server() -> None:
    """Asking for the URL of a stopped server is an error."""
    with pytest.raises(RuntimeError, match="not running"):
        _ = ReplayServer().url


def test_binds_to_loopback_only() -> None:
    """The server listens on 127.0.0.1 at an ephemeral port."""
    with ReplayServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert not server.url.endswith(":0")
