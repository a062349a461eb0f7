"""The `workflowdev` command as an operator runs it: a real process, real signals."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import workflowdev
from tests.ports import free_port

EXE = [sys.executable, "-m", "workflowdev.cli"]
GOOD = "name: good\ntasks:\n  - name: a\n    type: util.log\n    properties:\n      message: hi\n"
BAD = "name: bad\ntasks:\n  - name: a\n    type: util.nope\n  - name: a\n    type: util.log\n"


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"workflowdev {workflowdev.__version__}"


HEAVY = (
    "sqlalchemy",
    "aiohttp",
    "textual",
    "cryptography",
    "jinja2",
    "workflowdev.api",
    "workflowdev.tui",
    "workflowdev.runtime",
    "workflowdev.store.database",
    "workflowdev.engine.services.users",
    "workflowdev.engine.services.credentials",
)
"""What a quick answer must not load: the database, the server, the console, the crypto."""


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["user", "--help"], ["credentials", "rotate-key", "--help"]])
def test_quick_answers_load_no_machinery(argv: list[str]) -> None:
    probe = (
        "import sys\n"
        "from workflowdev.cli.main import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted({{m.split('.')[0] if not m.startswith('workflowdev') else m for m in sys.modules if m.startswith({HEAVY!r})}}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_credentials_help_names_the_key_the_engine_reads() -> None:
    from workflowdev.cli import credentials
    from workflowdev.engine.services import credentials as engine_credentials

    assert (credentials.KEY_FILE, credentials.KEY_ENV) == (engine_credentials.KEY_FILE, engine_credentials.KEY_ENV)
    assert credentials.KEY_FILE in run("credentials", "rotate-key", "--help").stdout


def test_validate_ok_and_errors_like_a_compiler(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    ok = run("validate", str(good))
    assert ok.returncode == 0 and f"{good}: ok (1 tasks)" in ok.stdout
    failed = run("validate", str(good), str(bad))
    assert failed.returncode == 1
    lines = [line for line in failed.stdout.splitlines() if line.startswith(str(bad))]
    assert any(re.match(rf"^{re.escape(str(bad))}:4:11: error: .*util\.nope", line) for line in lines), lines
    assert any(re.match(rf"^{re.escape(str(bad))}:5:\d+: error: .*duplicate", line, re.I) for line in lines), lines


def test_validate_missing_file(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1 and "nope.yaml" in result.stderr


def _wait_for_line(proc: subprocess.Popen[str], pattern: str, deadline: float) -> re.Match[str]:
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if match := re.search(pattern, line):
            return match
    proc.kill()
    raise AssertionError(f"server did not print {pattern!r}; stderr: {proc.stderr.read() if proc.stderr else ''}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_server_starts_answers_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    env = {**os.environ, "WORKFLOWDEV_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([*EXE, "server", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = _wait_for_line(proc, r"listening on (http://\S+)", time.monotonic() + 30).group(1)
        with urllib.request.urlopen(url + "/readyz", timeout=5) as resp:
            assert resp.status == 200
        assert (tmp_path / "workflowdev.db").exists()
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()


@pytest.mark.parametrize("command", ["server", "up"])
def test_port_in_use_is_a_clear_error(tmp_path: Path, command: str) -> None:
    """`up` says so before the console takes the terminal."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(command, "--port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


def test_server_refuses_open_bind_without_auth(tmp_path: Path) -> None:
    result = run("server", "--host", "0.0.0.0", "--port", str(free_port()), "--data-dir", str(tmp_path))
    assert result.returncode == 2 and "--insecure" in result.stderr


def test_bad_setting_is_reported(tmp_path: Path) -> None:
    env = {**os.environ, "WORKFLOWDEV_PORT": "abc", "WORKFLOWDEV_DATA_DIR": str(tmp_path)}
    result = run("server", env=env)
    assert result.returncode == 2 and "WORKFLOWDEV_PORT" in result.stderr


RUNNABLE = """name: local
inputs:
  - {name: who, type: string, default: world}
tasks:
  - name: greet
    type: util.log
    properties: {message: "hello {{ inputs.who }}"}
  - name: check
    type: util.assert
    properties: {condition: "{{ inputs.who != 'nobody' }}", message: "nobody to greet"}
"""


def test_run_prints_the_tree_and_exits_by_status(tmp_path: Path) -> None:
    flow = tmp_path / "local.yaml"
    flow.write_text(RUNNABLE)
    ok = run("run", str(flow), "--input", "who=ops")
    assert ok.returncode == 0, ok.stderr
    assert "SUCCESS" in ok.stdout and "hello ops" in ok.stdout and "greet" in ok.stdout
    failed = run("run", str(flow), "-i", "who=nobody")
    assert failed.returncode == 1
    assert "FAILED" in failed.stdout and "nobody to greet" in failed.stdout


def test_run_reports_invalid_flows_and_inputs(tmp_path: Path) -> None:
    flow = tmp_path / "local.yaml"
    flow.write_text(RUNNABLE)
    bad_input = run("run", str(flow), "-i", "nope")
    assert bad_input.returncode == 2 and "NAME=VALUE" in bad_input.stderr
    wrong_type = run("run", str(flow), "-i", "who=42")
    assert wrong_type.returncode == 2 and "who" in wrong_type.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ntasks:\n  - name: a\n    type: util.nope\n")
    invalid = run("run", str(broken))
    assert invalid.returncode == 2 and "line 4" in invalid.stderr


def test_user_commands_manage_users_and_are_audited(tmp_path: Path) -> None:
    base = ["--data-dir", str(tmp_path)]
    made = subprocess.run(
        [*EXE, "user", "create", "ops", "--role", "editor", "--password-stdin", *base],
        input="a long enough password\n", capture_output=True, text=True, timeout=60,
    )
    assert made.returncode == 0, made.stderr
    listed = run("user", "list", *base)
    assert listed.returncode == 0 and "ops\teditor" in listed.stdout
    assert run("user", "set-role", "ops", "admin", *base).returncode == 0
    assert "ops\tadmin" in run("user", "list", *base).stdout
    assert run("user", "delete", "ops", *base).returncode == 0
    assert "ops" not in run("user", "list", *base).stdout
    missing = run("user", "delete", "ops", *base)
    assert missing.returncode == 2 and "not found" in missing.stderr
    short = subprocess.run(
        [*EXE, "user", "create", "x", "--password-stdin", *base], input="short\n", capture_output=True, text=True, timeout=60
    )
    assert short.returncode == 2 and "at least" in short.stderr
    with sqlite3.connect(tmp_path / "workflowdev.db") as conn:
        audited = conn.execute("SELECT action, actor FROM audit_entries ORDER BY seq").fetchall()
    assert [a for a, _ in audited] == ["user.create", "user.set_role", "user.delete"]
    assert all(actor.startswith("cli:") for _, actor in audited)


def test_a_short_jwt_secret_refuses_to_start(tmp_path: Path) -> None:
    env = {**os.environ, "WORKFLOWDEV_JWT_SECRET": "too-short"}
    result = run("server", "--auth", "--port", str(free_port()), "--data-dir", str(tmp_path), env=env)
    assert result.returncode == 2 and "at least 32" in result.stderr
