"""``medwarden audit verify|log`` on both backends, including an attacker with database access."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from medwarden.audit import GENESIS
from medwarden.cli.app import app
from medwarden.core.clock import FixedClock
from medwarden.services.intel_load import load_paths
from medwarden.store import open_store
from medwarden.store.db import resolve_url

FIXTURES = Path(__file__).parents[1] / "fixtures" / "intel"
CLOCK = FixedClock(datetime(2026, 11, 25, 9, 30, tzinfo=UTC))
LOADS = (
    [FIXTURES / "kev" / "known_exploited_vulnerabilities.json"],
    [FIXTURES / "osv"],
    [FIXTURES / "nvd"],
)
_CONTENT = (
    "at",
    "actor",
    "action",
    "subject_type",
    "subject_id",
    "before_json",
    "after_json",
    "reason",
    "prev_hash",
    "hash",
)


@pytest.fixture
def audited(store_url: str) -> str:
    """A store (each backend) loaded from corpus intelligence in three audited loads."""
    with open_store(store_url) as store:
        for paths in LOADS:
            load_paths(store, paths, clock=CLOCK, workers=0, audit=store.audit, actor="alice")
        assert store.audit.head()[0] == 3
    return store_url


def attack(url: str, *statements: tuple[str, dict[str, Any]]) -> None:
    """Run ``statements`` as someone with write access who first disables the triggers."""
    engine = create_engine(resolve_url(url))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER ALL"))
            else:
                conn.execute(text("DROP TRIGGER audit_event_no_update"))
                conn.execute(text("DROP TRIGGER audit_event_no_delete"))
            for statement, params in statements:
                conn.execute(text(statement), params)
    finally:
        engine.dispose()


def rows(url: str, *seqs: int) -> list[dict[str, Any]]:
    """The stored audit rows with the given sequence numbers."""
    engine = create_engine(resolve_url(url))
    try:
        with engine.connect() as conn:
            query = text("SELECT * FROM audit_event WHERE seq = :seq")
            return [dict(conn.execute(query, {"seq": s}).mappings().one()) for s in seqs]
    finally:
        engine.dispose()


def verify(runner: CliRunner, url: str, *extra: str) -> Any:
    """Run ``medwarden audit verify`` on ``url``."""
    return runner.invoke(app, ["audit", "verify", "--db", url, *extra])


def test_an_intact_trail_verifies(runner: CliRunner, audited: str) -> None:
    """Untouched, the trail verifies with its count and head, and exit 0."""
    with open_store(audited, create=False) as store:
        count, head = store.audit.head()
    result = verify(runner, audited)
    assert result.exit_code == 0, result.stderr
    assert f"audit trail intact: 3 events, head {head}" in result.stdout
    assert f"checkpoint: {count}:{head}" in result.stdout


def test_an_altered_row_is_named(runner: CliRunner, audited: str) -> None:
    """Rewriting the counts an import recorded is reported at that event, exit 4."""
    (row,) = rows(audited, 2)
    forged = row["after_json"].replace('"inserted":', '"inserted":1', 1)
    attack(audited, ("UPDATE audit_event SET after_json = :j WHERE seq = 2", {"j": forged}))
    result = verify(runner, audited)
    assert result.exit_code == 4
    assert "[MW400] audit event 2 was altered" in result.stderr


def test_a_deleted_row_is_named(runner: CliRunner, audited: str) -> None:
    """Deleting an event in the middle is reported as that event missing."""
    attack(audited, ("DELETE FROM audit_event WHERE seq = 2", {}))
    result = verify(runner, audited)
    assert result.exit_code == 4
    assert "audit event 2 is missing" in result.stderr


def test_a_reordered_pair_is_named(runner: CliRunner, audited: str) -> None:
    """Swapping the content of two rows (each keeps its seq) is reported at the first."""
    second, third = rows(audited, 2, 3)
    assignments = ", ".join(f"{c} = :{c}" for c in _CONTENT)
    update = f"UPDATE audit_event SET {assignments} WHERE seq = :seq"
    attack(
        audited,
        (update, {**{c: third[c] for c in _CONTENT}, "seq": 2}),
        (update, {**{c: second[c] for c in _CONTENT}, "seq": 3}),
    )
    result = verify(runner, audited)
    assert result.exit_code == 4
    assert "audit event 2 " in result.stderr


def test_a_truncated_tail_fails_the_checkpoint(runner: CliRunner, audited: str) -> None:
    """Deleting the newest event passes alone but is named against a recorded checkpoint."""
    checkpoint = verify(runner, audited).stdout.split("checkpoint: ")[1].strip()
    attack(audited, ("DELETE FROM audit_event WHERE seq = 3", {}))
    assert verify(runner, audited).exit_code == 0
    result = verify(runner, audited, "--checkpoint", checkpoint)
    assert result.exit_code == 4
    assert "audit event 3 is missing: the trail was truncated" in result.stderr


def test_a_matching_checkpoint_is_confirmed(runner: CliRunner, audited: str) -> None:
    """An earlier head given as checkpoint is confirmed when the chain still holds it."""
    (first,) = rows(audited, 1)
    result = verify(runner, audited, "--checkpoint", f"1:{first['hash']}")
    assert result.exit_code == 0, result.stderr
    assert "matches the checkpoint 1:" in result.stdout


def test_a_malformed_checkpoint_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    """``--checkpoint`` that is not COUNT:HASH exits 2 before the store is opened."""
    result = verify(runner, str(tmp_path / "none.db"), "--checkpoint", "three:abc")
    assert result.exit_code == 2
    assert "not an audit checkpoint" in result.stderr


def test_an_empty_trail_verifies_only_as_empty(runner: CliRunner, tmp_path: Path) -> None:
    """A store without events says so instead of claiming an intact trail."""
    db = str(tmp_path / "empty.db")
    open_store(db).close()
    result = verify(runner, db)
    assert result.exit_code == 0
    assert "audit trail is empty" in result.stdout
    assert "intact" not in result.stdout
    assert verify(runner, db, "--checkpoint", f"0:{GENESIS}").exit_code == 0


def test_a_missing_store_is_a_store_error(runner: CliRunner, tmp_path: Path) -> None:
    """Verifying where no store exists exits 3, never 0."""
    assert verify(runner, str(tmp_path / "absent.db")).exit_code == 3


def test_log_lists_the_latest_events(runner: CliRunner, audited: str) -> None:
    """``audit log --limit 2`` shows the last two events with actor, action and subject."""
    result = runner.invoke(
        app, ["audit", "log", "--db", audited, "--limit", "2"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "intel.load" in line]
    assert len(lines) == 2
    assert all("alice" in line and "intel_mirror:" in line for line in lines)
    assert "2 of 3 events; head 3:" in result.stdout


def test_log_of_an_empty_trail(runner: CliRunner, tmp_path: Path) -> None:
    """An empty trail is listed as empty."""
    db = str(tmp_path / "empty.db")
    open_store(db).close()
    result = runner.invoke(app, ["audit", "log", "--db", db])
    assert result.exit_code == 0
    assert "empty" in result.stdout


def test_cli_loads_are_recorded_with_the_actor(runner: CliRunner, tmp_path: Path) -> None:
    """``intel load`` records the OS user by default and ``--actor`` when given."""
    db = str(tmp_path / "s.db")
    kev = str(LOADS[0][0])
    assert runner.invoke(app, ["intel", "load", kev, "--db", db]).exit_code == 0
    assert runner.invoke(app, ["intel", "load", kev, "--db", db, "--actor", "carol"]).exit_code == 0
    with open_store(db, create=False) as store:
        actors = [e.actor for e in store.audit.events()]
    assert actors == [getpass.getuser(), "carol"]
    assert verify(runner, db).exit_code == 0
