"""Progress on stderr: a redrawn bar in a terminal, a line per step in a file or pipe."""

import sys
import time

# Into a file or pipe: a line at every tenth of the work, and at least this often.
LINE_EVERY_S = 30.0


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class ProgressBar:
    """``bar(done, total)`` shows progress on ``stream`` (stderr).

    In a terminal one line is redrawn (carriage returns), at most ten times a second. Into
    a file or a pipe (a log, ``2> run.log``, a batch system) carriage returns would pile
    up into one unreadable line, so it writes a whole line at each tenth of the work (and
    at least every :data:`LINE_EVERY_S` seconds), and one at the end.
    """

    def __init__(self, label, stream=None, width=30, unit="frames"):
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.unit = unit
        self.interactive = _is_terminal(self.stream)
        self._last = 0.0
        self._last_step = -1
        self._start = time.perf_counter()

    def __call__(self, done, total):
        now = time.perf_counter()
        if self.interactive:
            self._redraw(done, total, now)
        else:
            self._line(done, total, now)

    def _rate(self, done, now):
        elapsed = now - self._start
        return done / elapsed if elapsed > 0 else 0.0

    def _redraw(self, done, total, now):
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        fraction = done / total if total else 1.0
        filled = int(self.width * fraction)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {self.unit} "
            f"{self._rate(done, now):,.0f} {self.unit}/s"
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()

    def _line(self, done, total, now):
        step = int(10 * done / total) if total else 10
        if done < total and step == self._last_step and now - self._last < LINE_EVERY_S:
            return
        if done >= total and self._last_step == 10:
            return  # the end is written once
        self._last, self._last_step = now, (10 if done >= total else step)
        percent = 100 * done / total if total else 100.0
        rate = f"{self._rate(done, now):,.0f} {self.unit}/s"
        end = f" in {now - self._start:.1f} s" if done >= total else ""
        self.stream.write(f"{self.label}: {done}/{total} {self.unit} ({percent:.0f}%), {rate}{end}\n")
        self.stream.flush()


class LiveProgress:
    """``progress(done, total)`` of a growing movie: frames localized and frames behind.

    ``total`` is the frames written so far, so ``total - done`` is how far the
    localization is behind the acquisition. A redrawn line in a terminal (ten times a
    second at most), a line every :data:`LIVE_LINE_EVERY_S` seconds into a file or pipe.
    """

    def __init__(self, label, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.interactive = _is_terminal(self.stream)
        self._last = -1e9
        self._start = time.perf_counter()

    def __call__(self, done, total):
        now = time.perf_counter()
        every = 0.1 if self.interactive else LIVE_LINE_EVERY_S
        if now - self._last < every:
            return
        self._last = now
        text = f"{self.label}: {done} frames localized, {max(0, total - done)} behind (live)"
        self.stream.write(f"\r{text}\x1b[K" if self.interactive else text + "\n")
        self.stream.flush()

    def end(self, done):
        """The movie has ended: say so once."""
        elapsed = time.perf_counter() - self._start
        text = f"{self.label}: {done} frames localized, movie ended ({elapsed:.1f} s)"
        self.stream.write(f"\r{text}\x1b[K\n" if self.interactive else text + "\n")
        self.stream.flush()


# A live run into a file or pipe: a progress line this often.
LIVE_LINE_EVERY_S = 5.0
