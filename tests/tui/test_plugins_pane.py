"""The plugins pane: the whole catalogue, a search that puts the best matches first, the schemas."""

from __future__ import annotations

from tests.conftest import Api
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from tests.tui.table_helpers import details
from tests.tui.table_helpers import open_pane
from tests.tui.table_helpers import row_keys


async def test_search_narrows_best_first_and_enter_shows_the_schemas(server: Api) -> None:
    catalogue = (await server.get("/api/v1/plugins")).body
    http = sorted(p["id"] for p in catalogue if p["id"].startswith("http."))
    async with open_console(server) as (app, pilot):
        pane = await open_pane(app, pilot, "plugins")
        assert len(row_keys(pane)) == len(catalogue) >= 83

        app.go("plugins", "http")
        await wait_for(pilot, lambda: len(row_keys(pane)) < len(catalogue), "`:plugins http` to narrow the list")
        shown = row_keys(pane)
        assert shown[: len(http)] == http, "ids starting with the search come first"
        for plugin_id in shown[len(http) :]:
            described = pane.items[plugin_id]
            assert "http" in f"{described['name']} {described['description']}".lower()

        await pilot.press("enter")
        text = await wait_for(pilot, lambda: details(pane), "the details panel")
        check = pane.items[http[0]]
        assert text.startswith(f"{check['id']} — {check['name']}")
        assert '"url"' in text and '"expected_status"' in text, "the inputSchema as JSON"
        assert "Outputs" in text and "type: http.check" in text, "the output schema and the example YAML"

        await pilot.press("down")
        await wait_for(pilot, lambda: details(pane).startswith(http[1]), "the details to follow the cursor")

        await pilot.press("slash", "ctrl+u", *"kv set")
        await wait_for(pilot, lambda: row_keys(pane)[:1] == ["kv.set"], "every word to count, kv.set first")
        await pilot.press(*"zz")
        await wait_for(pilot, lambda: not row_keys(pane), "no rows")
        assert "No plugins match" in pane.status_line()
