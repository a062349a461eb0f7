"""Webhook signatures: proof that a call comes from someone who holds the trigger's secret.

Two schemes, chosen per trigger with `config.signature`:

- `body` (the default, as in the API reference): `X-Workflowdev-Signature: sha256=<hex>`, the
  HMAC-SHA256 of the raw body. Simple, but a call captured once can be sent again verbatim,
  forever.
- `timestamped`: `X-Workflowdev-Signature: t=<unix seconds>,v1=<hex>`, the HMAC-SHA256 of
  `<t>.<raw body>`. The timestamp is inside the HMAC, so it cannot be changed without the
  secret, and a call older (or newer) than `config.tolerance` seconds (300 by default) is
  refused. Inside the tolerance a verbatim replay is answered with the first call's execution:
  the signature doubles as the call's idempotency key.

Several `v1=` entries may be sent (a sender rolling its secret signs with both); one matching
is enough. Every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SCHEMES = ("body", "timestamped")
DEFAULT_SCHEME = "body"
DEFAULT_TOLERANCE_SECONDS = 300
MAX_TOLERANCE_SECONDS = 3600
MAX_TIMESTAMP_DIGITS = 12
"""Unix seconds have 10 digits until the year 2286; more is not a timestamp."""
HEADER = "X-Workflowdev-Signature"


class SignatureRefused(Exception):
    """The call is not signed as its trigger requires; the message says how it should be."""


@dataclass(frozen=True)
class Verified:
    """A call whose signature holds. `replay_key`: what identifies a verbatim resend of it
    (timestamped scheme only; a body-only signature cannot tell a resend from a new call)."""

    replay_key: str | None


def body_signature(secret: str, body: bytes) -> str:
    return "sha256=" + _hmac(secret, body)


def timestamped_signature(secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1=" + _hmac(secret, f"{timestamp}.".encode() + body)


def config_problems(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems with a webhook trigger's `signature` and `tolerance` settings."""
    problems: list[tuple[str, str]] = []
    scheme = config.get("signature", DEFAULT_SCHEME)
    if scheme not in SCHEMES:
        problems.append(("signature", f"must be one of {', '.join(SCHEMES)}"))
    elif "signature" in config and not config.get("secret"):
        problems.append(("signature", "needs a secret to sign with"))
    if "tolerance" in config:
        tolerance = config["tolerance"]
        if scheme != "timestamped":
            problems.append(("tolerance", "applies to the timestamped signature scheme only"))
        elif isinstance(tolerance, bool) or not isinstance(tolerance, int) or not 1 <= tolerance <= MAX_TOLERANCE_SECONDS:
            problems.append(("tolerance", f"must be a whole number of seconds from 1 to {MAX_TOLERANCE_SECONDS}"))
    return problems


def verify(config: Mapping[str, Any], body: bytes, header: str | None, now: float) -> Verified:
    """Check a call against its trigger's config; `now` in unix seconds. A trigger without a
    secret takes any call."""
    secret = config.get("secret")
    if not secret:
        return Verified(None)
    if config.get("signature", DEFAULT_SCHEME) == "body":
        if header is None or not _same(body_signature(secret, body), header.strip()):
            raise SignatureRefused(f"missing or wrong {HEADER} (sha256=<hex HMAC-SHA256 of the body>)")
        return Verified(None)
    timestamp, digests = _parse_timestamped(header)
    tolerance = config.get("tolerance", DEFAULT_TOLERANCE_SECONDS)
    expected = _hmac(secret, f"{timestamp}.".encode() + body)
    if not any(_same(expected, digest) for digest in digests):
        raise SignatureRefused(f"wrong {HEADER}: v1 must be the hex HMAC-SHA256 of '<t>.<body>'")
    if abs(now - timestamp) > tolerance:
        raise SignatureRefused(f"{HEADER} timestamp is more than {tolerance} s away from the server's clock")
    return Verified(f"signature:{expected}")


def _parse_timestamped(header: str | None) -> tuple[int, list[str]]:
    usage = f"{HEADER} must be t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>"
    if header is None:
        raise SignatureRefused(f"missing {HEADER}; {usage}")
    timestamps: list[str] = []
    digests: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            digests.append(value)
    if len(timestamps) != 1 or not digests:
        raise SignatureRefused(usage)
    raw = timestamps[0]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_TIMESTAMP_DIGITS):
        raise SignatureRefused(usage)
    return int(raw), digests


def _hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode(errors="replace"))
