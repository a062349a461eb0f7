"""The cluster settings: roles, lease and poll, from every source, checked at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflowdev.cli.main import build_parser
from workflowdev.cli.server import settings_from
from workflowdev.config import ConfigError
from workflowdev.config import load_settings


def test_a_node_has_every_role_by_default(tmp_path: Path) -> None:
    settings = load_settings(env={"XDG_DATA_HOME": str(tmp_path)})
    assert settings.roles == ("api", "worker", "scheduler")
    assert (settings.lease_seconds, settings.poll_interval) == (30.0, 1.0)


def test_roles_lease_and_poll_come_from_the_environment(tmp_path: Path) -> None:
    env = {
        "XDG_DATA_HOME": str(tmp_path),
        "WORKFLOWDEV_ROLES": "worker, scheduler",
        "WORKFLOWDEV_LEASE_SECONDS": "4.5",
        "WORKFLOWDEV_POLL_INTERVAL": "0.25",
    }
    settings = load_settings(env=env)
    assert settings.roles == ("worker", "scheduler")
    assert (settings.lease_seconds, settings.poll_interval) == (4.5, 0.25)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WORKFLOWDEV_ROLES": "api,runner"}, "roles must be one or more of api, worker, scheduler"),
        ({"WORKFLOWDEV_ROLES": " , "}, "roles must be one or more of"),
        ({"WORKFLOWDEV_LEASE_SECONDS": "0.5"}, "lease_seconds must be at least 1"),
        ({"WORKFLOWDEV_LEASE_SECONDS": "soon"}, "lease_seconds from $WORKFLOWDEV_LEASE_SECONDS"),
        ({"WORKFLOWDEV_LEASE_SECONDS": "inf"}, "expected a finite number"),
        ({"WORKFLOWDEV_POLL_INTERVAL": "0"}, "poll_interval must be above 0"),
        ({"WORKFLOWDEV_POLL_INTERVAL": "60"}, "at most lease_seconds (30)"),
    ],
)
def test_unusable_cluster_settings_are_refused(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"XDG_DATA_HOME": str(tmp_path), **env})
    assert message in str(caught.value)


def test_roles_flag_and_the_worker_command(tmp_path: Path) -> None:
    parser = build_parser()
    server = settings_from(parser.parse_args(["server", "--data-dir", str(tmp_path), "--roles", "api,scheduler"]))
    assert server.roles == ("api", "scheduler")
    worker = settings_from(parser.parse_args(["worker", "--data-dir", str(tmp_path)]))
    assert worker.roles == ("worker",)
    with pytest.raises(ConfigError, match="got 'api,cook'"):
        settings_from(parser.parse_args(["server", "--data-dir", str(tmp_path), "--roles", "api,cook"]))
