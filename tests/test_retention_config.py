"""The retention settings: one policy from TOML or the environment, and clear refusals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflowdev.config import ConfigError
from workflowdev.config import load_settings
from workflowdev.engine.services.retention_policy import MAX_DAYS
from workflowdev.engine.services.retention_policy import Policy
from workflowdev.engine.services.retention_policy import RetentionPolicy


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"XDG_DATA_HOME": str(tmp_path), **{f"WORKFLOWDEV_{k.upper()}": v for k, v in values.items()}}


def test_by_default_nothing_is_purged(tmp_path: Path) -> None:
    settings = load_settings(env=_env(tmp_path))
    assert not settings.retention.enabled
    assert (settings.retention_interval, settings.retention_batch) == (300.0, 2000)


def test_the_toml_table_and_the_environment_line_say_the_same(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        "[retention]\nexecutions_days = 30\nlogs_days = 7\naudit_days = 365\n"
        "[retention.namespaces.payments]\nexecutions_days = 400\nexecutions_keep_last = 10\n"
    )
    from_file = load_settings(env=_env(tmp_path), config_file=config).retention
    line = "executions_days=30;logs_days=7;audit_days=365;payments:executions_days=400;payments:executions_keep_last=10"
    from_env = load_settings(env=_env(tmp_path, retention=line)).retention
    assert from_file == from_env
    assert from_env.default == Policy(timedelta(days=30), None, timedelta(days=7), timedelta(days=365))
    # a namespace takes the default's rules it does not set itself
    assert from_env.namespaces["payments"] == Policy(timedelta(days=400), 10, timedelta(days=7), timedelta(days=365))


def test_zero_turns_a_default_rule_off_in_one_namespace(tmp_path: Path) -> None:
    policy = load_settings(env=_env(tmp_path, retention="logs_days=7;keep:logs_days=0")).retention
    assert policy.default.logs_age == timedelta(days=7) and policy.namespaces["keep"].logs_age is None


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("retention", "executions_days=thirty", "executions_days must be a whole number"),
        ("retention", "executions_days=-1", "between 0 (off)"),
        ("retention", f"logs_days={MAX_DAYS + 1}", "between 0 (off)"),
        ("retention", "forever=1", "unknown key 'forever'"),
        ("retention", "payments:audit_days=5", "audit_days is not per namespace"),
        ("retention", "executions_days", "expected key=value"),
        ("retention", ":logs_days=3", "a namespace is missing"),
        ("retention_interval", "0", "retention_interval must be above 0"),
        ("retention_batch", "0", "retention_batch must be between 1 and 10,000"),
        ("retention_batch", "20000", "retention_batch must be between 1 and 10,000"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(tmp_path: Path, setting: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(env=_env(tmp_path, **{setting: value}))
    assert setting in str(refused.value) and words in str(refused.value)


def test_a_bad_toml_table_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[retention]\nexecutions_days = "a month"\n')
    with pytest.raises(ConfigError, match="retention from .*executions_days must be a whole number"):
        load_settings(env=_env(tmp_path), config_file=config)


days = st.integers(min_value=0, max_value=MAX_DAYS)
rules = st.fixed_dictionaries(
    {}, optional={"executions_days": days, "logs_days": days, "executions_keep_last": st.integers(0, 1000)}
)
names = st.text(st.characters(categories=("L", "N"), include_characters="-_."), min_size=1, max_size=20)


@given(default=rules, audit=st.one_of(st.none(), days), namespaces=st.dictionaries(names, rules, max_size=4))
def test_any_valid_policy_line_reads_back_as_its_rules(
    default: dict[str, int], audit: int | None, namespaces: dict[str, dict[str, int]]
) -> None:
    parts = [f"{k}={v}" for k, v in default.items()]
    parts += [] if audit is None else [f"audit_days={audit}"]
    parts += [f"{ns}:{k}={v}" for ns, values in namespaces.items() for k, v in values.items()]
    policy = load_settings(env={"XDG_DATA_HOME": "/nonexistent", "WORKFLOWDEV_RETENTION": ";".join(parts)}).retention

    def expected(values: dict[str, int], base: Policy) -> Policy:
        def age(key: str, inherited: timedelta | None) -> timedelta | None:
            return (timedelta(days=values[key]) or None) if key in values else inherited

        keep = values.get("executions_keep_last", base.executions_keep_last or 0) or None
        return Policy(age("executions_days", base.executions_age), keep, age("logs_days", base.logs_age), base.audit_age)

    base = expected(default, Policy(audit_age=timedelta(days=audit) if audit else None))
    assert policy == RetentionPolicy(base, {ns: expected(v, base) for ns, v in namespaces.items() if v})


@given(st.text(max_size=60))
def test_garbage_is_a_config_error_or_a_policy_never_another_exception(line: str) -> None:
    try:
        policy = load_settings(env={"XDG_DATA_HOME": "/nonexistent", "WORKFLOWDEV_RETENTION": line}).retention
    except ConfigError as refused:
        assert "retention" in str(refused)
    else:
        assert isinstance(policy, RetentionPolicy)
