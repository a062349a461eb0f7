"""The masker, over generated secrets and generated JSON documents that carry them.

Whatever a secret holds (quotes, slashes, non-ASCII) and wherever it sits in a document (a key,
deep in a list, inside a longer string, JSON-escaped or URL-encoded by the flow), the masked copy
shows none of it, and `found_in` names it, so a value handed on carries its secrets along.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from workflowdev.engine.secrets import SecretMasker

secrets = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="*"), min_size=SecretMasker.MIN_LENGTH, max_size=40
)
plain = st.text(alphabet="abc xyz-_/", max_size=12)
FORMS = (
    lambda s: s,
    lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    lambda s: quote(s, safe=""),
)


@st.composite
def carrying(draw: st.DrawFn, secret: str) -> Any:
    """A JSON document with the secret, in one of its forms, somewhere inside a string or a key."""
    form = draw(st.sampled_from(FORMS))(secret)
    text = draw(plain) + form + draw(plain)
    leaf: Any = draw(st.sampled_from(["value", "key"]))
    leaf = {text: 1} if leaf == "key" else text
    for wrap in draw(st.lists(st.sampled_from(["list", "dict"]), max_size=4)):
        leaf = [draw(plain), leaf] if wrap == "list" else {draw(plain): leaf, "n": draw(st.integers())}
    return leaf


@settings(max_examples=300, deadline=None)
@given(data=st.data(), secret=secrets)
def test_no_form_of_a_secret_survives_masking(data: st.DataObject, secret: str) -> None:
    masker = SecretMasker()
    masker.add(secret)
    document = data.draw(carrying(secret))

    masked = json.dumps(masker.mask_json(document), ensure_ascii=False)

    for form in FORMS:
        assert form(secret) not in masked
    assert masker.found_in(document) == [secret]


@settings(max_examples=100, deadline=None)
@given(secret=secrets, other=st.text(alphabet="0123456789", min_size=1, max_size=8))
def test_documents_without_the_secret_are_left_as_they_are(secret: str, other: str) -> None:
    masker = SecretMasker()
    masker.add(secret)
    document = {"id": other, "items": [other, {"n": 1}]}
    if secret in json.dumps(document):
        return
    assert masker.mask_json(document) == document
    assert masker.found_in(document) == []


def test_a_secret_that_contains_another_is_hidden_whole() -> None:
    masker = SecretMasker()
    masker.add("abcd")
    masker.add("abcdefgh")
    assert masker.mask("x abcdefgh y abcd") == "x *** y ***"
    assert masker.found_in(["abcdefgh"]) == ["abcd", "abcdefgh"]
