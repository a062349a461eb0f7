"""util.uuid, util.datetime, util.random: what flows rely on — well-formed and ordered ids, dates
read and written in the right zone, random values inside their bounds — and clear refusals."""

from __future__ import annotations

import base64
import random
import secrets
import string
import time
import uuid
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins.util import DateTime
from workflowdev.plugins.util import RandomValue
from workflowdev.plugins.util import Uuid
from workflowdev.plugins.util import ids

from .test_util import FakeContext


async def call(plugin: type[Plugin], properties: Mapping[str, JSON]) -> dict[str, Any]:
    return dict(await plugin().run(FakeContext(), properties))


async def failure(plugin: type[Plugin], properties: Mapping[str, JSON]) -> str:
    with pytest.raises(TaskFailed) as caught:
        await plugin().run(FakeContext(), properties)
    return str(caught.value)


def schema_accepts(plugin: type[Plugin], properties: Mapping[str, JSON]) -> bool:
    return Draft202012Validator(plugin.manifest.input_schema).is_valid(properties)


# -- util.uuid ----------------------------------------------------------------------------------


async def test_uuid_defaults_to_one_random_version_4() -> None:
    outputs = await call(Uuid, {})
    made = uuid.UUID(outputs["uuid"])
    assert made.version == 4 and made.variant == uuid.RFC_4122
    assert outputs["uuids"] == [outputs["uuid"]] == [str(made)]


async def test_uuid_count_makes_distinct_ids() -> None:
    outputs = await call(Uuid, {"count": 50})
    assert len(set(outputs["uuids"])) == 50 and outputs["uuid"] == outputs["uuids"][0]


async def test_uuid_7_carries_the_time_and_has_the_right_bits() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid.UUID((await call(Uuid, {"version": 7}))["uuid"])
    after = time.time_ns() // 1_000_000

    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


async def test_uuid_7_ids_sort_in_the_order_they_were_made() -> None:
    first = (await call(Uuid, {"version": 7, "count": 1000}))["uuids"]
    second = (await call(Uuid, {"version": 7, "count": 10}))["uuids"]
    made = first + second
    assert made == sorted(made) and len(set(made)) == len(made)


async def test_uuid_7_stays_increasing_when_the_clock_stands_still_or_steps_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = time.time_ns()
    clock = iter([now, now, now - 5_000_000_000, now])
    monkeypatch.setattr(ids.time, "time_ns", lambda: next(clock))

    made = [(await call(Uuid, {"version": 7}))["uuid"] for _ in range(4)]

    assert made == sorted(made) and len(set(made)) == 4
    assert all(uuid.UUID(u).version == 7 and uuid.UUID(u).variant == uuid.RFC_4122 for u in made)


@pytest.mark.parametrize(
    ("namespace", "name", "expected"),
    [
        ("dns", "python.org", "886313e1-3b8a-5372-9b90-0c9aee199e5d"),  # Python's documented example
        ("DNS", "python.org", "886313e1-3b8a-5372-9b90-0c9aee199e5d"),
        (str(uuid.NAMESPACE_DNS), "python.org", "886313e1-3b8a-5372-9b90-0c9aee199e5d"),
        ("url", "https://shop.example.test/customers/42", str(uuid.uuid5(uuid.NAMESPACE_URL, "https://shop.example.test/customers/42"))),
    ],
)
async def test_uuid_5_is_derived_from_namespace_and_name(namespace: str, name: str, expected: str) -> None:
    outputs = await call(Uuid, {"version": 5, "namespace": namespace, "name": name})
    assert outputs == {"uuid": expected, "uuids": [expected]}


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"version": 5, "namespace": "dns"}, "version 5 needs a name"),
        ({"version": 5, "name": "x"}, "version 5 needs a namespace"),
        ({"version": 5, "namespace": "galaxy", "name": "x"}, "namespace must be dns, url, oid, x500 or a UUID"),
        ({"version": 5, "namespace": "dns", "name": "x", "count": 2}, "count must be 1"),
        ({"version": 4, "name": "x"}, "namespace and name are only used by version 5"),
        ({"version": 1}, "version must be one of 4, 5, 7"),
        ({"version": True}, "version must be one of 4, 5, 7"),
        ({"count": 0}, "count must be between 1 and 1000"),
        ({"count": 1001}, "count must be between 1 and 1000"),
        ({"count": 2.5}, "count must be a whole number"),
        ({"count": float("inf")}, "count must be a whole number"),
        ({"count": "3"}, "count must be a whole number"),
    ],
)
async def test_uuid_refuses_what_it_cannot_honour(properties: dict[str, JSON], message: str) -> None:
    assert message in await failure(Uuid, properties)


