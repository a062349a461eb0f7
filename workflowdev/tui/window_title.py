"""The terminal's own window (or tab) title, for a gate that must be noticed from another tab.

Textual draws inside the terminal but never names its window, so the title is set with the
xterm sequences most terminals and tmux understand: OSC 2 to set it, and the title stack
(XTWINOPS 22/23) to put the operator's own title back afterwards. Terminals without them
ignore the bytes.
"""

from __future__ import annotations

import re

MAX_TITLE = 80
"""Characters of a title at most: a window list shows less than that anyway."""
SAVE_TITLE = "\x1b[22;2t"
RESTORE_TITLE = "\x1b[23;2t"

_controls = re.compile("[\x00-\x1f\x7f-\x9f]")


def set_title(text: str) -> str:
    """The bytes that make `text` the window title. Control characters are dropped, so text
    from a flow (a task name, a gate's message) cannot end the sequence early or start another."""
    return f"\x1b]2;{_controls.sub('', text)[:MAX_TITLE]}\x07"
