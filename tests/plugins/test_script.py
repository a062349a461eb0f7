"""script.*: real subprocesses — live logs, structured outputs, failures, timeouts and cancels
that leave no process behind, the minimal environment, and the off switch."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Api
from tests.engine.flows_helpers import detail
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import tasks_by_name
from tests.engine.flows_helpers import wait_status
from tests.plugins.test_util import FakeContext
from tests.support_plugins import registry_with_test_plugins
from workflowdev.config import Settings
from workflowdev.engine.plugin import PluginSettings
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins._process import KILL_GRACE_SECONDS
from workflowdev.plugins._process import MAX_LINE_BYTES
from workflowdev.plugins.script import CAPTURE_BYTES
from workflowdev.plugins.script import Command
from workflowdev.plugins.script import Python
from workflowdev.plugins.script import Shell
from workflowdev.runtime import Runtime

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from /proc")


@pytest.fixture
def ctx(tmp_path: Path) -> FakeContext:
    workdir = tmp_path / "work"
    workdir.mkdir()
    return FakeContext(workdir=workdir)


def live_members(pgid: int) -> list[int]:
    """Processes of group `pgid` that have not exited; zombies count as gone (PID 1 may not reap)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        state, _, group = text[text.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


async def until(predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    async def check() -> Any:
        return predicate()

    return await eventually(check, timeout=timeout, what=what)


def read_int(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


# A script that records its process group and a child's pid, then waits on the child forever.
# The child ignores SIGTERM (dispositions set to ignore survive exec), so only SIGKILL ends it.
STUBBORN = """
echo $$ > pgid.tmp && mv pgid.tmp pgid
(trap '' TERM; exec sleep 1000) &
echo $! > child.tmp && mv child.tmp child
echo started
wait
"""


async def test_lines_are_logged_while_the_script_still_runs(ctx: FakeContext) -> None:
    script = "echo ready\necho 'careful' >&2\nwhile [ ! -e go ]; do sleep 0.01; done\necho done\n"
    task = asyncio.create_task(Shell().run(ctx, {"script": script}))

    await until(lambda: ("info", "ready") in ctx.log.lines, "the first line to be logged")
    await until(lambda: ("warning", "careful") in ctx.log.lines, "the stderr line to be logged")
    assert not task.done()
    (ctx.workdir / "go").touch()
    result = await asyncio.wait_for(task, timeout=10)

    assert result["exit_code"] == 0
    assert result["stdout"] == "ready\ndone\n"
    assert result["stderr"] == "careful\n"
    assert ("info", "done") in ctx.log.lines


async def test_structured_outputs_from_lines_and_from_the_output_file(ctx: FakeContext) -> None:
    script = """
echo '::output::{"count": 2, "name": "first"}'
echo '::output::not json'
echo '::output::[1, 2]'
echo 'plain text'
echo '::output::{"name": "second"}'
printf '{"name": "from file", "ok": true}' > "$WORKFLOWDEV_OUTPUT"
"""
    result = await Shell().run(ctx, {"script": script})

    assert result["outputs"] == {"count": 2, "name": "from file", "ok": True}
    assert result["stdout"] == "plain text\n"
    warnings = [message for level, message in ctx.log.lines if level == "warning"]
    assert any("not valid JSON" in message for message in warnings)
    assert any("expected a JSON object, got list" in message for message in warnings)
    assert not any("::output::" in message for level, message in ctx.log.lines if level == "info")


async def test_an_invalid_output_file_is_a_warning_not_a_failure(ctx: FakeContext) -> None:
    result = await Shell().run(ctx, {"script": 'echo "{broken" > "$WORKFLOWDEV_OUTPUT"'})

    assert result["exit_code"] == 0 and result["outputs"] == {}
    assert any(level == "warning" and "WORKFLOWDEV_OUTPUT" in message for level, message in ctx.log.lines)


async def test_a_non_zero_exit_fails_with_the_code_and_the_last_error_line(ctx: FakeContext) -> None:
    script = "echo 'loading' >&2\necho 'config.yml: no such file' >&2\nexit 3\n"

    with pytest.raises(TaskFailed) as failure:
        await Shell().run(ctx, {"script": script})

    assert str(failure.value) == "script exited with code 3: config.yml: no such file"


async def test_fail_on_error_false_reports_the_exit_code_and_outputs(ctx: FakeContext) -> None:
    script = "echo '::output::{\"checked\": 12}'\nexit 3\n"

    result = await Shell().run(ctx, {"script": script, "fail_on_error": False})

    assert result["exit_code"] == 3
    assert result["outputs"] == {"checked": 12}


async def test_a_timeout_stops_the_whole_process_group(ctx: FakeContext) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()

    with pytest.raises(TaskFailed, match=r"^timed out after 1\.5s"):
        await Shell().run(ctx, {"script": STUBBORN, "timeout": "1500ms"})

    pgid = read_int(ctx.workdir / "pgid")
    child = read_int(ctx.workdir / "child")
    assert pgid is not None and child is not None, "the script did not get to start its child in time"
    assert loop.time() - started < 1.5 + KILL_GRACE_SECONDS + 5
    await until(lambda: not live_members(pgid), "the process group to be gone", timeout=5)
    assert ("info", "started") in ctx.log.lines


async def test_cancelling_the_task_kills_the_group_then_cancels(ctx: FakeContext) -> None:
    task = asyncio.create_task(Shell().run(ctx, {"script": "echo $$ > pgid.tmp && mv pgid.tmp pgid\nsleep 1000 &\nwait\n"}))
    pgid = await until(lambda: read_int(ctx.workdir / "pgid"), "the script to start")
    await until(lambda: len(live_members(pgid)) == 2, "the shell and its child to run")

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=KILL_GRACE_SECONDS + 5)
    await until(lambda: not live_members(pgid), "the process group to be gone", timeout=5)


def processes_running(token: str) -> list[int]:
    """Live processes whose command line contains `token`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and token in (entry / "cmdline").read_bytes().decode(errors="replace"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state not in ("Z", "X"):
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("loop_turns", range(0, 16, 3))
async def test_a_cancel_at_any_moment_leaves_no_process(ctx: FakeContext, loop_turns: int) -> None:
    """Cancelled while the process starts, runs or is being stopped: nothing may survive."""
    token = f"{os.getpid()}{loop_turns:03d}"
    task = asyncio.create_task(Shell().run(ctx, {"script": f"sleep {token} &\nexec sleep {token}1\n"}))
    for _ in range(loop_turns):
        await asyncio.sleep(0)

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=KILL_GRACE_SECONDS + 5)
    await until(lambda: not processes_running(token), "every process of the script to be gone", timeout=5)


async def test_processes_left_in_the_background_end_with_the_task(ctx: FakeContext) -> None:
    """The leftover child keeps stdout open; the task must neither wait for it nor leak it."""
    loop = asyncio.get_running_loop()
    started = loop.time()

    result = await Shell().run(ctx, {"script": "echo $$ > pgid\nsleep 1000 &\necho left behind\n"})

    assert result["stdout"] == "left behind\n"
    assert loop.time() - started < KILL_GRACE_SECONDS + 5
    pgid = read_int(ctx.workdir / "pgid")
    assert pgid is not None
    await until(lambda: not live_members(pgid), "the background child to be stopped", timeout=5)


async def test_scripts_disabled_fail_at_once_without_running(ctx: FakeContext) -> None:
    ctx.settings = PluginSettings(scripts_enabled=False)

    for plugin, properties in [
        (Shell(), {"script": "touch ran"}),
        (Python(), {"script": "open('ran', 'w')"}),
        (Command(), {"command": ["touch", "ran"]}),
    ]:
        with pytest.raises(TaskFailed) as failure:
            await plugin.run(ctx, properties)
        assert str(failure.value) == "script tasks are disabled on this server (scripts_enabled=false)"
    assert not (ctx.workdir / "ran").exists()


async def test_the_servers_environment_stays_out_of_scripts(ctx: FakeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKFLOWDEV_MASTER_KEY", "dummy-master-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "dummy-aws-secret")

    result = await Shell().run(
        ctx,
        {"script": "env", "env": {"GREETING": "hello", "RETRIES": 3, "DRY_RUN": False}},
    )

    env = dict(line.split("=", 1) for line in result["stdout"].splitlines())
    assert "WORKFLOWDEV_MASTER_KEY" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert "dummy" not in result["stdout"]
    assert env["GREETING"] == "hello" and env["RETRIES"] == "3" and env["DRY_RUN"] == "false"
    assert env["PATH"] == os.environ["PATH"]
    assert env["WORKFLOWDEV_TASK"] == ctx.task_name
    assert env["WORKFLOWDEV_EXECUTION_ID"] == ctx.execution_id
    assert Path(env["TMPDIR"]).name.startswith("workflowdev-task-")
    assert not Path(env["TMPDIR"]).exists(), "the private temporary directory is removed afterwards"


async def test_python_sees_args_and_the_same_minimal_environment(
    ctx: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKFLOWDEV_MASTER_KEY", "dummy-master-key")
    code = """
import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "key": os.environ.get("WORKFLOWDEV_MASTER_KEY"), "mode": os.environ["MODE"]}))
print("to stderr", file=sys.stderr)
"""
    result = await Python().run(ctx, {"script": code, "args": ["a b", 7, True], "env": {"MODE": "fast"}})

    assert json.loads(result["stdout"]) == {"argv": ["a b", "7", "true"], "key": None, "mode": "fast"}
    assert ("warning", "to stderr") in ctx.log.lines


async def test_python_runs_on_the_servers_interpreter_and_reports_tracebacks(ctx: FakeContext) -> None:
    result = await Python().run(ctx, {"script": "import sys\nprint(sys.executable)\n"})
    assert result["stdout"].strip() == sys.executable

    with pytest.raises(TaskFailed) as failure:
        await Python().run(ctx, {"script": "x = 1\nraise ValueError('bad input')\n"})
    assert str(failure.value) == "script exited with code 1: ValueError: bad input"
    assert any("line 2" in message for level, message in ctx.log.lines if level == "warning")


async def test_command_passes_arguments_without_a_shell(ctx: FakeContext) -> None:
    hostile = "$HOME; echo injected > pwned"

    result = await Command().run(ctx, {"command": ["printf", "%s|", hostile, "*"]})

    assert result["stdout"] == f"{hostile}|*|"
    assert not (ctx.workdir / "pwned").exists()


async def test_command_not_found_fails_clearly(ctx: FakeContext) -> None:
    with pytest.raises(TaskFailed, match="command 'no-such-program-here' was not found on PATH"):
        await Command().run(ctx, {"command": ["no-such-program-here"]})


async def test_scripts_run_in_the_workdir_or_a_confined_subdirectory(ctx: FakeContext) -> None:
    result = await Shell().run(ctx, {"script": "pwd -P"})
    assert result["stdout"].strip() == os.path.realpath(ctx.workdir)

    result = await Command().run(ctx, {"command": ["pwd", "-P"], "workdir": "build/out"})
    assert result["stdout"].strip() == os.path.realpath(ctx.workdir / "build" / "out")

    for outside in ("../elsewhere", "/tmp"):
        with pytest.raises(TaskFailed, match="workdir"):
            await Shell().run(ctx, {"script": "true", "workdir": outside})


async def test_a_named_shell_is_used(ctx: FakeContext) -> None:
    if not any(Path(d, "bash").exists() for d in os.environ["PATH"].split(os.pathsep)):
        pytest.skip("bash is not installed")
    result = await Shell().run(ctx, {"script": 'echo "${BASH_VERSION:+bash}"', "shell": "bash"})
    assert result["stdout"] == "bash\n"

    with pytest.raises(TaskFailed, match="shell 'no-such-shell' was not found"):
        await Shell().run(ctx, {"script": "true", "shell": "no-such-shell"})


async def test_long_output_is_cut_to_its_end_and_long_lines_into_pieces(ctx: FakeContext) -> None:
    line_length = MAX_LINE_BYTES + 10
    script = f"""
