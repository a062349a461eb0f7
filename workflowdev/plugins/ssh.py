"""ssh: run a command on another machine over SSH, with the server's host key checked.

Host key checking is on by default and has no silent fallback: a task names the key it
expects (`host_key`, one public key line, or `known_hosts` text), or says
`insecure_skip_host_key_check: true` in so many words. Nothing is read from the server's own
home directory — no ~/.ssh/config, known_hosts, default keys or ssh-agent — so what a flow does
depends on the flow and its credentials alone, not on the machine that happens to run it.

The command's output streams into the task log line by line as it arrives (stdout at info,
stderr at warning) and the last `CAPTURE_BYTES` of each stream are returned. The connection is
closed however the task ends: finished, timed out or cancelled. Needs asyncssh (the
`connectors` extra).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Final

from workflowdev.engine.plugin import DURATION_SCHEMA
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import TaskTimeout
from workflowdev.engine.plugin import as_text
from workflowdev.engine.plugin import parse_timeout
from workflowdev.plugins._capture import CAPTURE_BYTES
from workflowdev.plugins._capture import CAPTURED_FIELDS
from workflowdev.plugins._capture import Capture
from workflowdev.plugins._capture import captured_outputs
from workflowdev.plugins._capture import captured_properties
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import import_client
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import task_example

if TYPE_CHECKING:
    import asyncssh

__all__ = ["CAPTURE_BYTES", "PLUGINS", "Command"]

MAX_LINE_BYTES: Final = 64 * 1024
"""A longer line reaches the log in pieces of this size, so one endless line cannot exhaust memory."""
DEFAULT_TIMEOUT: Final = "1h"
DEFAULT_CONNECT_TIMEOUT: Final = "30s"
_READ_CHUNK: Final = 64 * 1024
_ENV_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FAILURE_DETAIL_CHARS: Final = 500


# -- reading properties ---------------------------------------------------------------------------


def _text(properties: Mapping[str, JSON], name: str) -> str | None:
    value = properties.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise TaskFailed(f"{name} must be non-empty text")
    return value


def _port(value: JSON) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise TaskFailed(f"port must be a port number from 1 to 65535, got {as_text(value)}")
    return value


def _env(value: JSON) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TaskFailed(f"env must be a mapping of names to values, got {as_text(value)}")
    for name in value:
        if not _ENV_NAME.match(str(name)):
            raise TaskFailed(f"env: {name!r} is not a valid environment variable name")
    return {str(name): as_text(item) for name, item in value.items()}


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    username: str

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


def _host_keys(properties: Mapping[str, JSON], target: _Target) -> Any:
    """asyncssh's `known_hosts` argument: the trusted key(s), or None when checking is off."""
    import asyncssh

    host_key, known_hosts = _text(properties, "host_key"), _text(properties, "known_hosts")
    skip = read_flag(properties, "insecure_skip_host_key_check", False)
    given = [name for name, value in (("host_key", host_key), ("known_hosts", known_hosts)) if value]
    if skip and given:
        raise TaskFailed(f"give {given[0]} or insecure_skip_host_key_check: true, not both")
    if len(given) > 1:
        raise TaskFailed("give host_key or known_hosts, not both")
    if skip:
        return None
    if host_key is not None:
        try:
            return ([asyncssh.import_public_key(host_key.strip())], [], [])
        except (asyncssh.KeyImportError, ValueError):
            raise TaskFailed(
                "host_key must be one public key line, like 'ssh-ed25519 AAAAC3Nz… comment' "
                f"(ssh-keyscan -p {target.port} {target.host} prints them, after the host name)"
            ) from None
    if known_hosts is not None:
        try:
            return asyncssh.import_known_hosts(known_hosts)
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise TaskFailed(f"known_hosts could not be read: {exc}") from None
    raise TaskFailed(
        "the server's host key cannot be checked: give host_key (its public key line) or "
        "known_hosts, or set insecure_skip_host_key_check: true to connect without checking"
    )


def _client_keys(properties: Mapping[str, JSON]) -> list[Any] | None:
    import asyncssh

    private_key = _text(properties, "private_key")
    if private_key is None:
        return None
    passphrase = _text(properties, "private_key_passphrase")
    try:
        return [asyncssh.import_private_key(private_key, passphrase)]
    except (asyncssh.KeyEncryptionError, asyncssh.KeyImportError, ValueError) as exc:
        if passphrase is not None and "decrypt" in str(exc).lower():
            raise TaskFailed("private_key could not be decrypted: is private_key_passphrase right?") from None
        # Never the key itself in the message, only what is wrong with it.
        raise TaskFailed(f"private_key could not be read ({exc}); give the PEM or OpenSSH private key text") from None


# -- the command's output -------------------------------------------------------------------------


