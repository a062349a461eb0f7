"""Record the demo data set the screenshots and the console's snapshot tests are drawn from.

    python screenshots/record.py            # rewrites screenshots/dataset.json

A real workflowdev runs the demo flows (one waits at its gate, one fails on purpose), a few
key-value entries, a trigger and a credential are made, and everything the console reads is saved
through the API. Ids and timestamps are then rewritten to fixed ones, so pictures and snapshots
stay the same from one recording to the next except where the product changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
import tempfile
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workflowdev.config import Settings  # noqa: E402
from workflowdev.runtime import Runtime  # noqa: E402
from workflowdev.tui.client import ApiClient  # noqa: E402
from workflowdev.tui.demo import load_demo  # noqa: E402

DATASET = Path(__file__).with_name("dataset.json")
FIXED_NOW = datetime(2026, 11, 28, 14, 30, 0, tzinfo=UTC)
"""The console's clock in every picture; recorded times are moved so the newest is just before it."""
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
KV_NAMESPACES = ("demo", "orders")
TERMINAL = {"SUCCESS", "FAILED", "CANCELLED", "TIMED_OUT"}


async def _settle(client: ApiClient, ids: list[str], deadline: float = 60.0) -> None:
    """Until every execution is finished or waiting at a gate."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        states = [(await client.execution(i))[0]["status"] for i in ids]
        if all(s in TERMINAL or s == "PAUSED" for s in states):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"executions did not settle: {states}")


async def _flow_id(client: ApiClient, name: str) -> str:
    return next(f["id"] for f in await client.flows() if f["name"] == name)


async def _make_data(client: ApiClient) -> None:
    await load_demo(client)
    hello, fan_out, flaky, release = [await _flow_id(client, n) for n in ("hello", "fan-out", "flaky", "release")]
    started = []
    for flow_id, inputs in ((hello, {"who": "Ada", "pause_seconds": 1}), (fan_out, {}), (flaky, {})):
        started.append((await client.execute(flow_id, inputs))["executionId"])
        await _settle(client, started[-1:])
    started.append((await client.execute(hello, {"who": "Grace", "pause_seconds": 1}))["executionId"])
    started.append((await client.execute(release, {"version": "2.0.0"}))["executionId"])
    await _settle(client, started)
    await client.kv_set("orders", "order-1042", {"customer": "ACME", "total": 129.5, "lines": 3})
    await client.kv_set("orders", "order-1043", {"customer": "Globex", "total": 18.0, "lines": 1}, ttl=3600)
    await client.kv_set("orders", "cursor", "2026-11-28T14:00:00Z")
    await client._request(
        "POST", "/api/v1/triggers", json={"flowId": hello, "type": "webhook", "name": "greet-hook", "config": {}}
    )
    await client._request(
        "POST",
        "/api/v1/triggers",
        json={"flowId": fan_out, "type": "schedule", "name": "nightly", "config": {"cron": "0 0 3 * * *"}},
    )
    await client.create_credential("SLACK_TOKEN", "xoxb-demo-not-a-real-token", "posts to #ops")


async def _capture(client: ApiClient) -> dict[str, Any]:
    executions = await client.executions(limit=1000)
    details = {e["id"]: await client.execution(e["id"]) for e in executions}
    kv = {}
    for ns in KV_NAMESPACES:
        kv[ns] = [await client.kv_get(ns, entry["key"]) for entry in await client.kv_list(ns)]
    flows = await client.flows()
    return {
        "me": await client.me(),
        "flows": flows,
        "revisions": {f["id"]: await client.revisions(f["id"]) for f in flows},
        "executions": executions,
        "tasks": {i: tasks for i, (_, tasks) in details.items()},
        "logs": {i: await client.logs(i) for i in details},
        "approvals": await client.approvals(status=None),
        "kv": kv,
        "triggers": await client.triggers(),
        "credentials": await client.credentials(),
        "audit": await client.audit(limit=1000),
        "nodes": await _optional(client.nodes()),
    }


async def _optional(call: Any) -> Any:
    try:
        return await call
    except Exception:  # an older server without the endpoint: the pane shows its own message
        return []


def _stable_ids(text: str) -> str:
    """Every UUID → a fixed one, by order of appearance."""
    ids: dict[str, str] = {}

    def stable(match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in ids:
            digest = hashlib.sha256(f"workflowdev-demo-{len(ids)}".encode()).hexdigest()
            ids[found] = f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}"
        return ids[found]

    return UUID.sub(stable, text)


def _times(data: Any) -> list[datetime]:
    if isinstance(data, dict):
        found = [_parse(v) for k, v in data.items() if _is_time(k, v)]
        return [t for t in found if t] + [t for v in data.values() for t in _times(v)]
    if isinstance(data, list):
        return [t for v in data for t in _times(v)]
    return []


def _shift_times(data: Any, shift: timedelta) -> Any:
    """Timestamps the API wrote (`…At`, `at`, `ts`) moved by `shift`; values inside user data stay."""
    if isinstance(data, dict):
        return {k: _shifted(k, v, shift) if _is_time(k, v) else _shift_times(v, shift) for k, v in data.items()}
    if isinstance(data, list):
        return [_shift_times(v, shift) for v in data]
    return data


def _shifted(key: str, value: str, shift: timedelta) -> str:
    moment = _parse(value)
    if moment is None:
        return value
    if key == "nextFireAt":  # a schedule keeps its time of day: the next one after FIXED_NOW
        moment = datetime.combine(FIXED_NOW.date(), moment.timetz())
        return _format(moment if moment > FIXED_NOW else moment + timedelta(days=1))
    return _format(moment + shift)


def _is_time(key: str, value: Any) -> bool:
    return (key.endswith("At") or key in ("at", "ts")) and isinstance(value, str) and bool(STAMP.fullmatch(value))


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _format(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def record() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(Settings(host="127.0.0.1", port=0, data_dir=Path(tmp)))
        await runtime.start()
        try:
            async with ApiClient(runtime.base_url) as client:
                await _make_data(client)
                data = await _capture(client)
        finally:
            await runtime.stop()
    recorded_at = datetime.now(UTC)
    latest = max(t for t in _times(data) if t <= recorded_at)
    data = _shift_times(data, FIXED_NOW - timedelta(minutes=2) - latest)
    for node in data["nodes"]:  # this machine's name and a random port would change every recording
        node.update(id="ops-1", address="127.0.0.1:8080")
    return json.loads(_stable_ids(json.dumps(data, sort_keys=True)))


def main() -> None:
    data = asyncio.run(record())
    DATASET.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {DATASET} ({len(data['executions'])} executions, {len(data['flows'])} flows)")


if __name__ == "__main__":
    main()
