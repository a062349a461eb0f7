"""script: run a shell script, Python code or a command, with live logs and structured outputs.

Each task runs one subprocess in a process group of its own (see `_process`): a timeout or a
cancelled execution stops the script *and everything it started*. Output lines become log
lines as they are printed (stdout at info, stderr at warning) and are also returned, the last
`CAPTURE_BYTES` of each stream.

Structured outputs travel on two channels: a stdout line `::output::{"key": ...}` merges that
JSON object into `outputs` (the line is not logged or returned as text), and the file named by
the environment variable `WORKFLOWDEV_OUTPUT`, if the script writes a JSON object there, is merged
last. Malformed output is reported as a warning, never a crash: the script's own exit status
decides whether the task failed.

The environment is deliberately small. A server's environment holds its own secrets (the master
key, database URLs), so a script starts from PATH, HOME, the locale and TZ only, plus TMPDIR (a
private directory removed afterwards), `WORKFLOWDEV_*` names of the run, and the task's `env`.
Templated values should reach scripts through `env` or `args`, where no quoting can go wrong.

Operators who must not run arbitrary code set `scripts_enabled = false`; every script task then
fails at once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import ClassVar
from typing import Final

from workflowdev.engine.plugin import DURATION_SCHEMA
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.engine.plugin import parse_duration
from workflowdev.plugins._capture import CAPTURE_BYTES
from workflowdev.plugins._capture import CAPTURED_FIELDS
from workflowdev.plugins._capture import Capture
from workflowdev.plugins._capture import captured_outputs
from workflowdev.plugins._capture import captured_properties
from workflowdev.plugins._paths import Confined
from workflowdev.plugins._process import run_in_own_group
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import task_example

__all__ = ["CAPTURE_BYTES", "OUTPUT_PREFIX", "PLUGINS", "Command", "Python", "Shell"]

MAX_OUTPUT_FILE_BYTES: Final = 10 * 1024 * 1024
OUTPUT_PREFIX: Final = "::output::"
OUTPUT_FILE_VARIABLE: Final = "WORKFLOWDEV_OUTPUT"
DISABLED_MESSAGE: Final = "script tasks are disabled on this server (scripts_enabled=false)"
_PASSED_THROUGH: Final = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
_FAILURE_DETAIL_CHARS: Final = 500

_SCALAR = {"type": ["string", "number", "boolean"]}
ENV_SCHEMA: Final[dict[str, JSON]] = {
    "type": "object",
    "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
    "additionalProperties": _SCALAR,
    "description": (
        "Environment variables for the script, on top of a minimal environment (PATH, HOME, "
        "locale, TZ, TMPDIR); the server's own environment is not passed on. The safe way to "
        "hand templated values to a script."
    ),
}
ARGS_SCHEMA: Final[dict[str, JSON]] = {
    "type": "array",
    "items": _SCALAR,
    "default": [],
    "description": "Arguments passed to the script ($1, $2… / sys.argv[1:]); never parsed by a shell.",
}
COMMON_PROPERTIES: Final[dict[str, JSON]] = {
    "env": ENV_SCHEMA,
    "timeout": {
        **DURATION_SCHEMA,
        "description": (
            "Stop the script (and every process it started) after this long and fail the task: "
            "30s, 10m, PT1H or a number of seconds. Unset: no limit of its own."
        ),
    },
    "workdir": {
        "type": "string",
        "minLength": 1,
        "default": ".",
        "description": (
            "Directory to run in, relative to the execution's working directory (created if "
            "missing; it may not lead outside)."
        ),
    },
    "fail_on_error": flag_schema(
        True, "Fail the task when the exit code is not 0. False: succeed and report exit_code."
    ),
}
OUTPUT_SCHEMA: Final[dict[str, JSON]] = object_schema(
    {
        "exit_code": {
            "type": "integer",
            "description": "The exit code; negative when a signal ended the process (-9: SIGKILL).",
        },
        **captured_properties("Standard output (its last 1 MiB), without ::output:: lines."),
        "outputs": {
            "type": "object",
            "description": (
                "Structured outputs: objects printed as `::output::{json}` lines, then the JSON "
                "object written to the file named by $WORKFLOWDEV_OUTPUT, merged in that order."
            ),
        },
    },
    ["exit_code", *CAPTURED_FIELDS, "outputs"],
)


def _input_schema(own: dict[str, JSON], required: list[str]) -> dict[str, JSON]:
    return object_schema({**own, **COMMON_PROPERTIES}, required)


@dataclass
class _Collector:
    """Turns the script's lines into log lines, captured text and structured outputs."""

    ctx: TaskContext
    stdout: Capture = field(default_factory=Capture)
    stderr: Capture = field(default_factory=Capture)
    outputs: dict[str, JSON] = field(default_factory=dict)
    last_error_line: str = ""

    def on_stdout(self, raw: bytes) -> None:
        line = _decode(raw)
        if line.startswith(OUTPUT_PREFIX):
            self.merge(line[len(OUTPUT_PREFIX) :], "an ::output:: line")
            return
        self.stdout.add(raw)
        if line.strip():
            self.ctx.log.info(line)

    def on_stderr(self, raw: bytes) -> None:
        self.stderr.add(raw)
        line = _decode(raw)
        if line.strip():
            self.ctx.log.warning(line)
            self.last_error_line = line.strip()

    def merge(self, text: str, source: str) -> None:
        try:
            value = json.loads(text)
        except ValueError as exc:
            self.ctx.log.warning(f"ignored {source}: not valid JSON ({exc})")
            return
        if not isinstance(value, dict):
            self.ctx.log.warning(f"ignored {source}: expected a JSON object, got {type(value).__name__}")
            return
        self.outputs.update(value)
        self.ctx.log.debug(f"outputs from {source}: {', '.join(sorted(value)) or '(none)'}")

    def read_output_file(self, path: Path) -> None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        if size > MAX_OUTPUT_FILE_BYTES:
            self.ctx.log.warning(f"ignored ${OUTPUT_FILE_VARIABLE}: {size} bytes, more than {MAX_OUTPUT_FILE_BYTES}")
            return
        text = path.read_text(encoding="utf-8", errors="replace")
        if text.strip():
            self.merge(text, f"${OUTPUT_FILE_VARIABLE}")


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


