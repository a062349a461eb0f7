"""crypto: hashes, HMACs, base64, AES-256-GCM encryption and signed JWTs.

Only standard algorithms from hashlib, hmac, `cryptography` and PyJWT: nothing here is home-made
cryptography. Two rules run through the module. Every comparison with an `expected` value is
constant-time (`hmac.compare_digest`), because a flow that checks a webhook signature must not
reveal through its timing how much of a forged one was right. And no key ever appears in an
output, a log line or an error message: keys normally arrive as `${CREDENTIAL}`s, and the
engine's masking is the last line of defence, not the first.

Text in properties stands for bytes in one of three ways (`utf-8` text, `base64`, `hex`); the
same words mean the same thing in every task type here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import re
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import ClassVar
from typing import Final

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import ed448
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workflowdev.engine.plugin import DURATION_SCHEMA
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import parse_duration
from workflowdev.plugins._toolkit import enum_schema
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_choice
from workflowdev.plugins._toolkit import read_text
from workflowdev.plugins._toolkit import single_value
from workflowdev.plugins._toolkit import task_example

__all__ = ["PLUGINS", "Base64", "Decrypt", "Encrypt", "Hash", "Hmac", "JwtSign"]

HASH_ALGORITHMS: Final = (
    "sha256", "sha384", "sha512", "sha224", "sha1", "md5",
    "sha3_256", "sha3_384", "sha3_512", "sha3_224", "blake2b", "blake2s",
)  # fmt: skip
"""hashlib's fixed-length digests that every Python build has (md5 and sha1 for old protocols)."""

BYTE_ENCODINGS: Final = ("utf-8", "base64", "hex")
DIGEST_ENCODINGS: Final = ("hex", "base64")

TOKEN_VERSION: Final = 1
"""First byte of a crypto.encrypt token, so a later format can be told apart from this one."""
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
AES_KEY_BYTES: Final = 32
DECRYPTION_FAILED: Final = "decryption failed: wrong key or altered data"

HMAC_JWT_ALGORITHMS: Final = {"HS256": 32, "HS384": 48, "HS512": 64}
"""HMAC algorithm → the least key size in bytes: RFC 7518 §3.2 requires at least the hash size."""
CURVES: Final[dict[str, type[ec.EllipticCurve]]] = {
    "ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1,
}  # fmt: skip
RSA_JWT_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
JWT_ALGORITHMS: Final = (*HMAC_JWT_ALGORITHMS, *RSA_JWT_ALGORITHMS, *CURVES, "EdDSA")
MIN_RSA_BITS: Final = 2048
"""NIST SP 800-131A: shorter RSA keys are no longer acceptable for signatures."""

EXAMPLE_AES_KEY: Final = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
"""Bytes 0..31 in base64: an EXAMPLE key for the manifests, never one to protect data with."""
PLAIN_ENCODINGS: Final = ("utf-8", "base64")
"""How the plain side of crypto.encrypt and crypto.decrypt is written: text, or base64 for bytes."""