def test_uuid_schema_requires_namespace_and_name_for_version_5() -> None:
    assert not schema_accepts(Uuid, {"version": 5, "name": "x"})
    assert not schema_accepts(Uuid, {"version": 3})
    assert schema_accepts(Uuid, {"version": 5, "namespace": "url", "name": "x"})


# -- util.datetime ------------------------------------------------------------------------------


async def test_now_is_the_current_time_in_utc() -> None:
    before = datetime.now(UTC)
    outputs = await call(DateTime, {})
    after = datetime.now(UTC)

    assert outputs["iso"].endswith("Z") and outputs["timezone"] == "UTC"
    assert before <= datetime.fromisoformat(outputs["iso"]) <= after
    assert int(before.timestamp() * 1000) <= outputs["timestamp_ms"] <= int(after.timestamp() * 1000)
    assert outputs["timestamp"] == outputs["timestamp_ms"] // 1000
    assert "formatted" not in outputs


async def test_parse_iso_text_with_an_offset_and_describe_it_in_another_zone() -> None:
    outputs = await call(DateTime, {"action": "parse", "value": "2024-05-01T12:30:15.250Z", "timezone": "Europe/Paris"})
    assert outputs == {
        "iso": "2024-05-01T14:30:15.250000+02:00",
        "timestamp": 1714566615,
        "timestamp_ms": 1714566615250,
        "date": "2024-05-01",
        "timezone": "Europe/Paris",
    }


async def test_text_without_an_offset_is_read_in_the_timezone() -> None:
    outputs = await call(DateTime, {"action": "parse", "value": "2024-01-15 09:00", "timezone": "America/New_York"})
    assert outputs["iso"] == "2024-01-15T09:00:00-05:00"
    assert outputs["timestamp"] == int(datetime(2024, 1, 15, 14, 0, tzinfo=UTC).timestamp())


async def test_a_number_is_a_unix_timestamp() -> None:
    outputs = await call(DateTime, {"action": "parse", "value": 1714566615.25})
    assert outputs["iso"] == "2024-05-01T12:30:15.250000Z" and outputs["timestamp_ms"] == 1714566615250


async def test_the_date_is_the_one_in_the_timezone() -> None:
    outputs = await call(DateTime, {"action": "parse", "value": "2024-05-01T23:30:00Z", "timezone": "Asia/Tokyo"})
    assert outputs["date"] == "2024-05-02"


async def test_input_format_reads_other_layouts() -> None:
    outputs = await call(DateTime, {"action": "parse", "value": "31/12/2024 18:05", "input_format": "%d/%m/%Y %H:%M"})
    assert outputs["iso"] == "2024-12-31T18:05:00Z"


async def test_format_writes_with_strftime_in_the_timezone() -> None:
    outputs = await call(DateTime, {
        "action": "format", "value": "2024-05-01T12:30:00Z", "timezone": "Europe/Paris", "format": "%Y-%m-%d %H:%M %%"
    })  # fmt: skip
    assert outputs["formatted"] == "2024-05-01 14:30 %"


async def test_format_without_a_value_formats_now() -> None:
    outputs = await call(DateTime, {"action": "format", "format": "%Y"})
    assert outputs["formatted"] == str(datetime.now(UTC).year)


