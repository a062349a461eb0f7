"""Credentials: names and descriptions, and a masked prompt to set a value.

A value goes from the masked input straight into the request: it is never put on screen, in a
notification, in a log line or in an error message, and nothing here keeps it after the request.
The server never returns one, so the table could not show one even by mistake.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from collections.abc import Callable
from typing import ClassVar

from rich.console import Group
from rich.console import RenderableType
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.binding import BindingType

from workflowdev.tui.client import ApiError
from workflowdev.tui.dialogs.prompts import AskText
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.formatting import format_time
from workflowdev.tui.panes.base import Json
from workflowdev.tui.panes.table_pane import Cells
from workflowdev.tui.panes.table_pane import Column
from workflowdev.tui.panes.table_pane import TablePane
from workflowdev.tui.panes.table_pane import heading
from workflowdev.tui.panes.table_pane import json_view
from workflowdev.tui.panes.table_pane import table_bindings
from workflowdev.tui.session import reports_api_errors

NAME_PATTERN = re.compile(r"[A-Z][A-Z0-9_]*")
MAX_NAME_LENGTH = 128
SHOWN_FIELDS = ("name", "description", "keyId", "createdAt", "updatedAt")
"""What `enter` shows; the ciphertext is of no use to read."""


def name_problem(name: str) -> str | None:
    """The server's own rule, checked before asking for the value so a typo costs no retyping."""
    if not NAME_PATTERN.fullmatch(name):
        return "A name is upper-case letters, digits and _, starting with a letter (API_TOKEN)."
    if len(name) > MAX_NAME_LENGTH:
        return f"A name is at most {MAX_NAME_LENGTH} characters."
    return None


def value_problem(value: str) -> str | None:
    return None if value else "A value cannot be empty (esc cancels)."


class CredentialsPane(TablePane):
    PANE_TITLE = "Credentials"
    NOUN = "credentials"
    EMPTY_HINT = "n creates one; flows use it as ${NAME}."
    FILTER_PLACEHOLDER = "filter by name or description — esc clears"
    COLUMNS = (
        Column("Name", "name", 28),
        Column("Description", "description", 32),
        Column("Updated", "updated", 11),
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        *table_bindings("credentials"),
        Binding("n", "create", "New", id="credentials.create"),
        Binding("v", "set_value", "Set value", id="credentials.set_value"),
        Binding("d", "delete", "Delete", id="credentials.delete"),
    ]
    REQUIRES: ClassVar[dict[str, str]] = {"create": "admin", "set_value": "admin", "delete": "admin"}

    async def fetch(self) -> list[Json]:
        return sorted(await self.client.credentials(), key=lambda c: c["name"])

    def cells(self, item: Json) -> Cells:
        return (
            item["name"],
            item.get("description") or "",
            format_time(item.get("updatedAt"), self.session.clock()),
        )

    def describe(self, item: Json) -> RenderableType:
        shown = {field: item.get(field) for field in SHOWN_FIELDS}
        hint = Text(f"Flows use it as ${{{item['name']}}}. The value is write-only: v replaces it.", style="dim")
        return Group(heading(item["name"]), json_view(shown), hint)

    @work(group="credentials.edit", exclusive=True)
    async def action_create(self) -> None:
        name = await self.session.ask(
            AskText("New credential — name", placeholder="API_TOKEN", check=self._new_name_problem)
        )
        if name is None:
            return
        description = await self.session.ask(AskText(f"{name} — description (optional)"))
        if description is None:
            return
        created = await self._send_value(
            name, lambda value: self.client.create_credential(name, value, description or None)
        )
        if created is not None:
            self.notify(f"Credential {name} created.")
            self.reload()

    def _new_name_problem(self, name: str) -> str | None:
        if any(item["name"] == name for item in self.items.values()):
            return f"{name} exists already: select it and press v to replace its value."
        return name_problem(name)

    @work(group="credentials.edit", exclusive=True)
    async def action_set_value(self) -> None:
        credential = self.selected_or_say("a credential")
        if credential is None:
            return
        name = credential["name"]
        updated = await self._send_value(name, lambda value: self.client.set_credential_value(credential["id"], value))
        if updated is not None:
            self.merge(updated)
            self.notify(f"Value of {name} replaced.")

    async def _send_value(self, name: str, send: Callable[[str], Awaitable[Json]]) -> Json | None:
        """Ask for `name`'s value, masked, and hand it straight to `send`; the reply, or None.

        The value is asked last and lives only in this call. Every failure is caught and told by
        message alone: an uncaught one would crash the app with a report that prints each frame's
        local variables, the value among them.
        """
        value = await self.session.ask(
            AskText(
                f"{name} — value",
                password=True,
                check=value_problem,
                hint="typed masked, never shown again · enter saves · esc cancels",
            )
        )
        if value is None:
            return None
        try:
            return await send(value)
        except ApiError as exc:  # caught here with the rest, for the reason in the docstring
            self.session.report(exc)
        except Exception as exc:  # see the docstring: a crash report would print the value
            self.notify(f"{name} was not saved: {type(exc).__name__}", title="Error", severity="error")
        return None

    @work(group="credentials.edit", exclusive=True)
    @reports_api_errors
    async def action_delete(self) -> None:
        credential = self.selected_or_say("a credential")
        if credential is None:
            return
        name = credential["name"]
        question = f"Delete credential {name}? Flows that use ${{{name}}} will fail until it is created again."
        if not await self.session.ask(Confirm(question, "Delete")):
            return
        await self.client.delete_credential(credential["id"])
        self.items.pop(credential["id"], None)
        self.render_rows()
        self.notify(f"Credential {name} deleted.")