def _b64decode(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not, line breaks allowed; raises ValueError.

    Lenient in layout only: the two alphabets do not clash, unpadded base64url is the norm in
    tokens, and PEM/MIME text wraps lines. Any character outside the alphabets is refused.
    """
    compact = "".join(text.split())
    return base64.b64decode(compact + "=" * (-len(compact) % 4), altchars=b"-_", validate=True)


def _decode(text: str, encoding: str, name: str) -> bytes:
    """The bytes `text` stands for; the error says what is wrong, never what the text was."""
    if encoding == "utf-8":
        return text.encode()
    try:
        return bytes.fromhex(text) if encoding == "hex" else _b64decode(text)
    except ValueError as exc:
        reason = "" if encoding == "hex" else f" ({exc})"
        raise TaskFailed(f"{name} is not valid {encoding}{reason}") from None


def _encode_digest(digest: bytes, encoding: str) -> str:
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


def _matches(ctx: TaskContext, digest: bytes, expected: str, encoding: str, algorithm: str) -> bool:
    """Constant-time comparison of `expected` (in `encoding`, maybe `<algorithm>=`-prefixed).

    An `expected` that does not even decode is a mismatch rather than a failure: it is usually
    untrusted input (a signature header), and a flow should be able to branch on `matches`.
    """
    text = expected.strip()
    if text.lower().startswith(f"{algorithm}="):
        text = text[len(algorithm) + 1 :]
    try:
        candidate = bytes.fromhex(text) if encoding == "hex" else _b64decode(text)
    except ValueError:
        ctx.log.warning(f"expected is not valid {encoding}, so it cannot match the digest")
        return False
    return hmac.compare_digest(digest, candidate)


def _digest_value(
    ctx: TaskContext, properties: Mapping[str, JSON], algorithm: str, digest_of: Callable[[bytes], bytes]
) -> dict[str, JSON]:
    """crypto.hash and crypto.hmac: `value` decoded, digested, written and maybe compared alike."""
    input_encoding = read_choice(properties, "input_encoding", BYTE_ENCODINGS, "utf-8")
    data = _decode(read_text(properties, "value"), input_encoding, "value")
    try:
        digest = digest_of(data)
    except ValueError:
        raise TaskFailed(f"hash algorithm {algorithm} is not available in this Python build") from None
    encoding = read_choice(properties, "encoding", DIGEST_ENCODINGS, "hex")
    outputs: dict[str, JSON] = {"digest": _encode_digest(digest, encoding)}
    if properties.get("expected") is not None:
        outputs["matches"] = _matches(ctx, digest, read_text(properties, "expected"), encoding, algorithm)
    return outputs


def _aes_key(properties: Mapping[str, JSON]) -> AESGCM:
    """The 32-byte key from base64 (44 characters) or hex (64); errors give sizes, never content."""
    text = "".join(read_text(properties, "key").split())
    try:
        key = bytes.fromhex(text) if re.fullmatch(r"[0-9a-fA-F]{64}", text) else _b64decode(text)
    except ValueError:
        raise TaskFailed(
            "key must be 32 bytes written as base64 (44 characters) or hex (64 characters); the key given is neither"
        ) from None
    if len(key) != AES_KEY_BYTES:
        raise TaskFailed(
            f"key must be 32 bytes for AES-256 (44 base64 or 64 hex characters); it decodes to {len(key)} bytes"
        )
    return AESGCM(key)


def _associated_data(properties: Mapping[str, JSON]) -> bytes | None:
    return read_text(properties, "associated_data").encode() if "associated_data" in properties else None


HASH_ALGORITHM_SCHEMA: Final = enum_schema(HASH_ALGORITHMS, "sha256", "The hash function.")
DIGEST_ENCODING_SCHEMA: Final = enum_schema(
    DIGEST_ENCODINGS, "hex", "How the digest is written: lowercase hex or base64."
)
INPUT_ENCODING_SCHEMA: Final = enum_schema(
    BYTE_ENCODINGS, "utf-8", "How `value` stands for bytes: UTF-8 text, base64 or hex (for binary data)."
)
EXPECTED_SCHEMA: Final = {
    "type": "string",
    "description": (
        "A digest to compare with, written in `encoding` (hex in any case); an `<algorithm>=` prefix "
        "as in `sha256=…` signature headers is ignored. Compared in constant time; the result is "
        "`matches`. A value that is not valid in `encoding` does not match."
    ),
}
DIGEST_OUTPUT_SCHEMA: Final = object_schema(
    {
        "digest": {"type": "string", "description": "The digest in the requested encoding."},
        "matches": {
            "type": "boolean",
            "description": "Only when `expected` is given: whether it equals the digest.",
        },
    },
    ["digest"],
)


class Hash(Plugin):
    """A digest of some text or bytes, optionally checked against an expected one."""

    manifest: ClassVar[Manifest] = Manifest(
        id="crypto.hash",
        name="Hash a value",
        category="crypto",
        description=(
            "Computes a hash (SHA-2, SHA-3, BLAKE2, or SHA-1/MD5 for old protocols) of `value` and "
            "returns it as hex or base64. With `expected`, also says whether it matches, compared "
            "in constant time: the way to check a download's checksum."
        ),
        input_schema=object_schema(
            {
                "value": {"type": "string", "description": "What to hash."},
                "algorithm": HASH_ALGORITHM_SCHEMA,
                "encoding": DIGEST_ENCODING_SCHEMA,
                "input_encoding": INPUT_ENCODING_SCHEMA,
                "expected": EXPECTED_SCHEMA,
            },
            ["value"],
        ),
        output_schema=DIGEST_OUTPUT_SCHEMA,
        examples=(
            task_example(
                "fingerprint",
                "crypto.hash",
                """
                value: hello world
                algorithm: sha256
                """,
            ),
            task_example(
                "verify_checksum",
                "crypto.hash",
                """
                value: aGVsbG8gd29ybGQ=
                input_encoding: base64
                expected: b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        algorithm = read_choice(properties, "algorithm", HASH_ALGORITHMS, "sha256")
        return _digest_value(ctx, properties, algorithm, lambda data: hashlib.new(algorithm, data).digest())


class Hmac(Plugin):
    """A keyed digest: signing a request, or verifying a webhook's signature."""

    manifest: ClassVar[Manifest] = Manifest(
        id="crypto.hmac",
        name="HMAC a value",
        category="crypto",
        description=(
            "Computes the HMAC (RFC 2104) of `value` with `key` and returns it as hex or base64. "
            "With `expected` (say, a webhook's signature header), also says whether it matches, "
            "compared in constant time. Keep the key in a credential: `key: ${WEBHOOK_SECRET}`."
        ),
        input_schema=object_schema(
            {
                "value": {"type": "string", "description": "The message, such as a raw request body."},
                "key": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The secret key, usually a credential reference such as ${WEBHOOK_SECRET}.",
                },
                "key_encoding": enum_schema(
                    BYTE_ENCODINGS, "utf-8", "How `key` stands for bytes: UTF-8 text, base64 or hex."
                ),
                "algorithm": HASH_ALGORITHM_SCHEMA,
                "encoding": DIGEST_ENCODING_SCHEMA,
                "input_encoding": INPUT_ENCODING_SCHEMA,
                "expected": EXPECTED_SCHEMA,
            },
            ["value", "key"],
        ),
        output_schema=DIGEST_OUTPUT_SCHEMA,
        examples=(
            task_example(
                "verify_signature",
                "crypto.hmac",
                """
                value: '{"event":"ping"}'
                key: example-webhook-secret  # an example; use ${WEBHOOK_SECRET}
                algorithm: sha256
                expected: sha256=0a8a628dc1ff267cca16d4556bb217a4c7e51f2c35b7ae9e784be56f1dc21c9f
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        algorithm = read_choice(properties, "algorithm", HASH_ALGORITHMS, "sha256")
        key = _decode(
            read_text(properties, "key"), read_choice(properties, "key_encoding", BYTE_ENCODINGS, "utf-8"), "key"
        )
        if not key:
            raise TaskFailed("key is empty")
        return _digest_value(ctx, properties, algorithm, lambda data: hmac.new(key, data, algorithm).digest())


class Base64(Plugin):
    """Encode to or decode from base64, standard or URL-safe."""

    manifest: ClassVar[Manifest] = Manifest(
        id="crypto.base64",
        name="Base64 encode or decode",
        category="crypto",
        description=(
            "Encodes `value` to base64 (standard, or URL-safe with `url_safe`; without `=` padding "
            "when `padding` is false), or decodes base64 back. Decoding accepts both alphabets, with "
            "or without padding, and ignores line breaks; any other character fails the task. The "
            "plain side is UTF-8 text, or hex for binary data (`encoding: hex`)."
        ),
        input_schema=object_schema(
            {
                "value": {"type": "string", "description": "The text to encode, or the base64 to decode."},
                "action": enum_schema(("encode", "decode"), "encode", "Encode to base64, or decode from it."),
                "url_safe": flag_schema(False, "Encode with the URL-safe alphabet (- and _ instead of + and /)."),
                "padding": flag_schema(True, "Whether encoding ends with `=` padding; decoding accepts either."),
                "encoding": enum_schema(
                    ("utf-8", "hex"),
                    "utf-8",
                    "How the plain side is written: UTF-8 text, or hex for binary data.",
                ),
            },
            ["value"],
        ),
        output_schema=single_value(
            "value", {"type": "string", "description": "The base64 text, or the decoded text (or hex)."}
        ),
        examples=(
            task_example("basic_auth", "crypto.base64", "value: 'user:example-password'"),
            task_example(
                "read_payload",
                "crypto.base64",
                """
                action: decode
                value: eyJvayI6dHJ1ZX0
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        action = read_choice(properties, "action", ("encode", "decode"), "encode")
        encoding = read_choice(properties, "encoding", ("utf-8", "hex"), "utf-8")
        value = read_text(properties, "value")
        if action == "decode":
            data = _decode(value, "base64", "value")
            if encoding == "hex":
                return {"value": data.hex()}
            try:
                return {"value": data.decode()}
            except UnicodeDecodeError:
                raise TaskFailed("the decoded bytes are not UTF-8 text; use encoding: hex to get them as hex") from None
        data = _decode(value, encoding, "value")
        encoded = (base64.urlsafe_b64encode if properties.get("url_safe", False) else base64.b64encode)(data)
        text = encoded.decode()
        return {"value": text if properties.get("padding", True) else text.rstrip("=")}


AES_KEY_SCHEMA: Final = {
    "type": "string",
    "description": (
        "The 32-byte AES-256 key as base64 (44 characters) or hex (64), normally a credential "
        "reference such as ${DATA_KEY}. Make one with `openssl rand -base64 32`."
    ),
}
ASSOCIATED_DATA_SCHEMA: Final = {
    "type": "string",
    "description": (
        "Text that is authenticated but not encrypted (a record id, say): decryption needs the same "
        "text, so a token cannot be moved to another record."
    ),
}


def _aes_input_schema(value: str, encoding: str, encoding_description: str) -> dict[str, JSON]:
    """crypto.encrypt and crypto.decrypt take the same properties: the value, the key and the
    associated data, and how the plain side is written (`input_encoding` or `encoding`)."""
    return object_schema(
        {
            "value": {"type": "string", "description": value},
            "key": AES_KEY_SCHEMA,
            "associated_data": ASSOCIATED_DATA_SCHEMA,
            encoding: enum_schema(PLAIN_ENCODINGS, "utf-8", encoding_description),
        },
        ["value", "key"],
    )


def _aes_example(name: str, task_type: str, value: str) -> str:
    """The encrypt and decrypt examples are one round trip: decrypt's value is a token that
    encrypt's example makes, under the same example key and associated data."""
    return task_example(
        name,
        task_type,
        f"""
        value: {value}
        key: {EXAMPLE_AES_KEY}  # an EXAMPLE key; use ${{DATA_KEY}}
        associated_data: customer-42
        """,
    )


class Encrypt(Plugin):
    """Seal a value with AES-256-GCM into one self-contained text token."""

    manifest: ClassVar[Manifest] = Manifest(
        id="crypto.encrypt",
        name="Encrypt (AES-256-GCM)",
        category="crypto",
        description=(
            "Encrypts `value` with AES-256-GCM under a fresh random 96-bit nonce, so encrypting the "
            "same value twice gives different tokens. The token is URL-safe base64 (unpadded) of a "
            "version byte (1), the nonce, then the ciphertext and its 16-byte tag; crypto.decrypt "
            "reads it back, and any change to it is detected."
        ),
        input_schema=_aes_input_schema(
            "What to encrypt.",
            "input_encoding",
            "How `value` stands for bytes: UTF-8 text, or base64 for binary data.",
        ),
        output_schema=single_value(
            "ciphertext", {"type": "string", "description": "The token, URL-safe base64 without padding."}
        ),
        examples=(_aes_example("seal", "crypto.encrypt", "account 12345678"),),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        input_encoding = read_choice(properties, "input_encoding", PLAIN_ENCODINGS, "utf-8")
        data = _decode(read_text(properties, "value"), input_encoding, "value")
        cipher = _aes_key(properties)
        nonce = os.urandom(NONCE_BYTES)
        sealed = cipher.encrypt(nonce, data, _associated_data(properties))
        token = base64.urlsafe_b64encode(bytes([TOKEN_VERSION]) + nonce + sealed).rstrip(b"=")
        return {"ciphertext": token.decode()}


class Decrypt(Plugin):
    """Open a crypto.encrypt token, refusing any that was altered or sealed under another key."""

    manifest: ClassVar[Manifest] = Manifest(
        id="crypto.decrypt",
        name="Decrypt (AES-256-GCM)",
        category="crypto",
        description=(
            "Decrypts a token made by crypto.encrypt with the same key (and the same "
            "`associated_data`, if one was given). A wrong key or a token changed in any way fails "
            "the task with 'decryption failed: wrong key or altered data'."
        ),
        input_schema=_aes_input_schema(
            "The token from crypto.encrypt's `ciphertext`.",
            "encoding",
            "How to return the plaintext: UTF-8 text, or base64 for binary data.",
        ),
        output_schema=single_value(
            "plaintext", {"type": "string", "description": "The decrypted value, in `encoding`."}
        ),
        examples=(
            _aes_example("unseal", "crypto.decrypt", "AcF_INWmMC8gO4udP3fF-JZbC20IjP6Nih_pW_wgd1B9Lqj8f5YTLpNcI77A"),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        encoding = read_choice(properties, "encoding", PLAIN_ENCODINGS, "utf-8")
        try:
            token = _b64decode(read_text(properties, "value"))
        except ValueError as exc:
            raise TaskFailed(f"value is not a crypto.encrypt token: not valid base64 ({exc})") from None
        if len(token) < 1 + NONCE_BYTES + TAG_BYTES:
            raise TaskFailed("value is too short to be a crypto.encrypt token")
        if token[0] != TOKEN_VERSION:
            raise TaskFailed(f"value is not a crypto.encrypt token (unknown format version {token[0]})")
        cipher = _aes_key(properties)
        nonce, sealed = token[1 : 1 + NONCE_BYTES], token[1 + NONCE_BYTES :]
        try:
            data = cipher.decrypt(nonce, sealed, _associated_data(properties))
        except InvalidTag:
            raise TaskFailed(f"{DECRYPTION_FAILED} (or a different associated_data)") from None
        if encoding == "base64":
            return {"plaintext": base64.b64encode(data).decode()}
        try:
            return {"plaintext": data.decode()}
        except UnicodeDecodeError:
            raise TaskFailed("the decrypted value is not UTF-8 text; use encoding: base64 to get its bytes") from None


def _now() -> float:
    """Seconds since the epoch; its own function so tests can move a token's clock."""
    return time.time()


def _signing_key(algorithm: str, key: str, key_encoding: str | None) -> bytes | PrivateKeyTypes:
    """The key in the form PyJWT signs with, checked against the algorithm's minimum strength."""
    if algorithm in HMAC_JWT_ALGORITHMS:
        secret = _decode(key, key_encoding or "utf-8", "key")
        if len(secret) < HMAC_JWT_ALGORITHMS[algorithm]:
            raise TaskFailed(
                f"key is {len(secret)} bytes; {algorithm} needs at least {HMAC_JWT_ALGORITHMS[algorithm]} "
                "(RFC 7518 section 3.2)"
            )
        return secret
    if key_encoding is not None:
        raise TaskFailed(f"key_encoding is only for HS256/HS384/HS512; {algorithm} takes a PEM private key")
    try:
        private = serialization.load_pem_private_key(key.encode(), password=None)
    except TypeError:
        raise TaskFailed("key is an encrypted PEM private key; give it unencrypted (kept in a credential)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise TaskFailed(f"key is not a PEM private key (-----BEGIN PRIVATE KEY-----) as {algorithm} needs") from None
    if algorithm in RSA_JWT_ALGORITHMS:
        if not isinstance(private, rsa.RSAPrivateKey):
            raise TaskFailed(f"{algorithm} needs an RSA private key")
        if private.key_size < MIN_RSA_BITS:
            raise TaskFailed(f"the RSA key has {private.key_size} bits; {algorithm} needs at least {MIN_RSA_BITS}")
    elif algorithm in CURVES:
        if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(private.curve, CURVES[algorithm]):
            raise TaskFailed(f"{algorithm} needs an EC private key on curve {CURVES[algorithm].name}")
    elif not isinstance(private, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        raise TaskFailed("EdDSA needs an Ed25519 or Ed448 private key")
    return private


_SHORTCUTS: Final = {"issuer": "iss", "subject": "sub", "audience": "aud"}


def _claims(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    """`claims` plus the shortcuts, `iat` and `exp`; a claim given twice is refused, not guessed."""
    claims = properties.get("claims", {})
    if not isinstance(claims, Mapping):
        raise TaskFailed(f"claims must be an object, got {type(claims).__name__}")
    result = dict(claims)
    for shortcut, claim in _SHORTCUTS.items():
        if properties.get(shortcut) is None:
            continue
        if claim in result:
            raise TaskFailed(f"{shortcut} and claims.{claim} are both given; use one")
        result[claim] = properties[shortcut]
    now = int(_now())
    result.setdefault("iat", now)
    if properties.get("expires_in") is not None:
        if "exp" in result:
            raise TaskFailed("expires_in and claims.exp are both given; use one")
        try:
            seconds = parse_duration(properties["expires_in"])
        except ValueError as exc:
            raise TaskFailed(f"expires_in: {exc}") from None
        if seconds < 1:
            raise TaskFailed("expires_in must be at least one second (JWT times are whole seconds)")
        result["exp"] = now + math.ceil(seconds)
    return result


class JwtSign(Plugin):
    """Issue a signed JWT for an API that wants one (service accounts, internal calls)."""

    manifest: ClassVar[Manifest] = Manifest(
        id="crypto.jwt_sign",
        name="Sign a JWT",
        category="crypto",
        description=(
            "Signs a JSON Web Token (RFC 7519) over `claims` with an HMAC secret (HS256/384/512, at "
            "least as many bytes as the hash) or a PEM private key (RS*, PS* with RSA of 2048 bits "
            "or more; ES256/384/512; EdDSA). `iat` is set to now unless given; `expires_in` sets "
            "`exp`; `issuer`, `subject` and `audience` set `iss`, `sub` and `aud`. Keep the key in "
            "a credential: `key: ${JWT_KEY}`."
        ),
        input_schema=object_schema(
            {
                "claims": {
                    "type": "object",
                    "default": {},
                    "description": "The payload's claims; any JSON object.",
                },
                "key": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The HMAC secret, or the PEM private key for RS/PS/ES/EdDSA; usually ${JWT_KEY}.",
                },
                "key_encoding": enum_schema(
                    BYTE_ENCODINGS, "utf-8", "For HS* only: how `key` stands for bytes (UTF-8 text, base64, hex)."
                ),
                "algorithm": enum_schema(JWT_ALGORITHMS, "HS256", "The signature algorithm (the header's `alg`)."),
                "expires_in": {
                    **DURATION_SCHEMA,
                    "description": "Lifetime from now, setting `exp`: 30s, 10m, 1h, 1d, PT1H or seconds (≥ 1s).",
                },
                "issuer": {"type": "string", "description": "Sets the `iss` claim."},
                "subject": {"type": "string", "description": "Sets the `sub` claim."},
                "audience": {
                    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                    "description": "Sets the `aud` claim: one audience or a list.",
                },
                "headers": {
                    "type": "object",
                    "propertyNames": {"not": {"const": "alg"}},
                    "description": "Extra header fields such as `kid`; `alg` comes from `algorithm`.",
                },
            },
            ["key"],
        ),
        output_schema=single_value(
            "token", {"type": "string", "description": "The signed JWT (header.payload.signature)."}
        ),
        examples=(
            task_example(
                "service_token",
                "crypto.jwt_sign",
                """
                key: example-signing-key-of-32-bytes!  # an EXAMPLE key; use ${JWT_KEY}
                algorithm: HS256
                issuer: workflowdev
                audience: billing-api
                expires_in: 5m
                claims: {scope: invoices.read}
                headers: {kid: example-2024}
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        algorithm = read_choice(properties, "algorithm", JWT_ALGORITHMS, "HS256")
        key_encoding = properties.get("key_encoding")
        if key_encoding is not None:
            key_encoding = read_choice(properties, "key_encoding", BYTE_ENCODINGS, "utf-8")
        key = _signing_key(algorithm, read_text(properties, "key"), key_encoding)
        headers = properties.get("headers", {})
        if not isinstance(headers, Mapping):
            raise TaskFailed(f"headers must be an object, got {type(headers).__name__}")
        if "alg" in headers:
            raise TaskFailed("headers must not set alg; use algorithm")
        try:
            token = jwt.encode(_claims(properties), key, algorithm=algorithm, headers=dict(headers) or None)
        except jwt.PyJWTError as exc:
            raise TaskFailed(f"could not sign the token: {exc}") from None
        return {"token": token}


PLUGINS: Final[list[type[Plugin]]] = [Hash, Hmac, Base64, Encrypt, Decrypt, JwtSign]
