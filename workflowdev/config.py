"""One Settings object for the whole process.

Sources, each overriding the one before: built-in defaults < an optional TOML file (`--config`
or `WORKFLOWDEV_CONFIG`, else `<data dir>/config.toml` when it exists) < `WORKFLOWDEV_*`
environment variables < command-line flags. Every field is settable from every source under
one spelling: `body_limit` in TOML, `WORKFLOWDEV_BODY_LIMIT` in the environment, `--body-limit`
on the command line.
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from dataclasses import replace
from pathlib import Path
from typing import Any

from workflowdev.engine.node.roles import ROLES
from workflowdev.engine.plugin import PluginSettings
from workflowdev.engine.run.limits import RunLimits
from workflowdev.engine.services.retention_policy import RetentionPolicy
from workflowdev.engine.services.retention_policy import parse_retention

ENV_PREFIX = "WORKFLOWDEV_"
LOG_LEVELS = ("debug", "info", "warning", "error")
MOUSE_MODES = ("auto", "on", "off")
DATABASE_FILE = "workflowdev.db"
"""The embedded SQLite database, inside the data directory, when no database_url is set."""


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the setting and its source."""


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "workflowdev"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str = ""
    """Empty means the SQLite file `workflowdev.db` in the data dir."""
    auth: bool = False
    insecure: bool = False
    jwt_secret: str = ""
    """At least 32 bytes; empty: a random one kept in `<data dir>/jwt.secret` (mode 0600)."""
    token_ttl: int = 12 * 3600
    """Seconds a login token stays valid."""
    body_limit: int = 1_048_576
    log_level: str = "info"
    max_running: int = 200
    """Executions running at once on this node; the rest wait QUEUED (gates hold no slot)."""
    roles: tuple[str, ...] = ROLES
    """What this node does: `api` serves HTTP, `worker` runs executions, `scheduler` fires
    schedules. Any number of nodes sharing one PostgreSQL may hold any roles."""
    lease_seconds: float = 30.0
    """How long a node's claim on an execution lasts unrenewed: after a node dies, others take
    its executions over within about twice this."""
    poll_interval: float = 1.0
    """Seconds between looks for work when no NOTIFY can wake the node (SQLite, LISTEN down)."""
    schedule_late_after: float = 60.0
    """Seconds after its instant past which a schedule's firing is recorded `late` in the slot ledger."""
    scripts_enabled: bool = True
    """False on servers that must not run arbitrary code: script.* tasks then fail."""
    files_root: Path | None = None
    """Where file.* and archive.* tasks may work; unset: each execution's working directory."""
    http_max_response_bytes: int = 10 * 1024 * 1024
    http_allow: tuple[str, ...] = ()
    """CIDR ranges http.* tasks may reach although blocked by default (link-local, metadata)."""
    http_deny: tuple[str, ...] = ()
    """CIDR ranges http.* tasks must never reach (private ranges, say), comma-separated."""
    max_foreach_items: int = 100_000
    """Elements one flow.foreach may loop over; a longer `items` fails the loop before it starts."""
    max_output_bytes: int = 16 * 1024 * 1024
    """JSON bytes of one task's outputs (and of an execution's); more fails the task."""
    max_task_runs: int = 500_000
    """Task runs one execution may record (attempts, skips, loop iterations); more fails it."""
    keymap: dict[str, str] = field(default_factory=dict)
    """The console's keys by binding id (`executions.cancel = "C"`); `?` in the console shows the ids.
    In TOML a `[keymap]` table; in the environment `id=keys;id=keys`."""
    theme: str = ""
    """The console's Textual theme; empty: the terminal's own ANSI palette unless it has more colours."""
    confirm_decisions: bool = True
    """The console asks before approving or rejecting a gate (`a`, `r`); false decides at the key."""
    wrap_logs: bool = False
    """The console folds long log lines at the pane's width; false scrolls them sideways (`w` toggles)."""
    mouse: str = "auto"
    """Whether the console captures the mouse: `on`, `off`, or `auto` (off over SSH, where capturing
    it takes the terminal's own text selection away). `--mouse`/`--no-mouse` win over it."""
    gate_alert: bool = False
    """When a gate starts waiting, the console rings the terminal bell and names the gate in the
    window title, so a console in a background tab or tmux window gets noticed."""
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    """What the background purge removes, per namespace (`retention_policy.py`); by default
    nothing. In TOML a `[retention]` table, in the environment `key=N;namespace:key=N`."""
    retention_interval: float = 300.0
    """Seconds between the background purge's passes (on nodes with the `scheduler` role)."""
    retention_batch: int = 2000
    """Rows one purge transaction deletes at most: small, so other writers wait only briefly."""

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / DATABASE_FILE}"

    @property
    def plugin_settings(self) -> PluginSettings:
        return PluginSettings(
            scripts_enabled=self.scripts_enabled,
            files_root=self.files_root,
            http_max_response_bytes=self.http_max_response_bytes,
            http_allow=self.http_allow,
            http_deny=self.http_deny,
        )

    @property
    def run_limits(self) -> RunLimits:
        return RunLimits(
            max_foreach_items=self.max_foreach_items,
            max_output_bytes=self.max_output_bytes,
            max_task_runs=self.max_task_runs,
        )

    @property
    def is_loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")


_FIELDS = {f.name: f for f in fields(Settings)}


