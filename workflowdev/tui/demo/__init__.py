"""Demo flows offered on a first start, loaded through the API like anything an operator saves."""

from __future__ import annotations

from importlib import resources

from workflowdev.tui.client import ApiClient
from workflowdev.tui.client import ApiError

DEMO_NAMESPACE = "demo"


def demo_flows() -> dict[str, str]:
    """File stem → YAML, in a stable order."""
    folder = resources.files(__package__)
    return {
        entry.name.removesuffix(".yaml"): entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml")
    }


async def load_demo(client: ApiClient) -> list[str]:
    """Save every demo flow that is not there yet; returns the names now present.

    Loading twice is harmless: a flow that already exists (409) is left as the operator has it.
    """
    names = []
    for name, yaml in demo_flows().items():
        try:
            await client.create_flow(yaml, namespace=DEMO_NAMESPACE)
        except ApiError as exc:
            if exc.status != 409:
                raise
        names.append(name)
    return names
