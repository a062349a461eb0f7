"""Settings: defaults < TOML file < WORKFLOWDEV_* environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflowdev.config import ConfigError
from workflowdev.config import Settings
from workflowdev.config import default_data_dir
from workflowdev.config import load_settings


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(env={"XDG_DATA_HOME": str(tmp_path)})
    assert (settings.host, settings.port, settings.auth) == ("127.0.0.1", 8080, False)
    assert settings.data_dir == tmp_path / "workflowdev"
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'workflowdev' / 'workflowdev.db'}"


def test_data_dir_defaults_to_local_share_without_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / ".local" / "share" / "workflowdev"


def test_each_source_overrides_the_one_before(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\nlog_level = "debug"\nbody_limit = 4096\n')
    env = {"WORKFLOWDEV_PORT": "9100", "WORKFLOWDEV_AUTH": "true", "XDG_DATA_HOME": str(tmp_path)}
    settings = load_settings({"port": 9200, "host": None}, env=env, config_file=config)
    assert settings.port == 9200  # flag beats env beats file
    assert settings.host == "0.0.0.0"  # only the file set it; a None flag means "not given"
    assert settings.auth is True and settings.log_level == "debug" and settings.body_limit == 4096


def test_config_file_in_data_dir_is_read(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("port = 8181\n")
    assert load_settings({"data_dir": tmp_path}, env={}).port == 8181


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "x.toml"
    config.write_text("port = 8282\n")
    assert load_settings(env={"WORKFLOWDEV_CONFIG": str(config)}).port == 8282


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WORKFLOWDEV_PORT": "eighty"}, "port"),
        ({"WORKFLOWDEV_PORT": "70000"}, "port"),
        ({"WORKFLOWDEV_AUTH": "maybe"}, "auth"),
        ({"WORKFLOWDEV_LOG_LEVEL": "loud"}, "log_level"),
        ({"WORKFLOWDEV_MOUSE": "sometimes"}, "mouse from .*auto, on, off"),
        ({"WORKFLOWDEV_BODY_LIMIT": "10"}, "body_limit"),
        ({"WORKFLOWDEV_MAX_FOREACH_ITEMS": "0"}, "max_foreach_items"),
        ({"WORKFLOWDEV_MAX_OUTPUT_BYTES": "0"}, "max_output_bytes"),
        ({"WORKFLOWDEV_MAX_TASK_RUNS": "-1"}, "max_task_runs"),
        ({"WORKFLOWDEV_CONFIG": "/nonexistent/workflowdev.toml"}, "does not exist"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


def test_unknown_and_malformed_file_settings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_settings(env={}, config_file=bad)
    bad.write_text("port = \n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_settings(env={}, config_file=bad)


def test_run_limits_come_from_the_environment() -> None:
    env = {"WORKFLOWDEV_MAX_FOREACH_ITEMS": "7", "WORKFLOWDEV_MAX_OUTPUT_BYTES": "2048", "WORKFLOWDEV_MAX_TASK_RUNS": "99"}
    limits = load_settings(env=env).run_limits
    assert (limits.max_foreach_items, limits.max_output_bytes, limits.max_task_runs) == (7, 2048, 99)
    defaults = load_settings(env={}).run_limits
    assert (defaults.max_foreach_items, defaults.max_output_bytes, defaults.max_task_runs) == (100_000, 16 * 1024 * 1024, 500_000)


def test_console_settings_come_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "console.toml"
    config.write_text("mouse = false\nwrap_logs = true\ngate_alert = true\n")
    settings = load_settings(env={}, config_file=config)
    assert (settings.mouse, settings.wrap_logs, settings.gate_alert) == ("off", True, True)
    assert load_settings(env={"WORKFLOWDEV_MOUSE": "On"}).mouse == "on"
    assert load_settings(env={}).mouse == "auto"


def test_loopback_detection() -> None:
    assert Settings(host="127.0.0.1").is_loopback and Settings(host="::1").is_loopback
    assert not Settings(host="0.0.0.0").is_loopback