@pytest.mark.parametrize(
    ("action", "duration", "iso"),
    [
        ("add", "90m", "2024-03-30T13:30:00+01:00"),
        ("add", "1d", "2024-03-31T13:00:00+02:00"),  # across the spring DST change: 24 hours later
        ("subtract", "P1DT1H", "2024-03-29T11:00:00+01:00"),
        ("add", 30, "2024-03-30T12:00:30+01:00"),
    ],
)
async def test_add_and_subtract_move_by_elapsed_time(action: str, duration: JSON, iso: str) -> None:
    outputs = await call(DateTime, {
        "action": action, "value": "2024-03-30T12:00:00+01:00", "duration": duration, "timezone": "Europe/Paris"
    })  # fmt: skip
    assert outputs["iso"] == iso


async def test_add_without_a_value_starts_from_now() -> None:
    before_ms = time.time_ns() // 1_000_000
    outputs = await call(DateTime, {"action": "add", "duration": "1h"})
    after_ms = time.time_ns() // 1_000_000
    assert before_ms + 3_600_000 <= outputs["timestamp_ms"] <= after_ms + 3_600_000


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "America", "../etc/passwd", "", "utc", 5])
async def test_an_unknown_timezone_is_refused_by_name(timezone: JSON) -> None:
    message = await failure(DateTime, {"timezone": timezone})
    assert message.startswith("unknown timezone") and "IANA name" in message


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"action": "parse", "value": "2024-02-30"}, "is not an ISO 8601 date-time; give input_format"),
        ({"action": "parse", "value": "tomorrow"}, "is not an ISO 8601 date-time"),
        ({"action": "parse", "value": "2024", "input_format": "%Q"}, "bad directive"),
        ({"action": "parse", "value": "2024-12-31", "input_format": "%d/%m/%Y"}, "value does not match input_format"),
        ({"action": "parse", "value": 1e20}, "out of range as a Unix timestamp"),
        ({"action": "parse", "value": 1714566615, "input_format": "%s"}, "input_format reads text"),
        ({"action": "parse", "value": ["2024"]}, "value must be ISO 8601 text or a Unix timestamp"),
        ({"action": "format", "format": "%Q"}, "format has an unknown code %Q"),
        ({"action": "format", "format": "%-d"}, "format has an unknown code %-"),
        ({"action": "format", "format": "100%"}, "format has an unknown code a lone % at the end"),
        ({"action": "format"}, "action format needs a format"),
        ({"action": "now", "value": "2024-01-01"}, "action now takes no value"),
        ({"action": "parse"}, "action parse needs a value"),
        ({"action": "add"}, "action add needs a duration"),
        ({"action": "add", "duration": "soon"}, "invalid duration"),
        ({"action": "parse", "value": "2024-01-01", "duration": "1d"}, "duration is only used by add and subtract"),
        ({"input_format": "%Y"}, "input_format reads value, which is not given"),
        ({"action": "add", "value": "9999-12-31T12:00:00Z", "duration": "1d"}, "outside the years 1 to 9999"),
        ({"action": "yesterday"}, "action must be one of now, parse, format, add, subtract"),
    ],
)
async def test_datetime_refuses_clearly(properties: dict[str, JSON], message: str) -> None:
    assert message in await failure(DateTime, properties)


@pytest.mark.parametrize(
    "properties",
    [
        {"action": "parse"},
        {"action": "format", "value": "2024-01-01"},
        {"action": "subtract"},
        {"action": "add", "duration": "5 minutes"},
        {"value": True},
    ],
)
def test_datetime_schema_refuses_incomplete_actions(properties: dict[str, JSON]) -> None:
    assert not schema_accepts(DateTime, properties)


# -- util.random --------------------------------------------------------------------------------


async def draws(properties: Mapping[str, JSON], n: int = 300) -> list[Any]:
    return [(await call(RandomValue, properties))["value"] for _ in range(n)]


async def test_integers_cover_both_bounds_and_nothing_else() -> None:
    assert set(await draws({"min": 1, "max": 3})) == {1, 2, 3}
    assert set(await draws({}, 50)) <= set(range(0, 101))
    assert await draws({"min": 7, "max": 7.0}, 3) == [7, 7, 7]


