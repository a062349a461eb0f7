"""util.random: numbers, choices, strings and bytes, secure unless a seed asks for repeatability."""

from __future__ import annotations

import base64
import math
import random
import secrets
import string
from collections.abc import Mapping
from typing import ClassVar
from typing import Final

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import read_choice
from workflowdev.plugins._toolkit import read_optional_text
from workflowdev.plugins._toolkit import read_whole_number
from workflowdev.plugins._toolkit import single_value
from workflowdev.plugins._toolkit import task_example

RANDOM_KINDS: Final = ("integer", "number", "choice", "string", "bytes")
RANDOM_KIND_PROPERTIES: Final = {
    "integer": {"min", "max"},
    "number": {"min", "max"},
    "choice": {"choices"},
    "string": {"length", "alphabet"},
    "bytes": {"length", "encoding"},
}
"""What each kind reads; anything else given is refused, since it would be silently ignored."""
DEFAULT_BOUNDS: Final = {"integer": (0, 100), "number": (0.0, 1.0)}
DEFAULT_ALPHABET: Final = string.ascii_letters + string.digits
DEFAULT_RANDOM_LENGTH: Final = 16
MAX_RANDOM_LENGTH: Final = 65_536
BYTE_ENCODERS: Final = {
    "hex": bytes.hex,
    "base64": lambda data: base64.b64encode(data).decode(),
    "base64url": lambda data: base64.urlsafe_b64encode(data).decode().rstrip("="),
}


class RandomValue(Plugin):
    """A random number, pick, string or byte string; from the OS's secure source unless told."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.random",
        name="Random value",
        category="util",
        description=(
            "Draws one random value. `integer`: between min and max, both included (default 0 to "
            "100). `number`: a decimal between min and max (default 0 to 1). `choice`: one item of "
            "`choices`. `string`: `length` characters of `alphabet` (letters and digits by "
            "default). `bytes`: `length` bytes as hex, base64 or base64url. Values come from the "
            "operating system's secure source (Python's `secrets`), fit for passwords and tokens; "
            "`secure: false` with a `seed` gives the same values on every run instead."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "kind": {
                    "type": "string",
                    "enum": list(RANDOM_KINDS),
                    "default": "integer",
                    "description": "integer, number, choice, string or bytes.",
                },
                "min": {"type": "number", "description": "integer and number: the lowest value (default 0)."},
                "max": {
                    "type": "number",
                    "description": "integer and number: the highest value (default 100 and 1).",
                },
                "choices": {
                    "type": "array",
                    "minItems": 1,
                    "description": "choice: the items to pick one from (any JSON values).",
                },
                "length": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_RANDOM_LENGTH,
                    "default": DEFAULT_RANDOM_LENGTH,
                    "description": "string and bytes: how many characters or bytes.",
                },
                "alphabet": {
                    "type": "string",
                    "minLength": 1,
                    "description": "string: the characters to draw from (default A-Z, a-z, 0-9).",
                },
                "encoding": {
                    "type": "string",
                    "enum": list(BYTE_ENCODERS),
                    "default": "hex",
                    "description": "bytes: how they are written (base64url has no padding).",
                },
                "secure": flag_schema(True, "Draw from the OS's secure source; false for Python's seedable generator."),
                "seed": {
                    "type": ["integer", "string"],
                    "description": "With secure: false, makes the value the same on every run.",
                },
            },
            "additionalProperties": False,
        },
        output_schema=single_value("value", {"description": "The value drawn: a number, an item of choices, or text."}),
        examples=(
            task_example(
                "dice",
                "util.random",
                """
                min: 1
                max: 6
                """,
            ),
            task_example(
                "password",
                "util.random",
                """
                kind: string
                length: 24
                """,
            ),
            task_example(
                "pick_reviewer",
                "util.random",
                """
                kind: choice
                choices: [alice, bob, carol]
                """,
            ),
            task_example(
                "api_token",
                "util.random",
                """
                kind: bytes
                length: 32
                encoding: base64url
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        kind = read_choice(properties, "kind", RANDOM_KINDS, "integer")
        unused = set(properties) - RANDOM_KIND_PROPERTIES[kind] - {"kind", "secure", "seed"}
        if unused:
            raise TaskFailed(f"{', '.join(sorted(unused))} not used with kind {kind}")
        rng = self._generator(properties)
        if kind in DEFAULT_BOUNDS:
            return {"value": self._number(rng, kind, properties)}
        if kind == "choice":
            choices = properties.get("choices")
            if not isinstance(choices, list) or not choices:
                raise TaskFailed("kind choice needs choices: a list of at least one item")
            return {"value": rng.choice(choices)}
        length = read_whole_number(properties, "length", DEFAULT_RANDOM_LENGTH, 1, MAX_RANDOM_LENGTH)
        if kind == "bytes":
            encoding = read_choice(properties, "encoding", tuple(BYTE_ENCODERS), "hex")
            return {"value": BYTE_ENCODERS[encoding](rng.randbytes(length))}
        alphabet = read_optional_text(properties, "alphabet") or DEFAULT_ALPHABET
        letters = "".join(dict.fromkeys(alphabet))  # a repeated character would be drawn more often
        return {"value": "".join(rng.choice(letters) for _ in range(length))}

    @staticmethod
    def _generator(properties: Mapping[str, JSON]) -> random.Random:
        secure = properties.get("secure", True)
        seed = properties.get("seed")
        if not isinstance(secure, bool):
            raise TaskFailed(f"secure must be true or false, got {as_text(secure)}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | str)):
            raise TaskFailed(f"seed must be a whole number or text, got {as_text(seed)}")
        if secure and seed is not None:
            raise TaskFailed("a seed makes values repeatable, which is not secure: set secure: false with it")
        return secrets.SystemRandom() if secure else random.Random(seed)

    @staticmethod
    def _number(rng: random.Random, kind: str, properties: Mapping[str, JSON]) -> int | float:
        default_low, default_high = DEFAULT_BOUNDS[kind]
        low, high = properties.get("min", default_low), properties.get("max", default_high)
        for name, bound in (("min", low), ("max", high)):
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                raise TaskFailed(f"{name} must be a number, got {as_text(bound)}")
            if isinstance(bound, float) and not math.isfinite(bound):
                raise TaskFailed(f"{name} must be a finite number, got {as_text(bound)}")
            if kind == "integer" and isinstance(bound, float) and not bound.is_integer():
                raise TaskFailed(f"{name} must be a whole number for kind integer, got {as_text(bound)}")
        if low > high:
            raise TaskFailed(f"min ({as_text(low)}) is greater than max ({as_text(high)})")
        if kind == "integer":
            return rng.randint(int(low), int(high))
        return rng.uniform(low, high)
