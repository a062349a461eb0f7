"""Masking of credential values wherever they could be shown: logs, task outputs, error messages.

The expression layer registers every credential it resolves; whoever writes text or JSON a person
may read passes it through the same masker first. A masker lives as long as one execution.

Choices worth knowing:
- The longest secret is replaced first, so a secret that contains another is hidden whole.
- Besides the raw value, its JSON-escaped and URL-encoded forms are masked too: a secret holding
  a quote or a slash often reaches a log inside a JSON document or a URL.
- Values shorter than MIN_LENGTH characters are not masked. Hiding every `ab` or `42` would
  garble every log line, and the pattern of stars would reveal the value anyway; a credential
  that short protects nothing. Masking is a guard against accidents, not against a flow author
  who deliberately transforms a secret (reverses it, takes its first letter) before printing it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

__all__ = ["MASK", "SecretMasker"]

MASK = "***"


class SecretMasker:
    """Replaces registered secret values with `***`."""

    MIN_LENGTH = 4

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        """Register a secret (and its JSON-escaped and URL-encoded forms)."""
        if len(value) < self.MIN_LENGTH:
            return
        self._values.add(value)
        forms = _forms(value)
        if not forms <= self._secrets:
            self._secrets |= forms
            self._pattern = None

    @property
    def active(self) -> bool:
        """Whether any secret is registered (most executions have none)."""
        return bool(self._secrets)

    def found_in(self, obj: Any) -> list[str]:
        """The registered secrets (raw values) that occur in a JSON-like value, in any form.

        What a value handed on to another execution must carry with it, so that the receiver
        masks them too.
        """
        if not self._values:
            return []
        texts = list(_strings(obj))
        return sorted(value for value in self._values if any(f in text for f in _forms(value) for text in texts))

    def mask(self, text: str) -> str:
        if not self._secrets or not text:
            return text
        if self._pattern is None:
            longest_first = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, longest_first)))
        return self._pattern.sub(MASK, text)

    def mask_json(self, obj: Any) -> Any:
        """A copy of a JSON-like value with every string (keys included) masked."""
        if not self._secrets:
            return obj
        if isinstance(obj, str):
            return self.mask(obj)
        if isinstance(obj, dict):
            return {
                (self.mask(k) if isinstance(k, str) else k): self.mask_json(v)
                for k, v in obj.items()
            }
        if isinstance(obj, (list, tuple)):
            return [self.mask_json(item) for item in obj]
        return obj


def _forms(value: str) -> set[str]:
    return {value, json.dumps(value, ensure_ascii=False)[1:-1], quote(value, safe="")}


def _strings(obj: Any) -> Iterator[str]:
    """Every string of a JSON-like value, keys included: the places mask_json masks."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _strings(item)
