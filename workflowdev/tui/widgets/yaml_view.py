"""Flow YAML as the console shows it: highlighted, numbered, and with problems marked at their lines.

The ANSI syntax theme keeps to the terminal's own palette (no RGB colours), and every marked
line carries a `✖` in its gutter as well as colour, so problems still stand out without colour.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from rich.syntax import Syntax
from rich.text import Text

Problem = Mapping[str, Any]
"""`{line, column, path, message}` as the validate endpoint reports it; line and column may be absent."""


def yaml_text(code: str, problems: Iterable[Problem] = ()) -> Text:
    """`code` highlighted with line numbers; each problem's message is set under its line."""
    by_line: dict[int, list[Problem]] = {}
    for problem in problems:
        line = problem.get("line")
        if isinstance(line, int) and line > 0:
            by_line.setdefault(line, []).append(problem)
    highlighted = Syntax(code, "yaml", theme="ansi_dark", background_color="default").highlight(code)
    lines = highlighted.split("\n", allow_blank=True)
    if len(lines) > 1 and not lines[-1].plain:
        lines = lines[:-1]
    width = len(str(len(lines)))
    out = Text(no_wrap=True, end="")
    for number, line in enumerate(lines, start=1):
        marked = number in by_line
        out.append("✖" if marked else " ", style="bold red")
        out.append(f"{number:>{width}} │ ", style="bold red" if marked else "dim")
        out.append_text(line)
        out.append("\n")
        for problem in by_line.get(number, ()):
            column = problem.get("column")
            where = f"column {column}: " if isinstance(column, int) and column > 0 else ""
            out.append(f"{' ' * (width + 1)} ╰ {where}{problem.get('message', '')}\n", style="red")
    out.rstrip()
    return out


def problem_lines(problems: Iterable[Problem]) -> list[str]:
    """One line per problem, `line 4, column 7 · tasks[0].type · unknown task type`, in file order."""

    def place(problem: Problem) -> tuple[int, int]:
        return (problem.get("line") or 0, problem.get("column") or 0)

    described = []
    for problem in sorted(problems, key=place):
        line, column = place(problem)
        where = f"line {line}, column {column}" if line else "(no line)"
        path = problem.get("path") or ""
        parts = [where, *([path] if path else []), str(problem.get("message", ""))]
        described.append(" · ".join(parts))
    return described