def _coerce(name: str, raw: Any, source: str) -> Any:
    """Turn a raw value from TOML, the environment or a flag into the field's type."""
    kind = _FIELDS[name].type
    try:
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(f"expected true or false, got {raw!r}")
        if kind in ("int", "float"):
            if isinstance(raw, bool):
                raise ValueError(f"expected a number, got {raw!r}")
            number = int(raw) if kind == "int" else float(raw)
            if not math.isfinite(number):
                raise ValueError(f"expected a finite number, got {raw!r}")
            return number
        if kind in ("Path", "Path | None"):
            return Path(str(raw)).expanduser() if str(raw) else None
        if kind == "tuple[str, ...]":
            items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
            return tuple(str(item).strip() for item in items if str(item).strip())
        if kind == "dict[str, str]":
            return _keymap(raw)
        if kind == "RetentionPolicy":
            return parse_retention(raw)
        if name == "mouse":
            return _mouse(raw)
        value = str(raw)
        if name == "log_level" and value.lower() not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {raw!r}")
        return value.lower() if name == "log_level" else value
    except ValueError as exc:
        raise ConfigError(f"{name} from {source}: {exc}") from None


def _mouse(raw: Any) -> str:
    """`on`, `off` or `auto`; TOML's true and false read as on and off."""
    if isinstance(raw, bool):
        return "on" if raw else "off"
    value = str(raw).strip().lower()
    if value not in MOUSE_MODES:
        raise ValueError(f"expected one of {', '.join(MOUSE_MODES)}, got {raw!r}")
    return value


def _keymap(raw: Any) -> dict[str, str]:
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    else:
        pairs = [tuple(part.split("=", 1)) for part in str(raw).split(";") if part.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("expected binding-id=keys pairs separated by ';'")
    keymap = {str(k).strip(): str(v).strip() for k, v in pairs}
    if any(not k or not v for k, v in keymap.items()):
        raise ValueError("every binding id needs keys, and every keys a binding id")
    return keymap


def _from_mapping(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in values.items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            raise ConfigError(f"unknown setting {key!r} in {source}")
        out[name] = _coerce(name, raw, source)
    return out


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    return {
        name: _coerce(name, env[ENV_PREFIX + name.upper()], f"${ENV_PREFIX}{name.upper()}")
        for name in _FIELDS
        if ENV_PREFIX + name.upper() in env
    }


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build the Settings of this process. `flags` holds only the flags the user gave."""
    env = os.environ if env is None else env
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    from_flags = _from_mapping(given, "the command line")
    from_env = _from_env(env)

    path = config_file or (Path(env["WORKFLOWDEV_CONFIG"]) if env.get("WORKFLOWDEV_CONFIG") else None)
    explicit = path is not None
    if path is None:
        data_dir = from_flags.get("data_dir") or from_env.get("data_dir") or default_data_dir(env)
        path = Path(data_dir) / "config.toml"
    from_file: dict[str, Any] = {}
    if path.exists():
        try:
            from_file = _from_mapping(tomllib.loads(path.read_text("utf-8")), str(path))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    elif explicit:
        raise ConfigError(f"config file {path} does not exist")

    base = Settings(data_dir=default_data_dir(env))
    settings = replace(base, **{**from_file, **from_env, **from_flags})
    if settings.database_url:
        _check_database_url(settings.database_url)
    if not 0 <= settings.port < 65536:
        raise ConfigError(f"port must be between 0 (any free port) and 65535, got {settings.port}")
    for cidr in (*settings.http_allow, *settings.http_deny):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(f"{cidr!r} in http_allow/http_deny is not an address range like 10.0.0.0/8") from None
    if settings.max_running < 1:
        raise ConfigError(f"max_running must be at least 1, got {settings.max_running}")
    if settings.body_limit < 1024:
        raise ConfigError(f"body_limit must be at least 1024 bytes, got {settings.body_limit}")
    for name in ("max_foreach_items", "max_output_bytes", "max_task_runs"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(settings, name)}")
    _check_cluster_settings(settings)
    _check_retention_settings(settings)
    return settings


def _check_database_url(url: str) -> None:
    """Only a URL someone gave is checked (the embedded default always parses), and SQLAlchemy is
    loaded for it only then: the console and the command line's quick answers do without it."""
    from sqlalchemy.exc import ArgumentError

    from workflowdev.store.database import async_url

    try:
        async_url(url)
    except (ValueError, ArgumentError) as exc:
        raise ConfigError(f"database_url: {exc}") from None


MAX_RETENTION_BATCH = 10_000
"""Ids one purge statement names: under the bound-parameter limits of SQLite and asyncpg."""


def _check_retention_settings(settings: Settings) -> None:
    if not settings.retention_interval > 0:
        raise ConfigError(f"retention_interval must be above 0 seconds, got {settings.retention_interval:g}")
    if not 1 <= settings.retention_batch <= MAX_RETENTION_BATCH:
        raise ConfigError(f"retention_batch must be between 1 and {MAX_RETENTION_BATCH:,}, got {settings.retention_batch}")


def _check_cluster_settings(settings: Settings) -> None:
    unknown = [role for role in settings.roles if role not in ROLES]
    if unknown or not settings.roles:
        given = ",".join(settings.roles) or "nothing"
        raise ConfigError(f"roles must be one or more of {', '.join(ROLES)} (comma-separated), got {given!r}")
    if settings.lease_seconds < 1:
        raise ConfigError(f"lease_seconds must be at least 1, got {settings.lease_seconds:g}")
    if not 0 < settings.poll_interval <= settings.lease_seconds:
        raise ConfigError(
            f"poll_interval must be above 0 and at most lease_seconds ({settings.lease_seconds:g}), "
            f"got {settings.poll_interval:g}"
        )
    if settings.schedule_late_after < 0:
        raise ConfigError(f"schedule_late_after must be 0 seconds or more, got {settings.schedule_late_after:g}")
