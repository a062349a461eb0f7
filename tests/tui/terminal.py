"""A real pseudo-terminal for console tests: the process sees exactly an operator's terminal."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time

ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


class Terminal:
    """A child process on a pseudo-terminal (120x40 unless told), whose screen text we can wait on."""

    def __init__(self, args: list[str], env: dict[str, str], size: tuple[int, int] = (120, 40)) -> None:
        self.master, slave = os.openpty()
        columns, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.seen = b""

    def wait_for(self, text: str, deadline: float = 30.0) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if text.encode() in ANSI.sub(b"", self.seen).replace(b"\r", b"").replace(b"\n", b""):
                return
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    break
        tail = ANSI.sub(b"", self.seen)[-2000:].decode(errors="replace")
        raise AssertionError(f"{text!r} never appeared on the terminal; last output:\n{tail}")

    def text(self) -> str:
        """Everything drawn so far, without the escape sequences."""
        return ANSI.sub(b"", self.seen).decode(errors="replace")

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait_exit(self, deadline: float = 20.0) -> int:
        end = time.monotonic() + deadline
        while self.proc.poll() is None and time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    os.read(self.master, 65536)  # keep draining so the child never blocks on a full pty
                except OSError:
                    pass
        return self.proc.wait(timeout=1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
