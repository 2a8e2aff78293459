"""A dependency-free progress bar on stderr for long commands (imports, backtest loads)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """``update(done)`` redraws at most 10 times a second; ``close()`` ends the line.

    On a non-terminal stream (CI logs) it prints a line every 10% instead of redrawing.
    """

    def __init__(self, total: int, label: str, stream: TextIO | None = None, width: int = 30):
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.perf_counter()
        self._drawn_at = 0.0
        self._decile = -1
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        if self._tty:
            if now - self._drawn_at >= 0.1 or done >= self.total:
                self._drawn_at = now
                self.stream.write("\r" + self._line(now))
                self.stream.flush()
            return
        decile = min(10, done * 10 // self.total)
        if decile != self._decile:
            self._decile = decile
            self.stream.write(self._line(now) + "\n")
            self.stream.flush()

    def _line(self, now: float) -> str:
        share = min(1.0, self.done / self.total)
        filled = int(share * self.width)
        rate = self.done / max(now - self.started, 1e-9)
        bar = "#" * filled + "-" * (self.width - filled)
        return f"{self.label} [{bar}] {self.done}/{self.total} {share:4.0%} {rate:,.0f}/s"

    def close(self, finished: bool = True) -> None:
        """End the bar; a finished run shows its real count as the total (a CSV row may span
        lines, so the line count was only an estimate)."""
        if finished:
            self.total = max(self.done, 1)
            self._decile = -1
        self.update(self.done)
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()


def count_lines(path) -> int:
    """Lines of a text file (the progress total of a CSV import), read in binary chunks."""
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
