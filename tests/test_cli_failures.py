"""Every command tells what stops it in one line on stderr, with a non-zero exit, and changes
nothing: a real process per case, and generated arguments against `main` in-process."""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest.mock import patch

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.test_cli import EXE
from tests.test_cli import run
from workflowdev.cli.main import main


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_each_failure_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    fresh = tmp_path / "never-made"
    data = ["--data-dir", str(fresh)]
    (tmp_path / "bad.toml").write_text("x = [\n")
    down = f"postgresql://nobody:hunter22@127.0.0.1:{_closed_port()}/x"
    cases: dict[str, tuple[list[str], str]] = {
        "user list, no data dir yet": (["user", "list", *data], "does not exist"),
        "user delete, no data dir yet": (["user", "delete", "ops", *data], "does not exist"),
        "user list, database down": (["user", "list", "--db", down], "cannot reach the database"),
        "user list, no such database": (["user", "list", "--db", "postgresql://postgres@127.0.0.1/no_such_db"], "no_such_db"),
        "user list, unknown scheme": (["user", "list", "--db", "mysql://x/y", *data], "unsupported database URL scheme"),
        "user list, not a URL": (["user", "list", "--db", "not a url", *data], "database_url"),
        "user list, sqlite in a missing dir": (["user", "list", "--db", f"sqlite:///{fresh}/x.db"], "unable to open"),
        "user create, data dir unwritable": (["user", "create", "ops", "--password-stdin", "--data-dir", "/proc/1/x"], "/proc/1/x"),
        "user set-role, bad role": (["user", "set-role", "ops", "god", *data], "invalid choice"),
        "server, database down": (["server", "--port", "0", "--db", down, *data], "cannot reach the database"),
        "server, unknown scheme": (["server", "--port", "0", "--db", "mysql://x/y", *data], "unsupported"),
        "server, data dir unwritable": (["server", "--port", "0", "--data-dir", "/proc/1/x"], "/proc/1/x"),
        "server, bad flag value": (["server", "--body-limit", "abc", *data], "invalid int value"),
        "server, broken config": (["server", "--config", str(tmp_path / "bad.toml"), *data], "bad.toml"),
        "worker, database down": (["worker", "--db", down, *data], "cannot reach the database"),
        "unknown command": (["launch", *data], "invalid choice"),
        "user without action": (["user"], "required"),
        "tui, not a URL": (["tui", "--server", "localhost:8080"], "http://"),
        "run, missing file": (["run", str(fresh / "flow.yaml")], "cannot read"),
        "credentials, no master key": (["credentials", "rotate-key", *data], "no master key"),
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(cases, pool.map(lambda case: run(*case[0]), cases.values()), strict=True))
    problems = []
    for name, result in results.items():
        lines = result.stderr.splitlines()
        if result.returncode == 0 or len(lines) != 1 or not lines[0].startswith("workflowdev"):
            problems.append(f"{name}: exit {result.returncode}, stderr {result.stderr[:300]!r}")
        elif cases[name][1] not in lines[0]:
            problems.append(f"{name}: {lines[0]!r} does not say {cases[name][1]!r}")
        elif "hunter22" in result.stderr:
            problems.append(f"{name}: the database password is shown")
    assert problems == []
    assert not fresh.exists()
    fixable, failed_around = ("server, bad flag value", "user list, unknown scheme"), ("server, database down", "server, data dir unwritable")
    assert {results[n].returncode for n in fixable} == {2} and {results[n].returncode for n in failed_around} == {1}


def test_the_first_user_is_made_before_the_server_ever_ran(tmp_path: Path) -> None:
    data = tmp_path / "not" / "yet"
    made = subprocess.run(
        [*EXE, "user", "create", "ops", "--role", "admin", "--password-stdin", "--data-dir", str(data)],
        input="a long enough password\n", capture_output=True, text=True, timeout=60,
    )
    assert (made.returncode, made.stderr) == (0, "")
    assert "ops\tadmin" in run("user", "list", "--data-dir", str(data)).stdout


words = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_arguments_never_end_in_a_traceback(tmp_path: Path, data: st.DataObject) -> None:
    base = ["--data-dir", str(tmp_path / "data")]
    argv = data.draw(
        st.one_of(
            st.builds(lambda a, u: ["user", a, u, *base], st.sampled_from(["create", "delete", "list", "set-role"]), words),
            st.builds(lambda u, r: ["user", "set-role", u, r, *base], words, words),
            st.builds(lambda p: ["validate", str(tmp_path / p) if p else p], words),
            st.builds(lambda p, i: ["run", str(tmp_path / p), "-i", i], words, words),
            st.lists(words, max_size=4),
        )
    )
    if argv[:2] == ["user", "create"]:
        argv.append("--password-stdin")
    if not argv or argv[0] in ("server", "worker", "up", "tui"):
        return  # these serve until stopped; their failures are the cases above
    err = io.StringIO()
    stdin = io.StringIO(data.draw(words) + "\n")
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), patch.object(sys, "stdin", stdin):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse: usage errors and --help
            status = exc.code if isinstance(exc.code, int) else 2
    assert "Traceback" not in err.getvalue()
    if status != 0 and argv[0] != "validate":  # validate reports per file, compiler style
        assert len(err.getvalue().splitlines()) == 1, (argv, err.getvalue())