async def _pump(stream: asyncssh.SSHReader[bytes], capture: Capture, log: Callable[[str], None]) -> None:
    """Read a stream to its end: every byte into `capture`, every line into the log."""
    pending = bytearray()

    def emit(line: bytes) -> None:
        text = line.decode("utf-8", errors="replace").rstrip("\r\n")
        if text.strip():
            log(text)

    while chunk := await stream.read(_READ_CHUNK):
        capture.add(chunk)
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) != -1:
            emit(bytes(pending[start : end + 1]))
            start = end + 1
        del pending[:start]
        while len(pending) >= MAX_LINE_BYTES:
            emit(bytes(pending[:MAX_LINE_BYTES]))
            del pending[:MAX_LINE_BYTES]
    if pending:
        emit(bytes(pending))


async def _execute(
    conn: asyncssh.SSHClientConnection,
    command: str,
    *,
    env: dict[str, str],
    stdin: str | None,
    timeout: TaskTimeout,
    ctx: TaskContext,
    stdout: Capture,
    stderr: Capture,
) -> tuple[int | None, str | None]:
    """Run `command` to its end; (exit status, signal name). TimeoutError after `timeout`."""
    process = await conn.create_process(command, env=env, encoding=None)
    pumps = [
        asyncio.create_task(_pump(process.stdout, stdout, ctx.log.info)),
        asyncio.create_task(_pump(process.stderr, stderr, ctx.log.warning)),
    ]
    try:
        if stdin is not None:
            process.stdin.write(stdin.encode())
        process.stdin.write_eof()
        async with asyncio.timeout(timeout.seconds):
            await asyncio.gather(*pumps)
            await process.wait_closed()
    finally:
        for pump in pumps:
            pump.cancel()
        if process.exit_status is None and process.exit_signal is None:
            process.close()  # the command is still running: end its session channel
    signal = process.exit_signal[0] if process.exit_signal else None
    return process.exit_status, signal


# -- ssh.command ----------------------------------------------------------------------------------

_TEXT: Final[dict[str, JSON]] = {"type": "string", "minLength": 1}


