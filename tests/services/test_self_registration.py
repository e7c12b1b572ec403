"""medwarden's own backend as a product (REQUIREMENTS 63), on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.metadata
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from medwarden.portfolio.model import DEFAULT_MONITORING_INTERVAL_S, LifecycleState
from medwarden.sbom.reading import read_sbom
from medwarden.services.self_registration import (
    RELATED_SYSTEM,
    SELF_NAME,
    SELF_SLUG,
    component_set_digest,
    register_self,
)
from medwarden.store import SqlStore
from tests.portfolio_helpers import clock_at, tick


class _FakeDist(importlib.metadata.Distribution):
    """A distribution whose METADATA is given as text."""

    def __init__(self, metadata: str) -> None:
        self._text = metadata

    def read_text(self, filename: str) -> str | None:
        """Return the METADATA text; no other file exists."""
        return self._text if filename == "METADATA" else None

    def locate_file(self, path: str | os.PathLike[str]) -> Path:
        """Fake distributions have no files."""
        raise FileNotFoundError(str(path))


def _environment(lib_version: str) -> Any:
    """A lookup of a fake environment: medwarden 0.1.0 requiring one library."""
    dists = {
        "medwarden": _FakeDist(
            "Metadata-Version: 2.4\nName: medwarden\nVersion: 0.1.0\nRequires-Dist: attrs\n"
        ),
        "attrs": _FakeDist(f"Metadata-Version: 2.4\nName: attrs\nVersion: {lib_version}\n"),
    }

    def distribution(name: str) -> importlib.metadata.Distribution:
        if name.lower() not in dists:
            raise importlib.metadata.PackageNotFoundError(name)
        return dists[name.lower()]

    return distribution


def test_the_backend_appears_as_a_product_with_an_sbom_and_a_schedule(store: SqlStore) -> None:
    """R63: after registration the backend is a product with an SBOM revision and a
    monitoring interval."""
    clock = clock_at()
    done = register_self(
        store.portfolio, store, actor="ops", clock=clock, distribution=_environment("23.1.0")
    )
    assert (done.product_created, done.release_created, done.revision) == (True, True, 1)
    product = store.portfolio.product(SELF_SLUG)
    assert (product.name, product.regulatory_class) == (SELF_NAME, RELATED_SYSTEM)
    assert product.monitoring_interval_s == DEFAULT_MONITORING_INTERVAL_S
    release = store.portfolio.release(SELF_SLUG, "0.1.0")
    assert release.state is LifecycleState.FIELDED
    assert release.current_revision is not None
    assert release.current_revision.component_count == 1
    schedules = {s.slug: s for s in store.monitoring.schedules()}
    assert schedules[SELF_SLUG].interval == timedelta(seconds=DEFAULT_MONITORING_INTERVAL_S)
    assert schedules[SELF_SLUG].is_due(clock.now())  # never run yet: the worker picks it up
    _info, document = store.portfolio.revision_document(SELF_SLUG, "0.1.0")
    sbom = read_sbom(document).sbom
    assert [c.purl for c in sbom.components] == ["pkg:pypi/attrs@23.1.0"]


def test_registering_again_is_idempotent_until_the_components_change(store: SqlStore) -> None:
    """Re-running with the same environment (later, new serial) imports nothing; a changed
    component set becomes the next revision."""
    clock = clock_at()
    first = register_self(
        store.portfolio, store, actor="ops", clock=clock, distribution=_environment("23.1.0")
    )
    events = len(list(store.audit.events()))
    tick(clock, 3600)
    again = register_self(
        store.portfolio, store, actor="ops", clock=clock, distribution=_environment("23.1.0")
    )
    assert not again.changed
    assert again.component_digest == first.component_digest
    assert again.revision == 1
    assert len(list(store.audit.events())) == events
    tick(clock, 3600)
    upgraded = register_self(
        store.portfolio, store, actor="ops", clock=clock, distribution=_environment("24.2.0")
    )
    assert upgraded.imported is not None
    assert upgraded.revision == 2
    assert not upgraded.product_created
    assert [r.number for r in store.portfolio.revisions(SELF_SLUG, "0.1.0")] == [1, 2]


def test_an_explicit_version_names_the_release(store: SqlStore) -> None:
    """--version registers that release (fielded) under the existing product."""
    clock = clock_at()
    register_self(store.portfolio, store, actor="ops", clock=clock, distribution=_environment("1"))
    done = register_self(
        store.portfolio,
        store,
        actor="ops",
        clock=clock,
        version="2026.12",
        distribution=_environment("1"),
    )
    assert (done.product_created, done.release_created, done.version) == (False, True, "2026.12")
    assert [r.version for r in store.portfolio.releases(SELF_SLUG)] == ["0.1.0", "2026.12"]


def test_the_component_digest_ignores_time_and_serial() -> None:
    """Only the root, the components and the dependencies count."""
    base = {"metadata": {"component": {"name": "x"}}, "components": [{"name": "a"}]}
    later = {
        **base,
        "serialNumber": "urn:uuid:1",
        "metadata": {**base["metadata"], "timestamp": "t"},
    }
    assert component_set_digest(base) == component_set_digest(later)
    assert component_set_digest(base) != component_set_digest({**base, "components": []})
