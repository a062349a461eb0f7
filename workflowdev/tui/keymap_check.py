"""What a keymap file gets wrong, said at start: an id no key has, or a key another binding has.

Textual applies a keymap silently: an unknown id does nothing, and a key moved onto one that a
binding of the same pane or widget (or of the app, active everywhere) already uses hides that
binding. Bindings of a pane and of a widget inside it are not compared.
One such entry once took `x` from the flows pane, and Execute with it, without a word.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping

from textual.binding import Binding
from textual.binding import BindingsMap
from textual.dom import DOMNode


def _own_bindings() -> dict[type[DOMNode], list[Binding]]:
    """Every console class that declares bindings, with them one key each."""
    found: dict[type[DOMNode], list[Binding]] = {}
    pending: list[type[DOMNode]] = [DOMNode]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("workflowdev.tui") and "BINDINGS" in cls.__dict__:
            found[cls] = [b for keyed in BindingsMap(cls.BINDINGS).key_to_bindings.values() for b in keyed]
    return found


def _keys(text: str) -> set[str]:
    """Keys as Textual names them (`?` is `question_mark`), from a keymap entry's value."""
    return set(BindingsMap([Binding(text, "keymap")]).key_to_bindings)


def keymap_problems(keymap: Mapping[str, str], app_class: type[DOMNode]) -> Iterator[str]:
    scopes = _own_bindings()
    by_id = {b.id: (cls, b) for cls, bindings in scopes.items() for b in bindings if b.id}
    for binding_id, text in keymap.items():
        if binding_id not in by_id:
            yield f"keymap: {binding_id} = {text!r} does nothing: no key has the id {binding_id} (? lists them)"
            continue
        home, _ = by_id[binding_id]
        for cls, bindings in scopes.items():
            if cls is not home and app_class not in (cls, home):
                continue  # other screens: the same key may well mean something else there
            for other in bindings:
                if other.id == binding_id or (other.id in keymap and other.id != binding_id):
                    continue  # itself, or moved away by its own entry
                clash = _keys(text) & {other.key}
                if clash:
                    yield (
                        f"keymap: {binding_id} = {text!r} takes {', '.join(sorted(clash))} from "
                        f"{other.id or other.action} ({other.description or other.action}), which it hides"
                    )
