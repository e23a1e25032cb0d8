"""A text progress bar for the terminal (stderr), no dependency."""

import sys
import time


class ProgressBar:
    """``bar(done, total)`` redraws one line on stderr, at most ten times a second."""

    def __init__(self, label, stream=None, width=30):
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self._last = 0.0
        self._start = time.perf_counter()

    def __call__(self, done, total):
        now = time.perf_counter()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        fraction = done / total if total else 1.0
        filled = int(self.width * fraction)
        elapsed = now - self._start
        rate = done / elapsed if elapsed > 0 else 0.0
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} frames {rate:,.0f} frames/s"
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