def _environment(ctx: TaskContext, private_tmp: Path, extra: Mapping[str, JSON]) -> dict[str, str]:
    """The script's whole environment: a minimal base, names of the run, then the task's `env`."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    env.setdefault("PATH", os.defpath)
    if "LANG" not in env and "LC_ALL" not in env:
        env["LANG"] = "C.UTF-8"
    env["TMPDIR"] = str(private_tmp)
    env.update(
        WORKFLOWDEV_EXECUTION_ID=ctx.execution_id,
        WORKFLOWDEV_FLOW=ctx.flow_name,
        WORKFLOWDEV_NAMESPACE=ctx.namespace,
        WORKFLOWDEV_TASK=ctx.task_name,
        WORKFLOWDEV_ATTEMPT=str(ctx.attempt),
    )
    env.update({name: as_text(value) for name, value in extra.items()})
    env[OUTPUT_FILE_VARIABLE] = str(private_tmp / "outputs.json")
    return env


def _working_directory(ctx: TaskContext, raw: str) -> Path:
    root = Confined(Path(os.path.realpath(ctx.workdir)), "the execution's working directory")
    path = root.resolve(raw, what="workdir")
    if path.exists() and not path.is_dir():
        raise TaskFailed(f"workdir {raw!r} is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _timeout(raw: JSON) -> float | None:
    if raw is None:
        return None
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise TaskFailed(f"timeout: {exc}") from None


def _failure(exit_code: int, last_error_line: str) -> str:
    if exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"signal {-exit_code}"
        message = f"script was killed by {name}"
    else:
        message = f"script exited with code {exit_code}"
    if last_error_line:
        message += f": {last_error_line[:_FAILURE_DETAIL_CHARS]}"
    return message


ArgvBuilder = Callable[[Mapping[str, JSON], Path, Path, Mapping[str, str]], list[str]]
"""(properties, working directory, private temp directory, environment) -> argv."""


async def _run_script(ctx: TaskContext, properties: Mapping[str, JSON], build_argv: ArgvBuilder) -> dict[str, JSON]:
    """What the three task types share: the run, its environment, logs and outputs."""
    if not ctx.settings.scripts_enabled:
        raise TaskFailed(DISABLED_MESSAGE)
    timeout = _timeout(properties.get("timeout"))
    cwd = _working_directory(ctx, properties.get("workdir", "."))
    private_tmp = Path(tempfile.mkdtemp(prefix="workflowdev-task-"))
    collector = _Collector(ctx)
    try:
        env = _environment(ctx, private_tmp, properties.get("env", {}))
        argv = build_argv(properties, cwd, private_tmp, env)
        try:
            exit_code = await run_in_own_group(
                argv,
                cwd=cwd,
                env=env,
                timeout=timeout,
                on_stdout=collector.on_stdout,
                on_stderr=collector.on_stderr,
                warn=ctx.log.warning,
            )
        except TimeoutError:
            raise TaskFailed(
                f"timed out after {timeout:g}s; the script and the processes it started were stopped"
            ) from None
        except OSError as exc:
            raise TaskFailed(f"could not start {argv[0]!r}: {exc.strerror or exc}") from None
        if exit_code != 0 and properties.get("fail_on_error", True):
            raise TaskFailed(_failure(exit_code, collector.last_error_line))
        collector.read_output_file(Path(env[OUTPUT_FILE_VARIABLE]))
    finally:
        shutil.rmtree(private_tmp, ignore_errors=True)
    return {
        "exit_code": exit_code,
        **captured_outputs(collector.stdout, collector.stderr, ctx.log.warning),
        "outputs": collector.outputs,
    }


def _program(name: str, cwd: Path, env: Mapping[str, str], what: str) -> str:
    """A program as a shell would find it: on PATH, or a path (relative to the working directory)."""
    if "/" in name:
        path = cwd / name
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise TaskFailed(f"{what} {name!r} is not an executable file")
        return str(path)
    found = shutil.which(name, path=env["PATH"])
    if found is None:
        raise TaskFailed(f"{what} {name!r} was not found on PATH ({env['PATH']})")
    return found


def _write_script(private_tmp: Path, name: str, text: str) -> Path:
    """Scripts go to a file rather than `-c`: no argument-length limit, and tracebacks show lines."""
    path = private_tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def _args(properties: Mapping[str, JSON]) -> list[str]:
    return [as_text(arg) for arg in properties.get("args", [])]


class Shell(Plugin):
    """A shell script; `sh` unless `shell` names another (bash, zsh, a path)."""

    manifest: ClassVar[Manifest] = Manifest(
        id="script.shell",
        name="Run a shell script",
        category="script",
        description=(
            "Runs `script` with a shell (`sh` by default) in the execution's working directory. "
            "Output lines are logged as they come (stderr as warnings); the task fails when the "
            "exit code is not 0 (add `set -e` to stop at the first failing command). Print "
            '`::output::{"key": "value"}` or write a JSON object to $WORKFLOWDEV_OUTPUT to '
            "return structured outputs. On timeout or cancel the script and every process it "
            "started are stopped; processes left in the background end with the task. The script "
            "sees a minimal environment plus `env`, not the server's."
        ),
        input_schema=_input_schema(
            {
                "script": {"type": "string", "minLength": 1, "description": "The script's text."},
                "args": ARGS_SCHEMA,
                "shell": {
                    "type": "string",
                    "minLength": 1,
                    "default": "sh",
                    "description": "The shell: a name looked up on PATH (sh, bash, zsh) or a path.",
                },
            },
            ["script"],
        ),
        output_schema=OUTPUT_SCHEMA,
        examples=(
            task_example(
                "greet",
                "script.shell",
                """
                script: |
                  set -e
                  echo "Hello, $NAME"
                  echo '::output::{"greeted": true}'
                env:
                  NAME: world
                timeout: 30s
                """,
            ),
            task_example(
                "count_files",
                "script.shell",
                """
                script: |
                  count=$(ls -A | wc -l)
                  printf '{"count": %d}' "$count" > "$WORKFLOWDEV_OUTPUT"
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _run_script(ctx, properties, self.argv)

    @staticmethod
    def argv(properties: Mapping[str, JSON], cwd: Path, private_tmp: Path, env: Mapping[str, str]) -> list[str]:
        shell = _program(properties.get("shell", "sh"), cwd, env, "shell")
        return [shell, str(_write_script(private_tmp, "script.sh", properties["script"])), *_args(properties)]


