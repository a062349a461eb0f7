"""Two revisions of a flow as a unified diff, `+` and `-` lines coloured and still marked in plain text."""

from __future__ import annotations

import difflib

from rich.text import Text

LINE_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))
"""Line prefix → style; the first match wins, so file headers are not taken for changed lines."""


def diff_text(old: str, new: str, old_label: str, new_label: str) -> Text:
    """The unified diff from `old` to `new` (3 lines of context); says so when they are the same."""
    lines = list(
        difflib.unified_diff(old.splitlines(), new.splitlines(), fromfile=old_label, tofile=new_label, lineterm="")
    )
    if not lines:
        return Text(f"{old_label} and {new_label} are identical.", style="dim")
    out = Text(no_wrap=True, end="")
    for line in lines:
        style = next((style for prefix, style in LINE_STYLES if line.startswith(prefix)), "")
        out.append(line + "\n", style=style)
    out.rstrip()
    return out
