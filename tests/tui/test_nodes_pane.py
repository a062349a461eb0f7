"""The nodes pane: this node alive with what it runs, re-read after executions change, and an
older server without GET /api/v1/nodes explained rather than reported as an error."""

from __future__ import annotations

from tests.conftest import Api
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from tests.tui.table_helpers import cell
from tests.tui.table_helpers import notifications
from tests.tui.table_helpers import open_pane
from tests.tui.table_helpers import row_keys

HANG = """
name: hang
tasks:
  - name: wait
    type: test.hang
"""


async def test_lists_this_node_and_follows_its_running_executions(server: Api) -> None:
    [node] = (await server.get("/api/v1/nodes")).body
    flow_id = await save_flow(server, HANG)
    async with open_console(server) as (app, pilot):
        pane = await open_pane(app, pilot, "nodes")
        assert row_keys(pane) == [node["id"]]
        assert cell(pane, node["id"], "alive") == "● up"
        assert cell(pane, node["id"], "running") == "0"
        assert cell(pane, node["id"], "address") == node["address"]
        assert "1 node, 1 alive" in pane.status_line()

        execution_id = await start(server, flow_id)
        await wait_status(server, execution_id, {"RUNNING"})
        await wait_for(pilot, lambda: cell(pane, node["id"], "running") == "1", "the running count to follow")


async def test_a_server_without_the_nodes_endpoint_is_explained(server: Api) -> None:
    async with open_console(server) as (app, pilot):
        app.client.nodes = lambda: app.client._request("GET", "/api/v1/nodes-of-a-future-version")  # a real 404
        pane = await open_pane(app, pilot, "nodes")
        assert pane.status_line() == "This server does not report nodes: it predates GET /api/v1/nodes."
        assert row_keys(pane) == []
        assert not [note for note in notifications(app) if "Refused" in note]
