"""Console start benchmark (not a test): how soon does `workflowdev tui --server URL` show flows?

    python bench/console_start.py               # medians of 5, an 80x24 pseudo-terminal

C1  from launching the console to its first screen showing a stored flow's name, against a
    `workflowdev server` already running (bytecode written, as for an installed package)
C2  the same console's imports alone (`import workflowdev.tui.app` in a fresh interpreter)
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
import urllib.request
from pathlib import Path

from engine import server_process  # bench/engine.py: the same server process

ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
FLOW = "name: console-bench-flow\ntasks:\n  - {name: a, type: util.noop}\n"
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"} | {"TERM": "xterm-256color"}


def first_screen(url: str, marker: bytes, columns: int = 80, rows: int = 24, deadline: float = 30) -> float:
    """Seconds from launch until `marker` is on the console's screen."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workflowdev.cli", "tui", "--server", url],
        stdin=slave, stdout=slave, stderr=slave, env=ENV, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    try:
        while time.perf_counter() - began < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                seen += os.read(master, 65536)
                if marker in ANSI.sub(b"", seen):
                    return time.perf_counter() - began
        raise AssertionError(f"{marker!r} never appeared; last output: {ANSI.sub(b'', seen)[-500:]!r}")
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


def imports() -> float:
    code = "import time; t = time.perf_counter(); import workflowdev.tui.app; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True).stdout)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, server_process(f"sqlite:///{Path(tmp) / 's.db'}", Path(tmp) / "d") as (url, _pid):
        request = urllib.request.Request(
            f"{url}/api/v1/flows", data=json.dumps({"yamlContent": FLOW}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        urllib.request.urlopen(request).close()
        first_screen(url, b"console-bench-flow")  # writes the console's bytecode
        c1 = statistics.median(first_screen(url, b"console-bench-flow") for _ in range(5))
    c2 = statistics.median(imports() for _ in range(5))
    print(f"workflowdev console start, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print("| measure | seconds |\n|---|---:|")
    print(f"| C1 tui --server: first screen with flows at 80x24 | {c1:.2f} |")
    print(f"| C2 console imports | {c2:.2f} |")


if __name__ == "__main__":
    main()
