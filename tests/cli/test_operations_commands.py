"""``medwarden notify``, ``monitor`` and ``worker`` commands on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from typer.testing import CliRunner

from medwarden.cli.app import app
from medwarden.notify.model import DeliveryState
from medwarden.notify.signing import SIGNATURE_HEADER, verify_signature
from medwarden.store import open_store
from tests.ops_helpers import add_product, notification, webhook_receiver


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_channels_are_added_listed_tested_and_disabled(runner: CliRunner, store_url: str) -> None:
    """A generated secret is shown once, signs the test request, and is never listed."""
    db = ("--db", store_url)
    with open_store(store_url) as store:
        add_product(store, "pump")
    with webhook_receiver() as receiver:
        out = _ok(runner, "notify", "channel", "add", "hook", "--webhook", receiver.url, *db)
        secret = out.split("signing secret (shown once, give it to the receiver): ")[1].strip()
        assert secret.startswith("whsec_")
        _ok(
            runner,
            "notify",
            "channel",
            "add",
            "mail",
            "--email",
            "psirt@example.org",
            "--min-severity",
            "high",
            "--kind",
            "new_finding",
            "--product",
            "pump",
            *db,
        )
        listed = _ok(runner, "notify", "channel", "list", *db)
        assert "hook" in listed
        assert "psirt@example.org" in listed
        assert secret not in listed
        out = _ok(runner, "notify", "test", "hook", *db)
        assert "delivered a test notification to hook" in out
        (request,) = receiver.requests
        verify_signature(
            secret, request.body, request.headers[SIGNATURE_HEADER], now=datetime.now(UTC)
        )
        assert orjson.loads(request.body)["kind"] == "test"
        _ok(runner, "notify", "channel", "disable", "hook", "--reason", "maintenance", *db)
        assert "no" in _ok(runner, "notify", "channel", "list", *db)
        _ok(runner, "notify", "channel", "enable", "hook", *db)
    with open_store(store_url, create=False) as store:
        actions = [e.action for e in store.audit.events()]
        assert actions == [
            "notify.channel_add",
            "notify.channel_add",
            "notify.channel_disable",
            "notify.channel_enable",
        ]


def test_channel_command_errors(runner: CliRunner, store_url: str) -> None:
    """Usage errors exit 2; a refused test notification exits 3 naming the status."""
    db = ("--db", store_url)
    open_store(store_url).close()
    assert "no notification channels" in _ok(runner, "notify", "channel", "list", *db)
    neither = runner.invoke(app, ["notify", "channel", "add", "x", *db])
    assert neither.exit_code == 2
    assert "exactly one" in neither.stderr
    bad_kind = runner.invoke(
        app, ["notify", "channel", "add", "x", "--email", "a@example.org", "--kind", "nope", *db]
    )
    assert bad_kind.exit_code == 2
    assert "unknown notification kind" in bad_kind.stderr
    with webhook_receiver(default=500) as receiver:
        _ok(runner, "notify", "channel", "add", "hook", "--webhook", receiver.url, *db)
        refused = runner.invoke(app, ["notify", "test", "hook", *db])
    assert refused.exit_code == 3
    assert "HTTP 500" in refused.stderr
    missing = runner.invoke(app, ["notify", "test", "ghost", *db])
    assert missing.exit_code == 2
    assert "MW003" in missing.stderr


def test_secret_file_and_smtp_options(runner: CliRunner, store_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A secret can come from a file; e-mail tests use the SMTP options."""
    secret_file = tmp_path / "secret"
    secret_file.write_text("whsec_from-a-file-0123456789\n")
    db = ("--db", store_url)
    with webhook_receiver() as receiver:
        out = _ok(
            runner,
            "notify",
            "channel",
            "add",
            "hook",
            "--webhook",
            receiver.url,
            "--secret-file",
            str(secret_file),
            *db,
        )
        assert "signing secret" not in out
        _ok(runner, "notify", "test", "hook", *db)
        request = receiver.requests[0]
        verify_signature(
            "whsec_from-a-file-0123456789",
            request.body,
            request.headers[SIGNATURE_HEADER],
            now=datetime.now(UTC),
        )
    _ok(runner, "notify", "channel", "add", "mail", "--email", "a@example.org", *db)
    unsent = runner.invoke(
        app,
        ["notify", "test", "mail", "--smtp-host", "127.0.0.1", "--smtp-port", "1", *db],
    )
    assert unsent.exit_code == 3
    assert "ConnectionRefusedError" in unsent.stderr


def test_monitor_tick_and_status(runner: CliRunner, store_url: str) -> None:
    """A tick runs the due products; status shows schedules, runs and queues."""
    db = ("--db", store_url)
    with open_store(store_url) as store:
        add_product(store, "pump", created_at=datetime.now(UTC) - timedelta(days=3))
    assert "due: pump" in _ok(runner, "monitor", "tick", *db)  # no intelligence loaded: fine
    with open_store(store_url) as store:
        add_product(store, "silent", created_at=datetime.now(UTC) - timedelta(days=3))
    out = _ok(runner, "monitor", "status", *db)
    assert "silent" in out
    assert "never" in out
    out = _ok(runner, "monitor", "tick", *db)
    assert "due: silent" in out
    out = _ok(runner, "monitor", "tick", "--product", "pump", *db)
    assert "monitored pump" in out
    status = _ok(runner, "monitor", "status", *db)
    assert "manual" in status
    assert "schedule" in status
    assert "jobs:" in status
    assert "deliveries:" in status
    missing = runner.invoke(app, ["monitor", "tick", "--product", "ghost", *db])
    assert missing.exit_code == 2


def test_monitor_status_shows_open_alerts(runner: CliRunner, store_url: str) -> None:
    """A product silent for more than twice its interval is flagged and alerted."""
    db = ("--db", store_url)
    with open_store(store_url) as store:
        add_product(store, "pump", created_at=datetime.now(UTC) - timedelta(days=3))
        from medwarden.services.monitoring import check_liveness

        assert check_liveness(store, datetime.now(UTC)).raised == ("pump",)
    out = _ok(runner, "monitor", "status", *db)
    assert "ALERT" in out
    assert "monitoring_liveness:pump" in out


def test_worker_run_once_delivers_and_ticks(runner: CliRunner, store_url: str) -> None:
    """``worker run --once`` delivers the outbox and runs the periodic monitoring tick."""
    db = ("--db", store_url)
    now = datetime.now(UTC)
    with webhook_receiver() as receiver:
        with open_store(store_url) as store:
            add_product(store, "pump", created_at=now - timedelta(days=1))
            _ok(runner, "notify", "channel", "add", "hook", "--webhook", receiver.url, *db)
            store.notifications.enqueue([notification("a", at=now - timedelta(minutes=1))])
        out = _ok(runner, "worker", "run", "--once", "--concurrency", "2", *db)
        assert out.count("worker ") == 2
        assert len(receiver.requests) == 1
    with open_store(store_url, create=False) as store:
        assert store.notifications.delivery_counts()[DeliveryState.DELIVERED] == 1
        (run,) = store.monitoring.runs()
        assert run.products == ("pump",)
