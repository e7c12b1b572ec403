"""Component support records on SQLite and PostgreSQL: set, clear, audit, annotated export."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medwarden.errors import NotFoundError, RuleViolationError, UsageError
from medwarden.portfolio.support import ComponentSupport
from medwarden.services.support import annotated_sbom, set_component_support
from medwarden.store import SqlStore
from medwarden.store.support_repository import SUPPORT_SET
from tests.portfolio_helpers import cdx, clock_at, imported, make_product, npm, tick
from tests.strategies import component_supports, spdx_json_document

LODASH = "pkg:npm/lodash@4.17.15"
MS = "pkg:npm/ms@2.1.3"
SBOM = cdx(
    npm("lodash", "4.17.15", levelOfSupport="abandoned", eol="2024-01-01"), npm("ms", "2.1.3")
)


def _xml(*refs: str) -> bytes:
    parts = [b'<bom xmlns="http://cyclonedx.org/schema/bom/1.5" version="1"><components>']
    for index, ref in enumerate(refs):
        parts.append(
            f'<component type="library" bom-ref="{ref}"><name>c{index}</name>'
            f"<version>1.{index}</version></component>".encode()
        )
    parts.append(b"</components></bom>")
    return b"".join(parts)


DOCUMENTS = {
    "cyclonedx-json": (cdx(npm("lodash", "4.17.15"), npm("ms", "2.1.3")), (LODASH, MS)),
    "cyclonedx-xml": (_xml("a", "b"), ("a", "b")),
    "spdx-json": (
        spdx_json_document(
            "2.3",
            [
                {"name": "a", "version": "1", "purl": None},
                {"name": "b", "version": "2", "purl": None},
            ],
        ),
        ("SPDXRef-Package-0", "SPDXRef-Package-1"),
    ),
}


def _events(store: SqlStore, action: str) -> list[Any]:
    return [e for e in store.audit.events() if e.action == action]


def test_a_record_is_set_and_cleared_audited_and_the_document_stays_as_imported(
    store: SqlStore,
) -> None:
    """The columns change, the audit event holds before and after, the bytes do not change."""
    clock = clock_at()
    make_product(store, "pump", "1.0", clock=clock)
    imported(store, "pump", "1.0", SBOM, clock)
    before = store.support.current_revision("pump", "1.0")
    assert before.records == {
        LODASH: ComponentSupport("abandoned", date(2024, 1, 1)),
        MS: None,
    }
    stored = store.support.set_support(
        "pump",
        "1.0",
        MS,
        ComponentSupport("Actively maintained", date(2030, 1, 31)),
        actor="alice",
        at=tick(clock),
        reason="vendor roadmap",
    )
    assert (stored.revision, stored.changed) == (1, True)
    after = store.support.current_revision("pump", "1.0")
    assert after.records[MS] == ComponentSupport("actively_maintained", date(2030, 1, 31))
    assert after.document == SBOM == store.portfolio.revision_document("pump", "1.0")[1]
    (event,) = _events(store, SUPPORT_SET)
    assert (event.subject_type, event.subject_id, event.actor) == ("release", "pump@1.0", "alice")
    assert event.before == {"ref": MS, "revision": 1, "support": None}
    assert event.after == {
        "ref": MS,
        "revision": 1,
        "support": {
            "level": "actively_maintained",
            "end_of_support": "2030-01-31",
            "justification": None,
        },
    }
    assert event.reason == "vendor roadmap"
    store.support.set_support("pump", "1.0", LODASH, None, actor="bob", at=tick(clock))
    assert store.support.current_revision("pump", "1.0").records[LODASH] is None
    cleared = _events(store, SUPPORT_SET)[-1]
    assert cleared.before["support"]["level"] == "abandoned"  # type: ignore[index]
    assert cleared.after == {"ref": LODASH, "revision": 1, "support": None}
    again = store.support.set_support("pump", "1.0", LODASH, None, actor="bob", at=tick(clock))
    assert not again.changed
    assert len(_events(store, SUPPORT_SET)) == 2


def test_saving_neither_date_nor_justification_fails_and_stores_nothing(store: SqlStore) -> None:
    """REQUIREMENTS 3: a level alone is refused (MW005); nothing is written or audited."""
    clock = clock_at()
    make_product(store, "pump", "1.0", clock=clock)
    imported(store, "pump", "1.0", SBOM, clock)
    events = len(list(store.audit.events()))
    with pytest.raises(RuleViolationError, match="end-of-support date or a justification"):
        set_component_support(
            store.support,
            "pump",
            "1.0",
            MS,
            level="actively_maintained",
            end_of_support=None,
            justification="   ",
            actor="alice",
            clock=clock,
        )
    assert store.support.current_revision("pump", "1.0").records[MS] is None
    assert len(list(store.audit.events())) == events


def test_unknown_components_and_releases_without_an_sbom_are_not_found(store: SqlStore) -> None:
    """Only a component of the current revision can get a record."""
    clock = clock_at()
    make_product(store, "pump", "1.0", "2.0", clock=clock)
    imported(store, "pump", "1.0", SBOM, clock)
    record = ComponentSupport(None, None, "unknown")
    with pytest.raises(NotFoundError, match="no component 'ghost'"):
        store.support.set_support("pump", "1.0", "ghost", record, actor="a", at=clock.now())
    with pytest.raises(NotFoundError, match="no SBOM yet"):
        store.support.set_support("pump", "2.0", MS, record, actor="a", at=clock.now())
    with pytest.raises(NotFoundError, match="no SBOM yet"):
        store.support.current_revision("pump", "2.0")
    with pytest.raises(NotFoundError, match="no product"):
        store.support.current_revision("meter", "1.0")


def test_a_new_revision_starts_from_its_own_document(store: SqlStore) -> None:
    """Records belong to a revision: the next import reads its document again."""
    clock = clock_at()
    make_product(store, "pump", "1.0", clock=clock)
    imported(store, "pump", "1.0", SBOM, clock)
    record = ComponentSupport(None, date(2031, 1, 1))
    store.support.set_support("pump", "1.0", MS, record, actor="a", at=tick(clock))
    imported(store, "pump", "1.0", SBOM, clock)
    assert store.support.current_revision("pump", "1.0").records[MS] is None


def test_spdx_tag_value_cannot_be_annotated(store: SqlStore) -> None:
    """The annotated export of a tag-value SBOM is a usage error; the stored one is served."""
    from tests.strategies import spdx_tag_value_document

    clock = clock_at()
    make_product(store, "pump", "1.0", clock=clock)
    document = spdx_tag_value_document("2.3", [{"name": "a", "version": "1", "purl": None}])
    imported(store, "pump", "1.0", document, clock)
    with pytest.raises(UsageError, match="tag-value"):
        annotated_sbom(store.support, "pump", "1.0", clock=clock)


@pytest.mark.parametrize("sbom_format", sorted(DOCUMENTS))
@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.none() | component_supports(), min_size=2, max_size=2))
def test_annotated_export_reimports_with_the_same_records(
    store: SqlStore, sbom_format: str, records: list[ComponentSupport | None]
) -> None:
    """REQUIREMENTS 3: stored records, exported and imported again, come back unchanged."""
    clock = clock_at()
    document, refs = DOCUMENTS[sbom_format]
    if not store.portfolio.products():
        make_product(store, "pump", "1.0", clock=clock)
        imported(store, "pump", "1.0", document, clock)
    for ref, record in zip(refs, records, strict=True):
        store.support.set_support("pump", "1.0", ref, record, actor="alice", at=tick(clock))
    export = annotated_sbom(store.support, "pump", "1.0", clock=clock)
    outcome = imported(store, "pump", "1.0", export.document, clock)
    current = store.support.current_revision("pump", "1.0")
    assert current.info.number == outcome.result.revision
    assert current.records == dict(zip(refs, records, strict=True))
