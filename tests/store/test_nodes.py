"""store/nodes.py: a node registers afresh on every start, a pruned node's heartbeat says so,
and a node's running count comes from the live leases it holds, not from a stored number."""

from __future__ import annotations

from tests.store.rows import add
from tests.store.rows import at
from tests.store.rows import execution
from tests.store.rows import executions
from tests.store.rows import flow
from tests.store.rows import flows
from workflowdev.store import nodes as store
from workflowdev.store.database import Database


async def _register(db: Database, node_id: str, now: int, roles: tuple[str, ...] = ("api", "worker")) -> None:
    async with db.write() as conn:
        await store.register(conn, node_id=node_id, address=f"http://{node_id}", roles=roles, version="1.0", now=at(now))


async def test_a_restarted_node_registers_afresh_under_its_id(db: Database) -> None:
    await _register(db, "a", 0)
    await _register(db, "a", 50, roles=("worker",))
    async with db.read() as conn:
        (row,) = await store.list_nodes(conn, at(50))
    assert (row.id, row.started_at, row.heartbeat_at, row.roles) == ("a", at(50), at(50), ["worker"])


async def test_a_silent_node_is_pruned_and_its_next_heartbeat_says_it_was(db: Database) -> None:
    await _register(db, "quiet", 0)
    await _register(db, "alive", 0)
    async with db.write() as conn:
        assert await store.heartbeat(conn, "alive", address="http://moved", now=at(30))
        assert await store.prune(conn, silent_since=at(30)) == 1, "a heartbeat at the instant itself is not silent"
        assert not await store.heartbeat(conn, "quiet", address=None, now=at(31))
        nodes = await store.list_nodes(conn, at(31))
    assert [(n.id, n.address, n.heartbeat_at) for n in nodes] == [("alive", "http://moved", at(30))]


async def test_nodes_list_in_start_order_with_the_executions_they_hold_under_a_live_lease(db: Database) -> None:
    await _register(db, "b", 1)
    await _register(db, "a", 2)
    await _register(db, "c", 1)
    await add(db, flows, flow("f1"))
    await add(db, executions, [
        execution("live1", status="RUNNING", lease_owner="b", lease_expires_at=at(100)),
        execution("live2", status="RUNNING", lease_owner="b", lease_expires_at=at(60)),
        execution("expired", status="RUNNING", lease_owner="b", lease_expires_at=at(59)),
        execution("queued", status="QUEUED", lease_owner="a", lease_expires_at=at(100)),
        execution("ghost", status="RUNNING", lease_owner="gone", lease_expires_at=at(100)),
    ])  # fmt: skip
    async with db.read() as conn:
        listed = await store.list_nodes(conn, at(60))
    assert [(n.id, n.running) for n in listed] == [("b", 2), ("c", 0), ("a", 0)]


async def test_a_removed_node_is_no_longer_listed(db: Database) -> None:
    await _register(db, "a", 0)
    async with db.write() as conn:
        await store.remove(conn, "a")
        await store.remove(conn, "never-was")
        assert list(await store.list_nodes(conn, at(0))) == []