class Python(Plugin):
    """Python code run by the server's own interpreter, so its installed packages are there."""

    manifest: ClassVar[Manifest] = Manifest(
        id="script.python",
        name="Run Python code",
        category="script",
        description=(
            "Runs `script` as a Python program with the server's interpreter (its packages are "
            "available), unbuffered so prints are logged as they happen. `args` become "
            "sys.argv[1:]. Outputs, failures, timeouts and the environment work as for "
            "script.shell; the working directory is the current directory (add PYTHONPATH: . to "
            "`env` to import modules from it)."
        ),
        input_schema=_input_schema(
            {
                "script": {"type": "string", "minLength": 1, "description": "The Python code."},
                "args": ARGS_SCHEMA,
            },
            ["script"],
        ),
        output_schema=OUTPUT_SCHEMA,
        examples=(
            task_example(
                "summarize",
                "script.python",
                """
                script: |
                  import json, os, sys
                  numbers = [int(arg) for arg in sys.argv[1:]]
                  print(f"summing {len(numbers)} numbers")
                  with open(os.environ['WORKFLOWDEV_OUTPUT'], 'w') as out:
                      json.dump({'total': sum(numbers)}, out)
                args: [3, 4, 5]
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _run_script(ctx, properties, self.argv)

    @staticmethod
    def argv(properties: Mapping[str, JSON], cwd: Path, private_tmp: Path, env: Mapping[str, str]) -> list[str]:
        # Not -I: the environment is already minimal, and PYTHONPATH or PYTHONWARNINGS in `env`
        # are the author's deliberate choice.
        script = _write_script(private_tmp, "script.py", properties["script"])
        return [sys.executable, "-u", str(script), *_args(properties)]


class Command(Plugin):
    """A program and its arguments, exactly as given: no shell, so nothing needs quoting."""

    manifest: ClassVar[Manifest] = Manifest(
        id="script.command",
        name="Run a command",
        category="script",
        description=(
            "Runs `command`, a list of the program and its arguments, without a shell: no "
            "globbing, pipes or quoting rules, so templated values are passed exactly. The "
            "program is looked up on PATH. Outputs, failures, timeouts and the environment work "
            "as for script.shell."
        ),
        input_schema=_input_schema(
            {
                "command": {
                    "type": "array",
                    "items": _SCALAR,
                    "minItems": 1,
                    "description": 'The program, then its arguments: ["git", "clone", "{{ inputs.repo }}"].',
                },
            },
            ["command"],
        ),
        output_schema=OUTPUT_SCHEMA,
        examples=(
            task_example(
                "hello",
                "script.command",
                """
                      command: [echo, hello, world]
                      """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _run_script(ctx, properties, self.argv)

    @staticmethod
    def argv(properties: Mapping[str, JSON], cwd: Path, private_tmp: Path, env: Mapping[str, str]) -> list[str]:
        program, *args = (as_text(part) for part in properties["command"])
        return [_program(program, cwd, env, "command"), *args]


PLUGINS: Final[list[type[Plugin]]] = [Shell, Python, Command]