import sys
sys.stdout.write("x" * {line_length} + "\\n")
for i in range(40_000):
    sys.stdout.write(f"{{i:040d}}\\n")
sys.stdout.write("last line\\n")
"""
    result = await Python().run(ctx, {"script": script})

    assert result["stdout_truncated"] is True and result["stderr_truncated"] is False
    assert len(result["stdout"].encode()) == CAPTURE_BYTES
    assert result["stdout"].endswith(f"{39_999:040d}\nlast line\n")
    logged = [message for level, message in ctx.log.lines if level == "info"]
    assert logged[:2] == ["x" * MAX_LINE_BYTES, "x" * 10]
    assert logged[-1] == "last line" and len(logged) == 2 + 40_000 + 1
    assert any("longer than" in message for level, message in ctx.log.lines if level == "warning")


# Through the real server -------------------------------------------------------------------


async def task_running(api: Api, execution_id: str, name: str) -> None:
    """Wait until the server reports the task RUNNING, so a cancel finds the execution running."""

    async def check() -> bool:
        runs = tasks_by_name(await detail(api, execution_id)).get(name, [])
        return bool(runs) and runs[-1]["status"] == "RUNNING"

    await eventually(check, timeout=10, what=f"{name} to be running")

FLOW_WITH_OUTPUTS = """
name: build-and-report
tasks:
  - name: build
    type: script.shell
    properties:
      script: |
        echo "compiling $TARGET"
        echo "flag -O is deprecated" >&2
        echo '::output::{"artifact": "app.bin"}'
      env:
        TARGET: app
  - name: report
    type: util.echo
    properties:
      value: "{{ outputs.build.outputs.artifact }}"
