"""The read-only summary each flow carries for the console: its newest execution and its trigger count."""

from __future__ import annotations

from tests.conftest import Api
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status

QUICK = "name: quick\ntasks:\n  - name: t\n    type: util.log\n    properties:\n      message: hi\n"
TRIGGERED = (
    "name: triggered\ntasks:\n  - name: t\n    type: util.log\n    properties:\n      message: hi\n"
    "triggers:\n  - name: hook\n    type: webhook\n"
    "  - name: nightly\n    type: schedule\n    config: {cron: '0 3 * * *'}\n"
)


async def listed(api: Api) -> dict[str, dict]:
    reply = await api.get("/api/v1/flows")
    assert reply.status == 200, reply.body
    return {flow["name"]: flow for flow in reply.body}


async def test_a_flow_that_never_ran_has_no_last_execution(api: Api) -> None:
    await save_flow(api, QUICK)
    flow = (await listed(api))["quick"]
    assert flow["lastExecution"] is None
    assert flow["triggersCount"] == 0


async def test_the_newest_execution_is_the_last_one_and_stays_with_its_flow(api: Api) -> None:
    quick = await save_flow(api, QUICK)
    other = await save_flow(api, TRIGGERED)
    first = await start(api, quick)
    await wait_status(api, first)
    second = await start(api, quick)
    ended = (await wait_status(api, second))["execution"]

    flows = await listed(api)
    assert flows["quick"]["lastExecution"] == {"id": second, "status": ended["status"], "createdAt": ended["createdAt"]}
    assert flows["triggered"]["lastExecution"] is None
    single = (await api.get(f"/api/v1/flows/{quick}")).body
    assert single["lastExecution"]["id"] == second
    assert (await api.get(f"/api/v1/flows/{other}")).body["lastExecution"] is None


async def test_triggers_are_counted_whatever_their_origin_or_state(api: Api) -> None:
    flow_id = await save_flow(api, TRIGGERED)
    assert (await listed(api))["triggered"]["triggersCount"] == 2
    made = await api.post("/api/v1/triggers", json={"flowId": flow_id, "type": "webhook", "enabled": False})
    assert made.status == 201, made.body
    assert (await listed(api))["triggered"]["triggersCount"] == 3
    assert (await api.get(f"/api/v1/flows/{flow_id}")).body["triggersCount"] == 3


async def test_every_flow_reply_carries_the_same_summary(api: Api) -> None:
    created = (await api.post("/api/v1/flows", json={"yamlContent": TRIGGERED})).body
    assert (created["lastExecution"], created["triggersCount"]) == (None, 2)
    updated = (await api.put(f"/api/v1/flows/{created['id']}", json={"description": "changed"})).body
    assert updated["triggersCount"] == 2
    assert (await api.get(f"/api/v1/flows/{created['id']}")).body == updated
