"""The reply every listing sends: one page of items, and how many there are in all.

The total travels in the `X-Total-Count` header (the console sizes and pages its lists on it), so
a listing's body stays a plain JSON array; the header is written here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

TOTAL_COUNT = "X-Total-Count"


def page_reply(items: Sequence[Any], total: int) -> web.Response:
    """`items` as a JSON array, with `total` (all that match, not only this page) in X-Total-Count."""
    return web.json_response(items, headers={TOTAL_COUNT: str(total)})
