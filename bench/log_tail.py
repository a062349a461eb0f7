"""Log tail benchmark (not a test): does the console's log view keep up with 100,000 lines?

    python bench/log_tail.py            # medians of 5 runs, headless, 120x40

L1  append 100,000 lines in batches of 10,000                  total ms
L2  append 10,000 lines one call each (a burst from a stream)  µs per line, catching up included
L3  draw one full screen (40 rows) cold / from the cache       ms
L4  filter 100,000 lines to WARN and back to all               ms per change
L5  jump_to_task to the last task / first_error_line           ms
L6  memory held by 200,000 lines (the bound), tracemalloc      MB
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.app import ComposeResult

from workflowdev.tui.widgets.log_tail import LogTail

SIZE = (120, 40)
RUNS = 5
LEVELS = ("debug", "info", "info", "info", "info", "info", "info", "warning", "info", "error")


def log_lines(count: int, start: int = 0) -> list[dict[str, Any]]:
    """Realistic lines: ten tasks, mostly INFO, a traceback now and then."""
    return [
        {
            "type": "log",
            "seq": n + 1,
            "ts": f"2026-11-28T14:{n // 60_000 % 60:02d}:{n // 1000 % 60:02d}.{n % 1000:03d}Z",
            "level": LEVELS[n % len(LEVELS)],
            "taskName": f"task_{n // 10_000}",
            "attempt": 1 + n % 3,
            "message": f"processed record {n} of batch {n // 500}: ok"
            if n % 997
            else "Traceback (most recent call last):\n  File 'x.py', line 1\nValueError: bad",
        }
        for n in range(start, start + count)
    ]


class BenchApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogTail(id="logs")


def ms(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def draw_screen(tail: LogTail) -> None:
    for y in range(tail.size.height):
        tail.render_line(y)


async def one_run() -> dict[str, float]:
    app = BenchApp()
    results: dict[str, float] = {}
    async with app.run_test(size=SIZE) as pilot:
        tail = app.query_one(LogTail)
        await pilot.pause()
        batches = [log_lines(10_000, b * 10_000) for b in range(10)]
        results["L1 append 100k in 10k batches, ms"] = ms(lambda: [tail.append(batch) for batch in batches])
        await pilot.pause()
        stream = log_lines(10_000, 100_000)
        start = time.perf_counter()
        for line in stream:
            tail.append([line])
        await pilot.pause()  # the view catches up once for the whole burst
        results["L2 append one line per call, µs/line"] = (time.perf_counter() - start) * 1_000_000 / len(stream)
        tail.scroll_to(y=50_000, animate=False)  # never drawn before: the cache is cold
        results["L3 full screen cold, ms"] = ms(lambda: draw_screen(tail))
        results["L3 full screen cached, ms"] = ms(lambda: draw_screen(tail))
        results["L4 filter to WARN, ms"] = ms(lambda: tail.set_filter(level="WARN"))
        results["L4 filter back to all, ms"] = ms(lambda: tail.set_filter())
        results["L5 jump_to_task (last task), ms"] = ms(lambda: tail.jump_to_task("task_10"))
        results["L5 first_error_line, ms"] = ms(tail.first_error_line)
        tail.clear()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for start in range(0, 200_000, 10_000):
            tail.append(log_lines(10_000, start))
        await pilot.pause()
        gc.collect()
        results["L6 memory held for 200k lines, MB"] = (tracemalloc.get_traced_memory()[0] - before) / 2**20
        tracemalloc.stop()
    return results


def main() -> None:
    runs = [asyncio.run(one_run()) for _ in range(RUNS)]
    for name in runs[0]:
        print(f"{name:<42} {statistics.median(run[name] for run in runs):8.1f}")


if __name__ == "__main__":
    main()
