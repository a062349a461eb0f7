"""Statuses as the operator reads them, with colour and without (NO_COLOR)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rich.style import Style

from workflowdev.tui.formatting import STATUS_STYLES
from workflowdev.tui.formatting import status_glyph
from workflowdev.tui.formatting import status_text
from workflowdev.tui.formatting import use_monochrome


@pytest.fixture
def monochrome() -> Iterator[None]:
    use_monochrome(True)
    yield
    use_monochrome(False)


@pytest.mark.parametrize("status", sorted(STATUS_STYLES))
def test_without_colour_no_status_leans_on_a_hue(monochrome: None, status: str) -> None:
    for text in (status_text(status), status_glyph(status)):
        style = Style.parse(str(text.style)) if text.style else Style()
        assert style.color is None and style.bgcolor is None, (status, text.style)


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "REJECTED"])
def test_without_colour_what_failed_is_reversed_and_bold(monochrome: None, status: str) -> None:
    style = Style.parse(str(status_text(status).style))
    assert style.reverse and style.bold


@pytest.mark.parametrize("status", ["RUNNING", "PAUSED", "WAITING", "PENDING"])
def test_without_colour_what_needs_you_is_bold(monochrome: None, status: str) -> None:
    assert Style.parse(str(status_text(status).style)).bold


def test_with_colour_the_hues_stay() -> None:
    assert Style.parse(str(status_text("FAILED").style)).color is not None