async def test_numbers_stay_between_min_and_max() -> None:
    values = await draws({"kind": "number", "min": -2.5, "max": 2.5})
    assert all(isinstance(v, float) and -2.5 <= v <= 2.5 for v in values)
    assert min(values) < 0 < max(values)


async def test_choice_picks_items_of_choices() -> None:
    choices = ["alice", {"name": "bob"}, 3]
    values = await draws({"kind": "choice", "choices": choices})
    assert all(v in choices for v in values) and len({repr(v) for v in values}) == 3


async def test_strings_use_the_alphabet_and_length() -> None:
    default = (await call(RandomValue, {"kind": "string"}))["value"]
    assert len(default) == 16 and set(default) <= set(string.ascii_letters + string.digits)
    values = await draws({"kind": "string", "length": 40, "alphabet": "xyzzy"}, 20)
    assert all(len(v) == 40 and set(v) <= set("xyz") for v in values)
    assert set("".join(values)) == {"x", "y", "z"}


@pytest.mark.parametrize(
    ("encoding", "decode"),
    [
        ("hex", bytes.fromhex),
        ("base64", base64.b64decode),
        ("base64url", lambda text: base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))),
    ],
)
async def test_bytes_come_in_the_requested_encoding(encoding: str, decode: Any) -> None:
    values = await draws({"kind": "bytes", "length": 32, "encoding": encoding}, 10)
    assert all(len(decode(v)) == 32 for v in values) and len(set(values)) == 10


async def test_secure_values_come_from_the_operating_system(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[random.Random] = []

    class Recording(secrets.SystemRandom):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    monkeypatch.setattr(secrets, "SystemRandom", Recording)
    await call(RandomValue, {"kind": "string"})
    await call(RandomValue, {"kind": "bytes", "secure": False})

    assert len(made) == 1


async def test_a_seed_makes_values_repeatable() -> None:
    for kind in ("integer", "number", "string", "bytes"):
        first = await call(RandomValue, {"kind": kind, "secure": False, "seed": "monday"})
        again = await call(RandomValue, {"kind": kind, "secure": False, "seed": "monday"})
        assert first == again, kind
    runs = {(await call(RandomValue, {"kind": "string", "secure": False, "seed": seed}))["value"] for seed in range(5)}
    assert len(runs) == 5


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"seed": 42}, "a seed makes values repeatable, which is not secure: set secure: false"),
        ({"secure": "yes"}, "secure must be true or false"),
        ({"secure": False, "seed": 1.5}, "seed must be a whole number or text"),
        ({"min": 5, "max": 1}, "min (5) is greater than max (1)"),
        ({"min": 0.5}, "min must be a whole number for kind integer"),
        ({"kind": "number", "max": "ten"}, "max must be a number"),
        ({"kind": "number", "max": float("inf")}, "max must be a finite number"),
        ({"min": float("nan")}, "min must be a finite number"),
        ({"kind": "choice"}, "kind choice needs choices"),
        ({"kind": "choice", "choices": []}, "kind choice needs choices"),
        ({"kind": "choice", "choices": [1], "length": 3}, "length not used with kind choice"),
        ({"choices": [1, 2]}, "choices not used with kind integer"),
        ({"kind": "string", "length": 0}, "length must be between 1 and 65536"),
        ({"kind": "bytes", "encoding": "octal"}, "encoding must be one of hex, base64, base64url"),
        ({"kind": "dice"}, "kind must be one of integer, number, choice, string, bytes"),
    ],
)
async def test_random_refuses_clearly(properties: dict[str, JSON], message: str) -> None:
    assert message in await failure(RandomValue, properties)


@pytest.mark.parametrize(
    "properties",
    [{"kind": "choice", "choices": []}, {"kind": "string", "alphabet": ""}, {"length": 0}, {"seed": 1.5}],
)
def test_random_schema_refuses_bad_values(properties: dict[str, JSON]) -> None:
    assert not schema_accepts(RandomValue, properties)
