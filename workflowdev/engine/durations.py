"""Durations as flows write them: `500ms`, `30s`, `10m`, `2h`, `1d`, or ISO 8601 (`PT30S`).

One parser for the whole product, so a timeout, a retry delay and a sleep all read alike.
A bare number means seconds.
"""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIMPLE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_ISO = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


DURATION_PATTERN = (
    r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$"
    r"|^\s*[Pp](\d+(\.\d+)?[Dd])?([Tt](\d+(\.\d+)?[Hh])?(\d+(\.\d+)?[Mm])?(\d+(\.\d+)?[Ss])?)?\s*$"
)
"""The same forms as a JSON Schema pattern, so validation refuses `5 minutes` before a run."""


def parse_duration(value: str | int | float) -> float:
    """Return the duration in seconds, or raise ValueError saying what forms are accepted."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"duration must not be negative, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}")
    match = _SIMPLE.match(value)
    if match:
        return float(match.group(1)) * _UNITS[match.group(2)]
    iso = _ISO.match(value.strip().upper())
    if iso and value.strip().upper() not in ("P", "PT") and any(iso.groupdict().values()):
        parts = {k: float(v) if v else 0.0 for k, v in iso.groupdict().items()}
        return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    raise ValueError(
        f"invalid duration {value!r}: use a number of seconds, 500ms, 30s, 10m, 2h, 1d "
        "or ISO 8601 such as PT30S"
    )
