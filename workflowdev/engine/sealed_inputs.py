"""Inputs handed to another execution with the secrets they carry: masked for show, sealed for use.

A subflow's inputs are often rendered from its parent's credentials (`token: ${API_TOKEN}`).
Stored as they are, any viewer would read them from the child execution. So the child's `inputs`
are stored masked, like every other surface, and the real values travel beside them, sealed
under the master key and bound to the child's id. Only the runner of the child opens them; it
registers the secrets with its own masker, so the child masks them in turn (and hands them on
the same way to its own subflows).
"""

from __future__ import annotations

import json
from typing import Any
from typing import Protocol

from workflowdev.engine.secrets import SecretMasker


class Sealer(Protocol):
    """The keeper of the master key (the credential service)."""

    def seal(self, label: str, plaintext: str) -> str: ...

    def unseal(self, label: str, sealed: str) -> str: ...


class SealBroken(Exception):
    """Sealed inputs that cannot be opened here: no master key, another key, or altered."""


def sealed_inputs_label(execution_id: str) -> str:
    """What the sealed inputs of an execution are bound to: they open for that execution only."""
    return f"the inputs of execution {execution_id}"


def seal_inputs(
    sealer: Sealer | None, execution_id: str, inputs: dict[str, Any], masker: SecretMasker | None
) -> tuple[dict[str, Any], str | None]:
    """(inputs as shown, sealed real inputs or None when they carry no secret)."""
    secrets = masker.found_in(inputs) if masker is not None else []
    if not secrets or masker is None:
        return inputs, None
    if sealer is None:  # secrets come from the credential store, so it is there; be safe anyway
        raise SealBroken("inputs carry credentials, but this node has no master key to seal them")
    plaintext = json.dumps({"inputs": inputs, "secrets": secrets}, ensure_ascii=False)
    return masker.mask_json(inputs), sealer.seal(sealed_inputs_label(execution_id), plaintext)


def open_inputs(sealer: Sealer | None, execution_id: str, sealed: str, masker: SecretMasker) -> dict[str, Any]:
    """The real inputs; their secrets are registered with `masker`."""
    if sealer is None:
        raise SealBroken(f"{sealed_inputs_label(execution_id)} are sealed, but this node has no master key")
    try:
        opened = json.loads(sealer.unseal(sealed_inputs_label(execution_id), sealed))
    except Exception as exc:  # noqa: BLE001 - the sealer's own errors name the key, never a value
        raise SealBroken(str(exc)) from None
    for secret in opened["secrets"]:
        masker.add(secret)
    inputs: dict[str, Any] = opened["inputs"]
    return inputs