"""


async def test_a_flow_shows_script_lines_in_its_logs_and_uses_its_outputs(api: Api) -> None:
    body = await run(api, FLOW_WITH_OUTPUTS)

    assert body["execution"]["status"] == "SUCCESS", body["tasks"]
    tasks = tasks_by_name(body)
    build = outputs(tasks["build"][0])
    assert build["exit_code"] == 0 and build["outputs"] == {"artifact": "app.bin"}
    assert build["stdout"] == "compiling app\n"
    assert outputs(tasks["report"][0]) == {"value": "app.bin"}
    logs = await api.get(f"/api/v1/executions/{body['execution']['id']}/logs")
    lines = {(line["level"], line["message"]) for line in logs.body if line["taskName"] == "build"}
    assert {("info", "compiling app"), ("warning", "flag -O is deprecated")} <= lines


async def test_cancelling_an_execution_kills_its_running_script(api: Api, settings: Settings) -> None:
    execution_id = await start(api, await save_flow(api, f"""
name: long-script
tasks:
  - name: stuck
    type: script.shell
    properties:
      script: |
{_indent(STUBBORN, 8)}
"""))
    workdir = settings.data_dir / "work" / execution_id
    pgid = await until(lambda: read_int(workdir / "pgid"), "the script to start")
    await until(lambda: read_int(workdir / "child"), "the script to start its child")
    await task_running(api, execution_id, "stuck")

    reply = await api.post(f"/api/v1/executions/{execution_id}/cancel")

    assert reply.status == 200, reply.body
    body = await wait_status(api, execution_id, timeout=KILL_GRACE_SECONDS + 8)
    assert body["execution"]["status"] == "CANCELLED"
    assert tasks_by_name(body)["stuck"][0]["status"] == "CANCELLED"
    await until(lambda: not live_members(pgid), "the script's process group to be gone", timeout=5)


async def test_a_task_timeout_from_the_flow_also_kills_the_group(api: Api, settings: Settings) -> None:
    body = await run(api, f"""
