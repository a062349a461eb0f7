"""Make the README's SVG screenshots of the console from the recorded demo data set.

    python screenshots/make.py              # every scenario at 120x40 into screenshots/*.svg,
                                            # and SMALL ones at 80x24 into *-80x24.svg
    python screenshots/make.py flows gate   # only these

The console runs headless against `screenshots/replay.py`, which serves `dataset.json` (re-record
it with `screenshots/record.py`); the scenarios are those the snapshot tests check.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual._doc import take_svg_screenshot  # noqa: E402

from screenshots.replay import ReplayServer  # noqa: E402
from screenshots.scenarios import SCENARIOS  # noqa: E402
from screenshots.scenarios import demo_app  # noqa: E402
from screenshots.scenarios import run_before  # noqa: E402

SIZE = (120, 40)
SMALL = ("executions", "gate")
"""Also drawn at 80x24, the size of a terminal opened over SSH: the README shows them."""
OUT = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    chosen = [s for s in SCENARIOS if not names or s.name in names]
    unknown = set(names) - {s.name for s in SCENARIOS}
    if unknown:
        print(f"unknown scenarios: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    with ReplayServer() as url:
        for scenario in chosen:
            sizes = [(SIZE, "")] + ([((80, 24), "-80x24")] if scenario.name in SMALL else [])
            for size, suffix in sizes:
                svg = take_svg_screenshot(
                    app=demo_app(url), terminal_size=size, run_before=run_before(scenario), title=scenario.description
                )
                path = OUT / f"{scenario.name}{suffix}.svg"
                path.write_text(svg, encoding="utf-8")
                print(f"{path.relative_to(ROOT)}: {scenario.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
