"""ssh.command against a real asyncssh server started here, which runs each command with /bin/sh.

The server checks passwords and authorized keys like any SSH server; what the task sees —
host keys, exit codes, streams, timeouts, closed connections — is the real protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field

import asyncssh
import pytest
from jsonschema import Draft202012Validator

from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import tasks_by_name
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins.ssh import CAPTURE_BYTES
from workflowdev.plugins.ssh import Command

from .test_util import FakeContext

USER = "deploy"
PASSWORD = "s3cret-ssh-pass"
HOST = "127.0.0.1"


# -- the server -----------------------------------------------------------------------------------


@dataclass
class SshServer:
    """A listening asyncssh server and what it saw."""

    port: int
    host_key: asyncssh.SSHKey
    client_key: asyncssh.SSHKey
    acceptor: asyncssh.SSHAcceptor
    connections: int = 0
    closed: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)
    envs: list[dict[str, str]] = field(default_factory=list)
    children: list[asyncio.subprocess.Process] = field(default_factory=list)

    @property
    def host_key_line(self) -> str:
        return self.host_key.export_public_key().decode().strip()


class Auth(asyncssh.SSHServer):
    def __init__(self, state: SshServer) -> None:
        self.state = state

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.state.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.closed += 1

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == USER and password == PASSWORD


async def shell(state: SshServer, process: asyncssh.SSHServerProcess[bytes]) -> None:
    """Run the client's command with /bin/sh, its pipes copied to and from the session."""
    env = {str(k): str(v) for k, v in process.env.items()}
    state.envs.append(env)
    child = await asyncio.create_subprocess_shell(
        process.command or "",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        start_new_session=True,
    )
    state.children.append(child)
    state.started.set()
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None

    async def feed(sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            while chunk := await process.stdin.read(65536):
                sink.write(chunk)
                await sink.drain()
        sink.close()

    async def copy(source: asyncio.StreamReader, sink: asyncssh.SSHWriter[bytes]) -> None:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()

    feeder = asyncio.create_task(feed(child.stdin))
    try:
        await asyncio.gather(copy(child.stdout, process.stdout), copy(child.stderr, process.stderr))
        status = await child.wait()
    except (OSError, asyncssh.Error):
        return  # the client went away
    finally:
        feeder.cancel()
    if status < 0:
        process.exit_with_signal(signal.Signals(-status).name.removeprefix("SIG"))
    else:
        process.exit(status)


async def start_ssh_server() -> SshServer:
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    state = SshServer(0, host_key, client_key, None)  # type: ignore[arg-type]
    state.acceptor = await asyncssh.create_server(
        lambda: Auth(state),
        HOST,
        0,
        server_host_keys=[host_key],
        authorized_client_keys=asyncssh.import_authorized_keys(client_key.export_public_key().decode()),
        process_factory=lambda process: shell(state, process),
        encoding=None,
    )
    state.port = state.acceptor.get_port()
    return state


async def stop_ssh_server(state: SshServer) -> None:
    state.acceptor.close()
    await state.acceptor.wait_closed()
    for child in state.children:
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            await child.wait()


@pytest.fixture
async def server() -> AsyncIterator[SshServer]:
    state = await start_ssh_server()
    yield state
    await stop_ssh_server(state)


@pytest.fixture
def ctx() -> FakeContext:
    context = FakeContext()
    assert isinstance(context, TaskContext)
    return context


def login(server: SshServer, **properties: JSON) -> dict[str, JSON]:
    """Properties that reach the server: address, password, its host key."""
    return {
        "host": HOST,
        "port": server.port,
        "username": USER,
        "password": PASSWORD,
        "host_key": server.host_key_line,
        **properties,
    }


async def run_task(ctx: FakeContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
    out = await Command().run(ctx, properties)
    errors = [e.message for e in Draft202012Validator(Command.manifest.output_schema).iter_errors(out)]
    assert errors == [], errors
    return out


async def fails(ctx: FakeContext, properties: Mapping[str, JSON]) -> str:
    with pytest.raises(TaskFailed) as failure:
        await Command().run(ctx, properties)
    return str(failure.value)


async def all_closed(server: SshServer) -> None:
    await eventually(
        lambda: asyncio.sleep(0, server.connections == server.closed), timeout=5, what="the SSH connection to close"
    )


# -- running commands -----------------------------------------------------------------------------


async def test_exit_code_stdout_and_stderr_come_back_and_stream_to_the_log(
    server: SshServer, ctx: FakeContext
) -> None:
    out = await run_task(ctx, login(server, command="echo hi; echo oops >&2; exit 3", fail_on_error=False))

    assert out == {"exit_code": 3, "stdout": "hi\n", "stderr": "oops\n", "stdout_truncated": False, "stderr_truncated": False}
    assert ("info", "hi") in ctx.log.lines and ("warning", "oops") in ctx.log.lines
    await all_closed(server)


async def test_a_non_zero_exit_fails_the_task_with_status_and_stderr(server: SshServer, ctx: FakeContext) -> None:
    message = await fails(ctx, login(server, command="echo 'no such table' >&2; exit 3"))

    assert message == f"the command on {HOST}:{server.port} exited with status 3: no such table"


async def test_a_command_killed_by_a_signal_fails(server: SshServer, ctx: FakeContext) -> None:
    message = await fails(ctx, login(server, command="kill -TERM $$"))
    out = await run_task(ctx, login(server, command="kill -TERM $$", fail_on_error=False))

    assert message == f"the command on {HOST}:{server.port} was killed by signal TERM"
    assert out["exit_code"] == -1


async def test_input_and_env_reach_the_command(server: SshServer, ctx: FakeContext) -> None:
    out = await run_task(
        ctx, login(server, command='echo "$GREETING $COUNT"; cat', input="from stdin\n", env={"GREETING": "hello", "COUNT": 3})
    )

    assert out["stdout"] == "hello 3\nfrom stdin\n"
    assert server.envs[-1] == {"GREETING": "hello", "COUNT": "3"}


async def test_a_bad_env_name_is_refused_before_connecting(server: SshServer, ctx: FakeContext) -> None:
    message = await fails(ctx, login(server, command="true", env={"NOT OK": "x"}))

    assert message == "env: 'NOT OK' is not a valid environment variable name"
    assert server.connections == 0


async def test_long_output_keeps_its_end(server: SshServer, ctx: FakeContext) -> None:
    out = await run_task(ctx, login(server, command="head -c 1200000 /dev/zero | tr '\\0' x; echo END"))

    assert out["stdout_truncated"] is True and len(out["stdout"]) == CAPTURE_BYTES
    assert out["stdout"].endswith("xEND\n")
    assert any("stdout was longer than" in line for level, line in ctx.log.lines if level == "warning")


# -- host keys ------------------------------------------------------------------------------------


async def test_a_different_host_key_is_a_mismatch(server: SshServer, ctx: FakeContext) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()

    message = await fails(ctx, login(server, command="echo hi", host_key=other))

    assert message.startswith(f"host key mismatch for {HOST}:{server.port}")
    assert server.started.is_set() is False
    await all_closed(server)


async def test_known_hosts_text_is_checked(server: SshServer, ctx: FakeContext) -> None:
    right = f"[{HOST}]:{server.port} {server.host_key_line}\n"
    other_host = f"db.example.test {server.host_key_line}\n"
    wrong_key = f"{HOST} {asyncssh.generate_private_key('ssh-ed25519').export_public_key().decode()}"
    base = login(server, command="echo hi")
    del base["host_key"]

    out = await run_task(ctx, {**base, "known_hosts": "# ours\n" + right})
    for known_hosts in (other_host, wrong_key):
        message = await fails(ctx, {**base, "known_hosts": known_hosts})
        assert message.startswith(f"host key mismatch for {HOST}:{server.port}")

    assert out["stdout"] == "hi\n"


async def test_without_a_host_key_nothing_connects(server: SshServer, ctx: FakeContext) -> None:
    base = login(server, command="echo hi")
    del base["host_key"]

    message = await fails(ctx, base)

    assert "give host_key (its public key line) or known_hosts" in message
    assert "insecure_skip_host_key_check: true" in message
    assert server.connections == 0


async def test_skipping_the_check_must_be_explicit_and_alone(server: SshServer, ctx: FakeContext) -> None:
    base = login(server, command="echo hi")
    del base["host_key"]

    out = await run_task(ctx, {**base, "insecure_skip_host_key_check": True})
    both = await fails(ctx, login(server, command="echo hi", insecure_skip_host_key_check=True))

    assert out["stdout"] == "hi\n"
    assert both == "give host_key or insecure_skip_host_key_check: true, not both"


async def test_a_malformed_host_key_is_refused_clearly(server: SshServer, ctx: FakeContext) -> None:
    message = await fails(ctx, login(server, command="true", host_key=f"{HOST} ssh-ed25519"))

    assert message.startswith("host_key must be one public key line")
    assert server.connections == 0


# -- logging in -----------------------------------------------------------------------------------


async def test_a_wrong_password_is_an_authentication_failure(server: SshServer, ctx: FakeContext) -> None:
    message = await fails(ctx, login(server, command="echo hi", password="wrong-password"))

    assert message == f"authentication failed for {USER} at {HOST}:{server.port}"
    assert "wrong-password" not in message
    await all_closed(server)


async def test_a_private_key_logs_in(server: SshServer, ctx: FakeContext) -> None:
    key_text = server.client_key.export_private_key().decode()
    properties = login(server, command="echo key", private_key=key_text)
    del properties["password"]

    out = await run_task(ctx, properties)

    assert out["stdout"] == "key\n"


async def test_an_encrypted_private_key_needs_its_passphrase(server: SshServer, ctx: FakeContext) -> None:
    encrypted = server.client_key.export_private_key("pkcs8-pem", passphrase="open sesame").decode()
    properties = login(server, command="echo key", private_key=encrypted)
    del properties["password"]

    out = await run_task(ctx, {**properties, "private_key_passphrase": "open sesame"})
    wrong = await fails(ctx, {**properties, "private_key_passphrase": "guess"})
    missing = await fails(ctx, properties)

    assert out["stdout"] == "key\n"
    assert wrong == "private_key could not be decrypted: is private_key_passphrase right?"
    assert missing.startswith("private_key could not be")


async def test_an_unusable_private_key_is_refused_without_showing_it(server: SshServer, ctx: FakeContext) -> None:
    garbage = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END OPENSSH PRIVATE KEY-----\n"

    message = await fails(ctx, login(server, command="true", private_key=garbage))

    assert message.startswith("private_key could not be read")
    assert "c2VjcmV0" not in message
    assert server.connections == 0


async def test_an_unknown_key_is_an_authentication_failure(server: SshServer, ctx: FakeContext) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    properties = login(server, command="true", private_key=stranger)
    del properties["password"]

    message = await fails(ctx, properties)

    assert message == f"authentication failed for {USER} at {HOST}:{server.port}"


async def test_no_way_to_log_in_is_refused(server: SshServer, ctx: FakeContext) -> None:
    properties = login(server, command="true")
    del properties["password"]

    assert await fails(ctx, properties) == "give password or private_key to log in with"


# -- timeouts, refusals, cancellation -------------------------------------------------------------


async def test_a_command_that_runs_too_long_times_out_and_the_connection_closes(
    server: SshServer, ctx: FakeContext
) -> None:
    message = await fails(ctx, login(server, command="echo started; sleep 30", timeout="300ms"))

    assert message == f"the command on {HOST}:{server.port} timed out after 300ms"
    assert ("info", "started") in ctx.log.lines
    await all_closed(server)


async def test_cancelling_the_task_closes_the_connection(server: SshServer, ctx: FakeContext) -> None:
    task = asyncio.create_task(Command().run(ctx, login(server, command="sleep 30")))
    await asyncio.wait_for(server.started.wait(), 10)

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    await all_closed(server)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def test_a_refused_connection_is_reported(ctx: FakeContext, closed_port: int) -> None:
    message = await fails(ctx, {"host": HOST, "port": closed_port, "username": USER, "password": PASSWORD,
                                "insecure_skip_host_key_check": True, "command": "true"})

    assert message == f"could not connect to {HOST}:{closed_port}: Connection refused"


async def test_a_server_that_never_answers_times_out_and_is_let_go(ctx: FakeContext) -> None:
    let_go = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client closes its end
        let_go.set()
        writer.close()

    listener = await asyncio.start_server(silent, HOST, 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        message = await fails(ctx, {"host": HOST, "port": port, "username": USER, "password": PASSWORD,
                                    "insecure_skip_host_key_check": True, "command": "true", "connect_timeout": "300ms"})
        await asyncio.wait_for(let_go.wait(), 5)
    finally:
        listener.close()
        await listener.wait_closed()

    assert message == f"{HOST}:{port} did not complete the SSH handshake and login within 300ms"


async def test_without_the_connectors_extra_the_task_says_what_to_install(
    ctx: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "asyncssh", None)

    message = await fails(ctx, {"host": HOST, "username": USER, "password": PASSWORD, "command": "true"})

    assert message == "this task needs the `connectors` extra: pip install 'workflowdev[connectors]'"


# -- through a real execution ---------------------------------------------------------------------


async def test_a_flow_runs_a_command_with_credentials_that_only_ever_show_as_stars(
    api: Api, server: SshServer
) -> None:
    for name, value in (("SSH_PASSWORD", PASSWORD), ("SSH_HOST_KEY", server.host_key_line)):
        reply = await api.post("/api/v1/credentials", json={"name": name, "value": value})
        assert reply.status == 201, reply.body
    yaml = (
        "name: ssh-flow\n"
        "tasks:\n"
        "  - name: remote\n"
        "    type: ssh.command\n"
        "    properties:\n"
        f"      host: {HOST}\n"
        f"      port: {server.port}\n"
        f"      username: {USER}\n"
        "      password: ${SSH_PASSWORD}\n"
        "      host_key: ${SSH_HOST_KEY}\n"
        "      command: echo \"logged in with $PASS\"; echo done\n"
        "      env: {PASS: '${SSH_PASSWORD}'}\n"
        "  - name: wrong\n"
        "    type: ssh.command\n"
        "    properties:\n"
        f"      host: {HOST}\n"
        f"      port: {server.port}\n"
        f"      username: {USER}\n"
        "      password: ${SSH_PASSWORD}-typo\n"
        "      host_key: ${SSH_HOST_KEY}\n"
        "      command: echo never\n"
    )

    body = await run(api, yaml)

    tasks = tasks_by_name(body)
    assert tasks["remote"][-1]["status"] == "SUCCESS", tasks["remote"][-1]["error"]
    assert outputs(tasks["remote"][-1])["stdout"] == "logged in with ***\ndone\n"
    assert tasks["wrong"][-1]["status"] == "FAILED"
    assert tasks["wrong"][-1]["error"] == f"authentication failed for {USER} at {HOST}:{server.port}"
    logs = await api.get(f"/api/v1/executions/{body['execution']['id']}/logs")
    messages = [line["message"] for line in logs.body]
    assert "logged in with ***" in messages
    assert PASSWORD not in repr(body) and PASSWORD not in repr(logs.body)


async def test_the_manifest_example_runs_against_a_local_server(api: Api, server: SshServer) -> None:
    """The credentials a catalogue run needs, pointed at this module's SSH server."""
    credentials = {
        "SSH_HOST": HOST,
        "SSH_PORT": str(server.port),
        "SSH_PASSWORD": PASSWORD,
        "SSH_HOST_KEY": server.host_key_line,
    }
    for name, value in credentials.items():
        assert (await api.post("/api/v1/credentials", json={"name": name, "value": value})).status == 201
    (example,) = Command.manifest.examples
    yaml = "name: ssh-example\ntasks:\n" + "\n".join("  " + line for line in example.splitlines()) + "\n"

    body = await run(api, yaml)

    (task,) = body["tasks"]
    assert task["status"] == "SUCCESS", task["error"]
    out = outputs(task)
    assert list(Draft202012Validator(Command.manifest.output_schema).iter_errors(out)) == []
    assert out["exit_code"] == 0 and "Filesystem" in out["stdout"]
