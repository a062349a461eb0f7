"""Why a key did nothing: the hint an operator gets instead of silence.

A key can do nothing for three reasons: it is bound to nothing here, its action is hidden from
this role, or the action does not apply now (cancelling a finished execution). Textual drops
such keys without a word, and at 80 columns the footer cannot list everything, so a pane asks
`key_hint` whenever a key reaches it and shows the answer briefly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.actions import parse

from workflowdev.tui.access import role_allows

if TYPE_CHECKING:
    from workflowdev.tui.panes.base import Pane


def key_hint(pane: Pane, key: str, character: str | None) -> str | None:
    """What to tell the operator who pressed `key` on `pane`, or None when a binding takes it
    (or the key is not one a person presses for an action: a modifier, a bare arrow)."""
    app = pane.app
    # Textual keeps the focus chain's bindings (the keymap applied) in the screen; no public view
    # of it includes the bindings that check_action hides, which are the ones a hint is for.
    matches = [(node, binding) for node, bindings in pane._modal_binding_chain for bound, binding in bindings if bound == key]
    if not matches:
        if character and character.isprintable() and not character.isspace():
            return f"{character} does nothing here · ? lists this pane's keys"
        return None
    if any(app._check_action_state(binding.action, node) for node, binding in matches):
        return None
    node, binding = matches[0]
    action = parse(binding.action)[1]
    label = binding.description or action.replace("_", " ")
    needed = getattr(node, "REQUIRES", {}).get(action)
    role = pane.session.role
    if needed is not None and not role_allows(role, needed):
        return f"{label} needs the {needed} role; you are signed in as {role or 'nobody'}"
    reason = pane.unavailable(action)
    return f"{label}: {reason}" if reason else f"{label} does not apply here now"