name: task-timeout
tasks:
  - name: stuck
    type: script.shell
    timeout: 1s
    properties:
      script: |
{_indent(STUBBORN, 8)}
""")

    assert body["execution"]["status"] == "FAILED"
    assert tasks_by_name(body)["stuck"][0]["status"] == "TIMED_OUT"
    pgid = read_int(settings.data_dir / "work" / body["execution"]["id"] / "pgid")
    assert pgid is not None
    await until(lambda: not live_members(pgid), "the script's process group to be gone", timeout=5)


async def test_a_server_with_scripts_disabled_fails_script_tasks(make_settings: Callable[..., Settings]) -> None:
    runtime = Runtime(make_settings(scripts_enabled=False), registry=registry_with_test_plugins())
    await runtime.start()
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(runtime.base_url, session, runtime)
            flow = "name: no-scripts\ntasks:\n  - {name: s, type: script.command, properties: {command: ['true']}}\n"
            body = await run(api, flow)
    finally:
        await runtime.stop()
    assert body["execution"]["status"] == "FAILED"
    failed = tasks_by_name(body)["s"][0]
    assert failed["status"] == "FAILED"
    assert failed["error"] == "script tasks are disabled on this server (scripts_enabled=false)"


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line if line else line for line in text.strip("\n").splitlines())

