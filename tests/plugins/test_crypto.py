"""crypto.*: published test vectors, constant-time checks, sealed tokens that refuse tampering and
wrong keys, JWTs that PyJWT verifies, and keys that never show in a message, an output or a log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jsonschema import Draft202012Validator

from tests.conftest import Api
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import tasks_by_name
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins import crypto
from workflowdev.plugins.crypto import Base64
from workflowdev.plugins.crypto import Decrypt
from workflowdev.plugins.crypto import Encrypt
from workflowdev.plugins.crypto import Hash
from workflowdev.plugins.crypto import Hmac
from workflowdev.plugins.crypto import JwtSign

from .test_util import FakeContext

KEY = bytes(range(100, 132))
KEY_B64 = base64.b64encode(KEY).decode()
OTHER_KEY_B64 = base64.b64encode(bytes(32)).decode()
JWT_SECRET = "a-test-signing-secret-of-32-bytes"


async def call(plugin: type[Plugin], properties: Mapping[str, JSON], ctx: FakeContext | None = None) -> dict[str, Any]:
    return dict(await plugin().run(ctx or FakeContext(), properties))


async def failure(plugin: type[Plugin], properties: Mapping[str, JSON]) -> str:
    with pytest.raises(TaskFailed) as caught:
        await plugin().run(FakeContext(), properties)
    return str(caught.value)


# -- crypto.hash --------------------------------------------------------------------------------

# FIPS 180-4 / RFC 1321 / FIPS 202 / RFC 7693 digests of "abc".
ABC_DIGESTS = {
    "md5": "900150983cd24fb0d6963f7d28e17f72",
    "sha1": "a9993e364706816aba3e25717850c26c9cd0d89d",
    "sha224": "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
    "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    "sha384": "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
    "sha512": "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    "sha3_256": "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
    "blake2b": "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
    "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
}


@pytest.mark.parametrize(("algorithm", "digest"), ABC_DIGESTS.items())
async def test_hash_matches_the_published_vectors(algorithm: str, digest: str) -> None:
    assert await call(Hash, {"value": "abc", "algorithm": algorithm}) == {"digest": digest}


async def test_hash_defaults_to_sha256_hex_and_can_write_base64() -> None:
    sha256 = bytes.fromhex(ABC_DIGESTS["sha256"])
    assert await call(Hash, {"value": "abc"}) == {"digest": ABC_DIGESTS["sha256"]}
    assert await call(Hash, {"value": "abc", "encoding": "base64"}) == {"digest": base64.b64encode(sha256).decode()}


@pytest.mark.parametrize(("value", "input_encoding"), [("YWJj", "base64"), ("616263", "hex"), ("abc", "utf-8")])
async def test_hash_reads_binary_input_as_base64_or_hex(value: str, input_encoding: str) -> None:
    outputs = await call(Hash, {"value": value, "input_encoding": input_encoding})
    assert outputs == {"digest": ABC_DIGESTS["sha256"]}


async def test_hash_hashes_text_as_utf8() -> None:
    outputs = await call(Hash, {"value": "Zoë"})
    assert outputs == {"digest": hashlib.sha256("Zoë".encode()).hexdigest()}
    assert outputs["digest"] != hashlib.sha256("Zoë".encode("latin-1")).hexdigest()


@pytest.mark.parametrize(
    ("expected", "encoding", "matches"),
    [
        (ABC_DIGESTS["sha256"], "hex", True),
        (ABC_DIGESTS["sha256"].upper(), "hex", True),
        ("sha256=" + ABC_DIGESTS["sha256"], "hex", True),
        (base64.b64encode(bytes.fromhex(ABC_DIGESTS["sha256"])).decode(), "base64", True),
        (ABC_DIGESTS["sha256"][:-1] + "0", "hex", False),
        (ABC_DIGESTS["sha256"][:32], "hex", False),
        (ABC_DIGESTS["sha1"], "hex", False),
        ("", "hex", False),
    ],
)
async def test_hash_compares_with_expected(expected: str, encoding: str, matches: bool) -> None:
    outputs = await call(Hash, {"value": "abc", "expected": expected, "encoding": encoding})
    assert outputs["matches"] is matches


async def test_an_expected_digest_that_does_not_decode_is_a_mismatch_with_a_warning() -> None:
    ctx = FakeContext()
    outputs = await call(Hash, {"value": "abc", "expected": "not hex at all"}, ctx)
    assert outputs["matches"] is False
    assert ctx.log.lines == [("warning", "expected is not valid hex, so it cannot match the digest")]


async def test_expected_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(crypto.hmac, "compare_digest", spy)
    digest = bytes.fromhex(ABC_DIGESTS["sha256"])

    assert (await call(Hash, {"value": "abc", "expected": digest.hex()}))["matches"] is True
    assert (await call(Hmac, {"value": "abc", "key": "k", "expected": "00" * 32}))["matches"] is False
    assert seen[0] == (digest, digest)
    assert seen[1][1] == bytes(32)


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"value": "ab$c", "input_encoding": "base64"}, "value is not valid base64"),
        ({"value": "abc", "input_encoding": "hex"}, "value is not valid hex"),
        ({"value": 42}, "value must be text, got a number"),
        ({"value": "abc", "algorithm": "sha999"}, "algorithm must be one of sha256, sha384"),
        ({"value": "abc", "encoding": "octal"}, "encoding must be one of hex, base64"),
    ],
)
async def test_hash_refuses_bad_input_clearly(properties: dict[str, JSON], message: str) -> None:
    assert message in await failure(Hash, properties)


# -- crypto.hmac --------------------------------------------------------------------------------

# RFC 4231, test cases 1, 2, 3, 6 and 7.
LARGE_KEY = "aa" * 131
RFC4231 = [
    ("0b" * 20, "hex", "Hi There", "utf-8", "sha224", "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22"),
    ("0b" * 20, "hex", "Hi There", "utf-8", "sha256", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (
        "0b" * 20, "hex", "Hi There", "utf-8", "sha384",
        "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
    ),
    (
        "0b" * 20, "hex", "Hi There", "utf-8", "sha512",
        "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
        "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
    ),
    ("Jefe", "utf-8", "what do ya want for nothing?", "utf-8", "sha256",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (
        "Jefe", "utf-8", "what do ya want for nothing?", "utf-8", "sha512",
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    ),
    (base64.b64encode(b"\xaa" * 20).decode(), "base64", "dd" * 50, "hex", "sha256",
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (LARGE_KEY, "hex", "Test Using Larger Than Block-Size Key - Hash Key First", "utf-8", "sha256",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (
        LARGE_KEY, "hex",
        "This is a test using a larger than block-size key and a larger than block-size data. "
        "The key needs to be hashed before being used by the HMAC algorithm.",
        "utf-8", "sha256", "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("key", "key_encoding", "value", "input_encoding", "algorithm", "digest"), RFC4231)
async def test_hmac_matches_rfc_4231(
    key: str, key_encoding: str, value: str, input_encoding: str, algorithm: str, digest: str
) -> None:
    properties = {
        "key": key,
        "key_encoding": key_encoding,
        "value": value,
        "input_encoding": input_encoding,
        "algorithm": algorithm,
    }
    assert await call(Hmac, properties) == {"digest": digest}
    verified = await call(Hmac, {**properties, "expected": f"{algorithm}={digest}"})
    assert verified == {"digest": digest, "matches": True}


async def test_hmac_verifies_a_webhook_signature_and_rejects_a_forged_one() -> None:
    body = '{"action":"opened","number":7}'
    secret = "webhook-secret-123"
    signature = "sha256=" + hmac.new(secret.encode(), body.encode(), "sha256").hexdigest()

    good = await call(Hmac, {"value": body, "key": secret, "expected": signature})
    forged = await call(Hmac, {"value": body.replace("7", "8"), "key": secret, "expected": signature})
    wrong_secret = await call(Hmac, {"value": body, "key": "another-secret", "expected": signature})

    assert good["matches"] is True and forged["matches"] is False and wrong_secret["matches"] is False


async def test_hmac_base64_digest_as_slack_style_providers_send_it() -> None:
    digest = hmac.new(b"k", b"payload", "sha256").digest()
    outputs = await call(Hmac, {"value": "payload", "key": "k", "encoding": "base64",
                                "expected": base64.b64encode(digest).decode()})
    assert outputs == {"digest": base64.b64encode(digest).decode(), "matches": True}


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"value": "x", "key": "s3cr3t-key-value!", "key_encoding": "base64"}, "key is not valid base64"),
        ({"value": "x", "key": "s3cr3t-key-value!", "key_encoding": "hex"}, "key is not valid hex"),
        ({"value": "x", "key": ""}, "key is empty"),
        ({"value": "x", "key": "s3cr3t-key-value!", "algorithm": "sha999"}, "algorithm must be one of"),
    ],
)
async def test_hmac_key_errors_never_show_the_key(properties: dict[str, JSON], message: str) -> None:
    text = await failure(Hmac, properties)
    assert message in text
    assert "s3cr3t" not in text


# -- crypto.base64 ------------------------------------------------------------------------------

RFC4648 = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
           ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]  # fmt: skip


@pytest.mark.parametrize(("plain", "encoded"), RFC4648)
async def test_base64_matches_rfc_4648_both_ways(plain: str, encoded: str) -> None:
    assert await call(Base64, {"value": plain}) == {"value": encoded}
    assert await call(Base64, {"value": encoded, "action": "decode"}) == {"value": plain}


async def test_base64_url_safe_and_unpadded() -> None:
    binary = "fbff"  # encodes to characters that differ between the alphabets
    assert await call(Base64, {"value": binary, "encoding": "hex"}) == {"value": "+/8="}
    assert await call(Base64, {"value": binary, "encoding": "hex", "url_safe": True}) == {"value": "-_8="}
    unpadded = await call(Base64, {"value": binary, "encoding": "hex", "url_safe": True, "padding": False})
    assert unpadded == {"value": "-_8"}
    for token in ("-_8", "-_8=", "+/8="):
        assert await call(Base64, {"value": token, "action": "decode", "encoding": "hex"}) == {"value": binary}


async def test_base64_round_trips_unicode_and_ignores_line_breaks() -> None:
    text = "Zoë ✓ " * 30
    encoded = (await call(Base64, {"value": text}))["value"]
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert await call(Base64, {"value": wrapped, "action": "decode"}) == {"value": text}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc$", "value is not valid base64"),
        ("Zm9v.YmFy", "value is not valid base64"),
        ("Zm9vY", "value is not valid base64"),
        ("Zm9vé", "value is not valid base64"),
    ],
)
async def test_base64_refuses_invalid_input(value: str, message: str) -> None:
    assert message in await failure(Base64, {"value": value, "action": "decode"})


async def test_base64_decoding_binary_as_text_points_to_hex() -> None:
    message = await failure(Base64, {"value": "//79", "action": "decode"})
    assert message == "the decoded bytes are not UTF-8 text; use encoding: hex to get them as hex"
    assert await call(Base64, {"value": "//79", "action": "decode", "encoding": "hex"}) == {"value": "fffefd"}


# -- crypto.encrypt / crypto.decrypt ------------------------------------------------------------


def unpack(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


async def test_encrypt_then_decrypt_round_trips() -> None:
    sealed = await call(Encrypt, {"value": "card 4111 1111 1111 1111", "key": KEY_B64})
    opened = await call(Decrypt, {"value": sealed["ciphertext"], "key": KEY_B64})
    assert opened == {"plaintext": "card 4111 1111 1111 1111"}


async def test_every_encryption_uses_a_fresh_nonce_and_hides_the_value() -> None:
    first = unpack((await call(Encrypt, {"value": "same value", "key": KEY_B64}))["ciphertext"])
    second = unpack((await call(Encrypt, {"value": "same value", "key": KEY_B64}))["ciphertext"])
    assert first[1:13] != second[1:13] and first != second
    assert b"same value" not in first


async def test_the_token_is_the_documented_format() -> None:
    """Version byte 1, a 12-byte nonce, then AES-256-GCM ciphertext and tag: readable elsewhere."""
    token = (await call(Encrypt, {"value": "hello", "key": KEY_B64, "associated_data": "order-7"}))["ciphertext"]
    assert "=" not in token and "+" not in token and "/" not in token
    raw = unpack(token)
    assert raw[0] == 1 and len(raw) == 1 + 12 + len("hello") + 16
    assert AESGCM(KEY).decrypt(raw[1:13], raw[13:], b"order-7") == b"hello"


async def test_decrypt_reads_a_token_built_from_the_gcm_specification_vector() -> None:
    """McGrew & Viega, GCM test case 14: AES-256, zero key, zero IV, 16 zero bytes."""
    ciphertext_and_tag = bytes.fromhex("cea7403d4d606b6e074ec5d3baf39d18" "d0d1c8a799996bf0265b98b5d48ab919")
    token = base64.urlsafe_b64encode(b"\x01" + bytes(12) + ciphertext_and_tag).decode()
    opened = await call(Decrypt, {"value": token, "key": "00" * 32, "encoding": "base64"})
    assert opened == {"plaintext": base64.b64encode(bytes(16)).decode()}


async def test_a_key_may_be_written_in_hex_or_base64() -> None:
    sealed = await call(Encrypt, {"value": "x", "key": KEY.hex().upper()})
    opened = await call(Decrypt, {"value": sealed["ciphertext"], "key": base64.urlsafe_b64encode(KEY).decode()})
    assert opened == {"plaintext": "x"}


async def test_binary_values_go_through_base64() -> None:
    blob = base64.b64encode(bytes(range(256))).decode()
    sealed = await call(Encrypt, {"value": blob, "key": KEY_B64, "input_encoding": "base64"})
    assert await call(Decrypt, {"value": sealed["ciphertext"], "key": KEY_B64, "encoding": "base64"}) == {
        "plaintext": blob
    }
    message = await failure(Decrypt, {"value": sealed["ciphertext"], "key": KEY_B64})
    assert message == "the decrypted value is not UTF-8 text; use encoding: base64 to get its bytes"


@pytest.mark.parametrize("position", [1, 6, 13, 20, -1], ids=["nonce", "nonce-end", "ciphertext", "tag", "tag-end"])
async def test_a_tampered_token_fails_to_decrypt(position: int) -> None:
    raw = bytearray(unpack((await call(Encrypt, {"value": "pay 10 EUR", "key": KEY_B64}))["ciphertext"]))
    raw[position] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode()

    message = await failure(Decrypt, {"value": tampered, "key": KEY_B64})

    assert message.startswith("decryption failed: wrong key or altered data")


async def test_a_wrong_key_fails_without_showing_either_key() -> None:
    sealed = await call(Encrypt, {"value": "secret plan", "key": KEY_B64})
    message = await failure(Decrypt, {"value": sealed["ciphertext"], "key": OTHER_KEY_B64})
    assert message.startswith("decryption failed: wrong key or altered data")
    assert KEY_B64 not in message and OTHER_KEY_B64 not in message and "secret plan" not in message


async def test_associated_data_must_match() -> None:
    sealed = await call(Encrypt, {"value": "v", "key": KEY_B64, "associated_data": "customer-42"})
    token = sealed["ciphertext"]
    ok = await call(Decrypt, {"value": token, "key": KEY_B64, "associated_data": "customer-42"})
    assert ok == {"plaintext": "v"}
    for other in ({"associated_data": "customer-43"}, {}):
        message = await failure(Decrypt, {"value": token, "key": KEY_B64, **other})
        assert message.startswith("decryption failed: wrong key or altered data")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("s3cr3t not base64!", "the key given is neither"),
        (base64.b64encode(b"s3cr3t-16-bytes!").decode(), "it decodes to 16 bytes"),
        (base64.b64encode(b"s3cr3t" * 8).decode(), "it decodes to 48 bytes"),
        ("ab" * 31, "it decodes to"),
    ],
)
@pytest.mark.parametrize("plugin", [Encrypt, Decrypt])
async def test_bad_keys_are_refused_without_showing_them(plugin: type[Plugin], key: str, message: str) -> None:
    token = "AQ" + "A" * 60  # a well-formed token, so the key is what gets checked
    text = await failure(plugin, {"value": token, "key": key})
    assert message in text and "32 bytes" in text
    assert key not in text and "s3cr3t" not in text


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not*a*token", "value is not a crypto.encrypt token: not valid base64"),
        ("AQID", "value is too short to be a crypto.encrypt token"),
        (base64.urlsafe_b64encode(b"\x02" + bytes(40)).decode(), "unknown format version 2"),
    ],
)
async def test_decrypt_says_what_is_wrong_with_a_token(token: str, message: str) -> None:
    assert message in await failure(Decrypt, {"value": token, "key": KEY_B64})


# -- crypto.jwt_sign ----------------------------------------------------------------------------


def pem(private_key: Any) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def test_jwt_hs256_verifies_with_pyjwt_and_carries_the_shortcuts() -> None:
    before = int(time.time())
    outputs = await call(JwtSign, {
        "key": JWT_SECRET,
        "claims": {"scope": "invoices.read", "n": 3},
        "issuer": "workflowdev",
        "subject": "flow:billing",
        "audience": ["billing-api", "audit"],
        "expires_in": "5m",
        "headers": {"kid": "2024-key"},
    })  # fmt: skip

    token = outputs["token"]
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"], audience="billing-api", issuer="workflowdev")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": "2024-key"}
    assert claims["scope"] == "invoices.read" and claims["n"] == 3 and claims["sub"] == "flow:billing"
    assert claims["aud"] == ["billing-api", "audit"]
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 300
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, JWT_SECRET + "x", algorithms=["HS256"], audience="billing-api")


@pytest.mark.parametrize(("algorithm", "size"), [("HS384", 48), ("HS512", 64)])
async def test_jwt_longer_hmac_algorithms_and_binary_keys(algorithm: str, size: int) -> None:
    secret = bytes(range(size))
    token = (await call(JwtSign, {
        "key": base64.b64encode(secret).decode(), "key_encoding": "base64", "algorithm": algorithm, "claims": {"a": 1}
    }))["token"]  # fmt: skip
    assert jwt.decode(token, secret, algorithms=[algorithm])["a"] == 1


async def test_an_expired_token_is_refused_by_pyjwt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "_now", lambda: time.time() - 3600)
    token = (await call(JwtSign, {"key": JWT_SECRET, "expires_in": "10m"}))["token"]
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, JWT_SECRET, algorithms=["HS256"])


async def test_jwt_rs256_and_ps256_verify_with_the_public_key(rsa_key: rsa.RSAPrivateKey) -> None:
    for algorithm in ("RS256", "PS256"):
        token = (await call(JwtSign, {"key": pem(rsa_key), "algorithm": algorithm, "subject": "svc"}))["token"]
        assert jwt.decode(token, rsa_key.public_key(), algorithms=[algorithm])["sub"] == "svc"


@pytest.mark.parametrize(
    ("algorithm", "private_key"),
    [
        ("ES256", ec.generate_private_key(ec.SECP256R1())),
        ("ES384", ec.generate_private_key(ec.SECP384R1())),
        ("EdDSA", ed25519.Ed25519PrivateKey.generate()),
    ],
)
async def test_jwt_ec_and_eddsa_verify_with_the_public_key(algorithm: str, private_key: Any) -> None:
    token = (await call(JwtSign, {"key": pem(private_key), "algorithm": algorithm, "claims": {"k": "v"}}))["token"]
    assert jwt.decode(token, private_key.public_key(), algorithms=[algorithm])["k"] == "v"


async def test_jwt_keys_that_do_not_fit_the_algorithm_are_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    p384 = pem(ec.generate_private_key(ec.SECP384R1()))
    weak_rsa = pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    public_only = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    encrypted = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()
    cases = [
        ({"key": "short-s3cr3t"}, "key is 12 bytes; HS256 needs at least 32"),
        ({"key": "s3cr3t" * 8, "algorithm": "HS512"}, "HS512 needs at least 64"),
        ({"key": "s3cr3t!!", "key_encoding": "base64"}, "key is not valid base64"),
        ({"key": pem(rsa_key), "algorithm": "HS256"}, "asymmetric key"),
        ({"key": pem(rsa_key), "algorithm": "ES256"}, "ES256 needs an EC private key on curve secp256r1"),
        ({"key": p384, "algorithm": "ES256"}, "ES256 needs an EC private key on curve secp256r1"),
        ({"key": p384, "algorithm": "RS256"}, "RS256 needs an RSA private key"),
        ({"key": p384, "algorithm": "EdDSA"}, "EdDSA needs an Ed25519 or Ed448 private key"),
        ({"key": weak_rsa, "algorithm": "RS256"}, "the RSA key has 1024 bits; RS256 needs at least 2048"),
        ({"key": public_only, "algorithm": "RS256"}, "key is not a PEM private key"),
        ({"key": "s3cr3t garbage", "algorithm": "RS256"}, "key is not a PEM private key"),
        ({"key": encrypted, "algorithm": "RS256"}, "key is an encrypted PEM private key"),
        ({"key": pem(rsa_key), "algorithm": "RS256", "key_encoding": "utf-8"}, "key_encoding is only for HS256"),
    ]
    for properties, message in cases:
        text = await failure(JwtSign, properties)
        assert message in text, (properties.get("algorithm"), text)
        assert "s3cr3t" not in text and "PRIVATE KEY-----\n" not in text


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"issuer": "a", "claims": {"iss": "b"}}, "issuer and claims.iss are both given; use one"),
        ({"audience": "a", "claims": {"aud": "b"}}, "audience and claims.aud are both given"),
        ({"expires_in": "1h", "claims": {"exp": 1}}, "expires_in and claims.exp are both given"),
        ({"expires_in": "500ms"}, "expires_in must be at least one second"),
        ({"expires_in": "soon"}, "expires_in: invalid duration"),
        ({"headers": {"alg": "none"}}, "headers must not set alg; use algorithm"),
        ({"headers": {"kid": 7}}, "could not sign the token: Key ID header parameter must be a string"),
        ({"claims": ["not", "an", "object"]}, "claims must be an object"),
        ({"algorithm": "none"}, "algorithm must be one of HS256"),
    ],
)
async def test_jwt_refuses_ambiguous_or_invalid_requests(properties: dict[str, JSON], message: str) -> None:
    assert message in await failure(JwtSign, {"key": JWT_SECRET, **properties})


async def test_jwt_keeps_an_iat_the_author_gives() -> None:
    token = (await call(JwtSign, {"key": JWT_SECRET, "claims": {"iat": 1_700_000_000}}))["token"]
    assert jwt.decode(token, JWT_SECRET, algorithms=["HS256"])["iat"] == 1_700_000_000


# -- manifests ----------------------------------------------------------------------------------

EXAMPLES = [
    pytest.param(plugin, example, id=f"{plugin.manifest.id}[{number}]")
    for plugin in crypto.PLUGINS
    for number, example in enumerate(plugin.manifest.examples)
]


@pytest.mark.parametrize(("plugin", "example"), EXAMPLES)
async def test_crypto_examples_run_offline_and_match_the_output_schema(plugin: type[Plugin], example: str) -> None:
    (task,) = yaml.safe_load(example)
    assert task["type"] == plugin.manifest.id

    result = await call(plugin, task.get("properties", {}))

    errors = list(Draft202012Validator(plugin.manifest.output_schema).iter_errors(result))
    assert errors == []
    if "expected" in task.get("properties", {}):
        assert result["matches"] is True, "an example that checks a digest shows a match"


async def test_the_decrypt_example_opens_what_the_encrypt_example_describes() -> None:
    (encrypt,) = yaml.safe_load(Encrypt.manifest.examples[0])
    (decrypt,) = yaml.safe_load(Decrypt.manifest.examples[0])
    opened = await call(Decrypt, decrypt["properties"])
    assert opened == {"plaintext": encrypt["properties"]["value"]}


@pytest.mark.parametrize(
    ("plugin", "properties"),
    [
        (Hash, {"value": "x", "algorithm": "sha999"}),
        (Hash, {"value": "x", "input_encoding": "latin-1"}),
        (Hmac, {"value": "x"}),
        (Hmac, {"value": "x", "key": ""}),
        (Base64, {"value": "x", "action": "rot13"}),
        (Encrypt, {"value": "x"}),
        (Decrypt, {"value": "x", "key": KEY_B64, "encoding": "hex"}),
        (JwtSign, {"key": JWT_SECRET, "headers": {"alg": "none"}}),
        (JwtSign, {"key": JWT_SECRET, "algorithm": "none"}),
        (JwtSign, {"key": JWT_SECRET, "expires_in": "an hour"}),
        (JwtSign, {"key": JWT_SECRET, "audience": []}),
    ],
)
def test_schemas_refuse_what_run_would_refuse(plugin: type[Plugin], properties: dict[str, JSON]) -> None:
    assert not Draft202012Validator(plugin.manifest.input_schema).is_valid(properties)


# -- in a flow ----------------------------------------------------------------------------------

SEAL_AND_OPEN = """
name: seal-and-open
tasks:
  - name: seal
    type: crypto.encrypt
    properties: {value: "card 4111 1111 1111 1111", key: "${TEST_KEY}", associated_data: order-7}
  - name: mention
    type: util.log
    properties: {message: "sealed with ${TEST_KEY}"}
  - name: open
    type: crypto.decrypt
    properties: {value: "{{ outputs.seal.ciphertext }}", key: "${TEST_KEY}", associated_data: order-7}
"""


async def test_a_flow_encrypts_and_decrypts_with_a_credential_key_that_never_shows(api: Api) -> None:
    created = await api.post("/api/v1/credentials", json={"name": "TEST_KEY", "value": KEY_B64})
    assert created.status == 201, created.body

    body = await run(api, SEAL_AND_OPEN)

    assert body["execution"]["status"] == "SUCCESS", body
    tasks = tasks_by_name(body)
    token = outputs(tasks["seal"][0])["ciphertext"]
    assert AESGCM(KEY).decrypt(unpack(token)[1:13], unpack(token)[13:], b"order-7") == b"card 4111 1111 1111 1111"
    assert outputs(tasks["open"][0]) == {"plaintext": "card 4111 1111 1111 1111"}
    logs = await api.get(f"/api/v1/executions/{body['execution']['id']}/logs")
    assert logs.status == 200
    assert any(line["message"] == "sealed with ***" for line in logs.body)
    shown = json.dumps(body) + json.dumps(logs.body)
    assert KEY_B64 not in shown and KEY_B64.rstrip("=") not in shown