class Command(Plugin):
    """Run one command on a remote host over SSH."""

    manifest: ClassVar[Manifest] = Manifest(
        id="ssh.command",
        name="Run a command over SSH",
        category="ssh",
        description=(
            "Connects to an SSH server, checks its host key, logs in with a password or a private "
            "key, runs `command` (through the remote user's shell) and returns its exit code, "
            "stdout and stderr; output lines reach the task log as they arrive. A non-zero exit "
            "fails the task unless `fail_on_error` is false. The host key must be given "
            "(`host_key` or `known_hosts`) unless `insecure_skip_host_key_check` is true; a "
            "different key fails with 'host key mismatch'. `env` is sent as SSH environment "
            "requests, which servers only honour for names they accept (OpenSSH: AcceptEnv). "
            "Nothing is read from the server's ~/.ssh. Needs the `connectors` extra."
        ),
        input_schema=object_schema(
            {
                "host": {**_TEXT, "description": "The host name or address to connect to."},
                "port": {
                    "anyOf": [
                        {"type": "integer", "minimum": 1, "maximum": 65535},
                        {"type": "string", "pattern": "^[0-9]+$"},
                    ],
                    "default": 22,
                    "description": "The SSH port.",
                },
                "username": {**_TEXT, "description": "The user to log in as."},
                "password": {**_TEXT, "description": "The password, from a credential: `${SSH_PASSWORD}`."},
                "private_key": {
                    **_TEXT,
                    "description": (
                        "A private key (OpenSSH or PEM text), from a credential: `${DEPLOY_KEY}`. "
                        "Tried before the password when both are given."
                    ),
                },
                "private_key_passphrase": {**_TEXT, "description": "The passphrase of an encrypted private_key."},
                "host_key": {
                    **_TEXT,
                    "description": (
                        "The server's public host key line, e.g. 'ssh-ed25519 AAAAC3Nz…' "
                        "(as `ssh-keyscan` prints it, without the host name)."
                    ),
                },
                "known_hosts": {
                    **_TEXT,
                    "description": (
                        "known_hosts text (OpenSSH format: host patterns, [host]:port, "
                        "@cert-authority and @revoked lines) to check the server's key against."
                    ),
                },
                "insecure_skip_host_key_check": flag_schema(
                    False,
                    "Accept any host key. Anyone between the server and the host can then "
                    "read the password and the session: only for throwaway test machines.",
                ),
                "command": {**_TEXT, "description": "The command line, run by the remote user's shell."},
                "input": {"type": "string", "description": "Text sent to the command's standard input."},
                "env": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                    "description": "Environment variables to request for the command (the server decides which it accepts).",
                },
                "timeout": {
                    **DURATION_SCHEMA,
                    "default": DEFAULT_TIMEOUT,
                    "description": "How long the command may run once started: 30s, 10m, PT1H or seconds.",
                },
                "connect_timeout": {
                    **DURATION_SCHEMA,
                    "default": DEFAULT_CONNECT_TIMEOUT,
                    "description": "How long connecting, the key exchange and logging in may take.",
                },
                "fail_on_error": flag_schema(
                    True, "Fail the task when the command exits non-zero or is killed by a signal."
                ),
            },
            ["host", "username", "command"],
        ),
        output_schema=object_schema(
            {
                "exit_code": {
                    "type": "integer",
                    "description": "The command's exit status; -1 when it was killed by a signal or gave none.",
                },
                **captured_properties("Standard output (its last 1 MiB)."),
            },
            ["exit_code", *CAPTURED_FIELDS],
        ),
        examples=(
            task_example(
                "disk_space",
                "ssh.command",
                """
                host: ${SSH_HOST}
                port: ${SSH_PORT}
                username: deploy
                password: ${SSH_PASSWORD}
                host_key: ${SSH_HOST_KEY}
                command: df -h /
                timeout: 1m
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        asyncssh = import_client("asyncssh")
        host, username = _text(properties, "host"), _text(properties, "username")
        if host is None or username is None:
            raise TaskFailed("give host and username")
        target = _Target(host, _port(properties.get("port", 22)), username)
        command = _text(properties, "command")
        if command is None:
            raise TaskFailed("command must not be empty")
        password = _text(properties, "password")
        client_keys = _client_keys(properties)
        if password is None and client_keys is None:
            raise TaskFailed("give password or private_key to log in with")
        known_hosts = _host_keys(properties, target)
        stdin = properties.get("input")
        if stdin is not None and not isinstance(stdin, str):
            raise TaskFailed(f"input must be text, got {as_text(stdin)}")
        env = _env(properties.get("env"))
        timeout = parse_timeout(properties.get("timeout", DEFAULT_TIMEOUT), "timeout")
        connect_timeout = parse_timeout(properties.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT), "connect_timeout")
        fail_on_error = read_flag(properties, "fail_on_error", True)

        conn = await _connect(target, password, client_keys, known_hosts, connect_timeout)
        stdout, stderr = Capture(), Capture()
        try:
            async with conn:
                ctx.log.debug(f"connected to {target.label} as {target.username}")
                exit_status, signal = await _execute(
                    conn, command, env=env, stdin=stdin, timeout=timeout, ctx=ctx, stdout=stdout, stderr=stderr
                )
        except TimeoutError:
            raise TaskFailed(f"the command on {target.label} timed out after {timeout.text}") from None
        except asyncssh.ChannelOpenError as exc:
            raise TaskFailed(f"{target.label} refused to run the command: {exc.reason}") from None
        except (asyncssh.Error, OSError) as exc:
            raise TaskFailed(f"the connection to {target.label} broke while the command ran: {_reason(exc)}") from None

        captured = captured_outputs(stdout, stderr, ctx.log.warning)
        exit_code = exit_status if exit_status is not None else -1
        if fail_on_error and exit_code != 0:
            ending = f"was killed by signal {signal}" if signal else f"exited with status {exit_code}"
            detail = (stderr.text().strip() or stdout.text().strip())[-_FAILURE_DETAIL_CHARS:]
            raise TaskFailed(f"the command on {target.label} {ending}" + (f": {detail}" if detail else ""))
        return {"exit_code": exit_code, **captured}


def _reason(exc: BaseException) -> str:
    """asyncssh's reason, or the operating system's words for a failed socket call."""
    if isinstance(exc, OSError) and exc.errno is not None and exc.errno > 0:
        return os.strerror(exc.errno)
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None)
    return str(reason) if reason else type(exc).__name__


async def _connect(
    target: _Target,
    password: str | None,
    client_keys: list[Any] | None,
    known_hosts: Any,
    connect_timeout: TaskTimeout,
) -> asyncssh.SSHClientConnection:
    """Connect and log in, or fail the task saying which step went wrong."""
    import asyncssh

    try:
        async with asyncio.timeout(connect_timeout.seconds):
            return await asyncssh.connect(
                target.host,
                target.port,
                username=target.username,
                password=password,
                client_keys=client_keys,
                known_hosts=known_hosts,
                # Nothing from the server's own ~/.ssh, agent or Kerberos: the flow says it all.
                config=None,
                agent_path=None,
                gss_host=None,
                x509_trusted_certs=None,
                host_based_auth=False,
                public_key_auth=client_keys is not None,
                password_auth=password is not None,
                kbdint_auth=password is not None,
            )
    except TimeoutError:
        raise TaskFailed(
            f"{target.label} did not complete the SSH handshake and login within {connect_timeout.text}"
        ) from None
    except asyncssh.HostKeyNotVerifiable:
        raise TaskFailed(
            f"host key mismatch for {target.label}: the key the server presented is not the one "
            "given in host_key / known_hosts"
        ) from None
    except asyncssh.PermissionDenied:
        raise TaskFailed(f"authentication failed for {target.username} at {target.label}") from None
    except asyncssh.Error as exc:
        raise TaskFailed(f"the SSH connection to {target.label} failed: {_reason(exc)}") from None
    except OSError as exc:
        raise TaskFailed(f"could not connect to {target.label}: {_reason(exc)}") from None


PLUGINS: Final[list[type[Plugin]]] = [Command]
"""ssh.*: remote commands with checked host keys."""
