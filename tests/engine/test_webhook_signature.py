"""Webhook signature schemes, checked over generated bodies, clocks and headers."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflowdev.engine.language.webhook_signature import SignatureRefused
from workflowdev.engine.language.webhook_signature import Verified
from workflowdev.engine.language.webhook_signature import verify

SECRET = "s3cret-value"
NOW = 1_796_640_000
TIMESTAMPED = {"secret": SECRET, "signature": "timestamped", "tolerance": 300}

bodies = st.binary(max_size=512)


def stamped(body: bytes, t: int, secret: str = SECRET) -> str:
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


@given(body=bodies, skew=st.integers(-300, 300))
def test_a_call_signed_within_the_tolerance_holds(body: bytes, skew: int) -> None:
    verified = verify(TIMESTAMPED, body, stamped(body, NOW + skew), now=NOW)
    assert verified.replay_key is not None


@given(body=bodies, skew=st.integers(301, 10**9), sign=st.sampled_from([-1, 1]))
def test_a_call_signed_outside_the_tolerance_is_refused(body: bytes, skew: int, sign: int) -> None:
    with pytest.raises(SignatureRefused, match="300 s"):
        verify(TIMESTAMPED, body, stamped(body, NOW + sign * skew), now=NOW)


@given(body=bodies.filter(bool), data=st.data())
def test_any_changed_byte_of_the_body_is_refused(body: bytes, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = body[:at] + bytes([body[at] ^ flip]) + body[at + 1 :]
    with pytest.raises(SignatureRefused):
        verify(TIMESTAMPED, changed, stamped(body, NOW), now=NOW)


@given(body=bodies)
def test_the_replay_key_names_the_signed_content_not_the_header(body: bytes) -> None:
    one = verify(TIMESTAMPED, body, stamped(body, NOW), now=NOW)
    again = verify(TIMESTAMPED, body, f"v1={'0' * 64}, {stamped(body, NOW)}", now=NOW)
    later = verify(TIMESTAMPED, body, stamped(body, NOW + 1), now=NOW)
    assert one.replay_key == again.replay_key != later.replay_key


@given(header=st.one_of(st.none(), st.text(max_size=200)), body=bodies)
def test_any_header_is_refused_or_holds_never_crashes(header: str | None, body: bytes) -> None:
    for config in (TIMESTAMPED, {"secret": SECRET}):
        try:
            verify(config, body, header, now=NOW)
        except SignatureRefused as exc:
            assert str(exc)


@given(body=bodies)
def test_the_body_scheme_stays_as_the_reference_says(body: bytes) -> None:
    good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert verify({"secret": SECRET}, body, f" {good} ", now=NOW) == Verified(None)
    with pytest.raises(SignatureRefused):
        verify({"secret": SECRET}, body + b"x", good, now=NOW)


def test_a_trigger_without_a_secret_takes_any_call() -> None:
    assert verify({}, b"{}", None, now=NOW) == Verified(None)
