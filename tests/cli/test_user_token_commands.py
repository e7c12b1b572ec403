"""``medwarden user|token|serve`` on both backends: passwords never from argv, tokens shown once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from medwarden.auth.tokens import parse_token
from medwarden.cli.app import app
from medwarden.cli.commands.user import read_password
from medwarden.core.clock import SystemClock
from medwarden.errors import UsageError
from medwarden.services.auth import authenticate
from medwarden.store import open_store

PASSWORD = "correct horse battery staple"


def run(runner: CliRunner, *args: str, stdin: str | None = None) -> Any:
    """Invoke ``medwarden ARGS`` with ``stdin``."""
    return runner.invoke(app, list(args), input=stdin)


def audit_json(url: str) -> str:
    """The stored audit events' content as one JSON text."""
    with open_store(url, create=False) as store:
        return json.dumps([[e.action, e.actor, e.before, e.after] for e in store.audit.events()])


def test_user_add_and_list(runner: CliRunner, store_url: str) -> None:
    """Users are created with roles from stdin passwords, audited with the actor, and listed."""
    added = run(
        runner,
        "user", "add", "alice", "--role", "admin", "--role", "auditor",
        "--password-stdin", "--db", store_url, "--actor", "carol",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert "user alice created: roles admin, auditor; products: every product" in added.stdout
    svc = run(
        runner, "user", "add", "svc", "--role", "regulatory", "--no-password", "--db", store_url
    )
    assert svc.exit_code == 0, svc.stderr
    listed = runner.invoke(app, ["user", "list", "--db", store_url], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any("alice" in line and "admin, auditor" in line and "enabled" in line for line in lines)
    assert any("svc" in line and "no (tokens only)" in line for line in lines)
    text = audit_json(store_url)
    assert '"auth.user_create", "carol"' in text
    assert PASSWORD not in text
    assert "argon2" not in text


def test_passwords_never_come_from_argv(runner: CliRunner, store_url: str) -> None:
    """There is no --password option; an empty stdin or a missing terminal is a usage error."""
    for option in ("--password", "--pass"):
        result = run(
            runner, "user", "add", "a", "--role", "admin", option, PASSWORD, "--db", store_url
        )
        assert result.exit_code == 2
    empty = run(
        runner,
        "user",
        "add",
        "a",
        "--role",
        "admin",
        "--password-stdin",
        "--db",
        store_url,
        stdin="",
    )
    assert empty.exit_code == 2
    assert "no password" in empty.stderr
    no_tty = run(runner, "user", "add", "a", "--role", "admin", "--db", store_url, stdin=PASSWORD)
    assert no_tty.exit_code == 2
    assert "--password-stdin" in no_tty.stderr
    both = run(
        runner, "user", "add", "a", "--role", "admin", "--no-password", "--password-stdin",
        "--db", store_url,
    )  # fmt: skip
    assert both.exit_code == 2


def test_read_password_prompts_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the password is asked twice without echo."""
    asked: dict[str, Any] = {}

    def prompt(text: str, **kwargs: Any) -> str:
        asked.update(kwargs, text=text)
        return PASSWORD

    monkeypatch.setattr("typer.prompt", prompt)
    assert read_password(from_stdin=False, interactive=True) == PASSWORD
    assert asked == {"text": "Password", "hide_input": True, "confirmation_prompt": True}
    with pytest.raises(UsageError):
        read_password(from_stdin=False, interactive=False)


def test_user_errors(runner: CliRunner, store_url: str) -> None:
    """Duplicates, unknown roles and weak passwords exit 2 with the error's code."""
    args = ("user", "add", "bob", "--role", "auditor", "--no-password", "--db", store_url)
    assert run(runner, *args).exit_code == 0
    again = run(runner, *args)
    assert again.exit_code == 2
    assert "[MW004] there is already a user 'bob'" in again.stderr
    bad_role = run(runner, "user", "add", "x", "--role", "root", "--no-password", "--db", store_url)
    assert bad_role.exit_code == 2
    weak = run(
        runner, "user", "add", "x", "--role", "admin", "--password-stdin", "--db", store_url,
        stdin="short\n",
    )  # fmt: skip
    assert weak.exit_code == 2
    assert "[MW005]" in weak.stderr
    unknown = run(runner, "user", "disable", "nobody", "--db", store_url)
    assert unknown.exit_code == 2
    assert "[MW003]" in unknown.stderr


def test_tokens_are_printed_once_and_work(runner: CliRunner, store_url: str) -> None:
    """``token create`` prints only the token on stdout; it authenticates; list never shows it."""
    run(
        runner,
        "user",
        "add",
        "ana",
        "--role",
        "security_analyst",
        "--no-password",
        "--db",
        store_url,
    )
    created = run(
        runner, "token", "create", "--user", "ana", "--name", "ci", "--role", "security_analyst",
        "--expires-days", "30", "--db", store_url,
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("mwt_")
    assert "\n" not in token
    assert "store it now" in created.stderr
    assert token not in created.stderr
    with open_store(store_url, create=False) as store:
        principal = authenticate(store.auth, token, clock=SystemClock())
    assert principal.name == "ana"
    token_id = principal.token_id
    assert token_id is not None
    listed = runner.invoke(app, ["token", "list", "--db", store_url], env={"COLUMNS": "200"})
    assert token_id in listed.stdout
    assert "active" in listed.stdout
    secret = parse_token(token).secret  # it may itself contain "_"
    assert secret not in listed.stdout
    assert secret not in audit_json(store_url)

    revoked = run(runner, "token", "revoke", token, "--db", store_url)  # pasted whole
    assert revoked.exit_code == 0, revoked.stderr
    assert f"token {token_id} (ci) of ana revoked" in revoked.stdout
    listed = runner.invoke(
        app, ["token", "list", "--user", "ana", "--db", store_url], env={"COLUMNS": "200"}
    )
    assert "revoked" in listed.stdout
    assert '"auth.token_revoke"' in audit_json(store_url)


def test_token_rules_from_the_cli(runner: CliRunner, store_url: str) -> None:
    """Roles beyond the user's, a lifetime beyond the maximum, unknown users: exit 2."""
    run(runner, "user", "add", "rita", "--role", "regulatory", "--no-password", "--db", store_url)
    base = ["token", "create", "--user", "rita", "--name", "t", "--db", store_url]
    beyond = run(runner, *base, "--role", "admin", "--expires-days", "1")
    assert beyond.exit_code == 2
    assert "does not hold the role(s) admin" in beyond.stderr
    too_long = run(runner, *base, "--role", "regulatory", "--expires-days", "91")
    assert too_long.exit_code == 2
    assert "at most 90 days" in too_long.stderr
    env = {**os.environ, "MEDWARDEN_TOKEN_MAX_DAYS": "5"}
    capped = runner.invoke(app, [*base, "--role", "regulatory", "--expires-days", "6"], env=env)
    assert "at most 5 days" in capped.stderr
    missing = run(runner, *base, "--role", "regulatory")
    assert missing.exit_code == 2  # --expires-days is required
    nobody = run(
        runner, "token", "create", "--user", "nobody", "--name", "t", "--role", "regulatory",
        "--expires-days", "1", "--db", store_url,
    )  # fmt: skip
    assert nobody.exit_code == 2
    assert run(runner, "token", "revoke", "0" * 16, "--db", store_url).exit_code == 2
    assert run(runner, "token", "revoke", "mwt_nonsense", "--db", store_url).exit_code == 2


def test_disable_enable_and_password(runner: CliRunner, store_url: str) -> None:
    """Disable/enable and a new password are audited; the password never is."""
    run(runner, "user", "add", "dan", "--role", "auditor", "--no-password", "--db", store_url)
    assert (
        run(runner, "user", "disable", "dan", "--db", store_url).stdout.strip()
        == "user dan disabled"
    )
    assert run(runner, "user", "enable", "dan", "--db", store_url).exit_code == 0
    changed = run(
        runner,
        "user",
        "password",
        "dan",
        "--password-stdin",
        "--db",
        store_url,
        stdin=PASSWORD + "\r\n",
    )
    assert changed.exit_code == 0, changed.stderr
    text = audit_json(store_url)
    for action in ("auth.user_disable", "auth.user_enable", "auth.password_set"):
        assert action in text
    assert PASSWORD not in text


def test_empty_lists(runner: CliRunner, tmp_path: Path) -> None:
    """A store without users or tokens says so; a missing store exits 3."""
    db = str(tmp_path / "s.db")
    open_store(db).close()
    assert "no users yet" in run(runner, "user", "list", "--db", db).stdout
    assert "no API tokens" in run(runner, "token", "list", "--db", db).stdout
    assert run(runner, "user", "list", "--db", str(tmp_path / "none.db")).exit_code == 3


def test_serve_runs_uvicorn(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One worker: the app object; several: the factory by name, settings in the environment."""
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda target, **kw: calls.append((target, kw)))
    db = str(tmp_path / "s.db")
    assert run(runner, "serve", "--db", db).exit_code == 3  # no store yet: refused up front
    open_store(db).close()
    assert run(runner, "serve", "--db", db, "--port", "8123").exit_code == 0
    target, options = calls[0]
    assert target.title == "medwarden"
    no_tls = {"ssl_certfile": None, "ssl_keyfile": None, "access_log": True}
    one = {"factory": False, "workers": None}
    assert options == {"host": "127.0.0.1", "port": 8123, **one, **no_tls}
    monkeypatch.setenv("MEDWARDEN_DB", "/elsewhere.db")
    result = run(runner, "serve", "--db", db, "--workers", "3", "--host", "0.0.0.0")  # noqa: S104
    assert result.exit_code == 0, result.stderr
    target, options = calls[1]
    assert target == "medwarden.api.app:create_app_from_environment"
    expected = {"factory": True, "host": "0.0.0.0", "port": 8000, "workers": 3, **no_tls}  # noqa: S104
    assert options == expected
    assert os.environ["MEDWARDEN_DB"] == db  # handed to the worker processes
    tls = ["--tls-cert", str(tmp_path / "c.pem"), "--tls-key", str(tmp_path / "k.pem")]
    assert run(runner, "serve", "--db", db, *tls).exit_code == 0
    assert calls[2][1]["ssl_certfile"] == str(tmp_path / "c.pem")
    assert run(runner, "serve", "--db", db, "--tls-cert", "x.pem").exit_code == 2
    assert run(runner, "serve", "--db", db, "--no-access-log").exit_code == 0
    assert calls[3][1]["access_log"] is False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_with_two_worker_processes(runner: CliRunner, tmp_path: Path) -> None:
    """A real ``serve --workers 2``: every request, whichever process answers, sees the same."""
    db = str(tmp_path / "s.db")
    run(runner, "user", "add", "root", "--role", "admin", "--no-password", "--db", db)
    token = run(
        runner, "token", "create", "--user", "root", "--name", "t", "--role", "admin",
        "--expires-days", "2", "--db", db,
    ).stdout.strip()  # fmt: skip
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDWARDEN_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "medwarden.cli", "serve", "--db", db, "--port", str(port),
         "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
            made = client.post(
                "/tokens", json={"name": "n", "roles": ["admin"], "expires_in_days": 1}
            ).json()
            for _ in range(6):  # new connections spread over both workers
                with httpx.Client(base_url=base, timeout=10) as fresh:
                    me = fresh.get("/me", headers={"Authorization": f"Bearer {made['token']}"})
                    assert me.status_code == 200
            client.delete(f"/tokens/{made['token_id']}")
            for _ in range(6):
                with httpx.Client(base_url=base, timeout=10) as fresh:
                    me = fresh.get("/me", headers={"Authorization": f"Bearer {made['token']}"})
                    assert me.status_code == 401
            assert client.get("/me").json()["name"] == "root"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()
