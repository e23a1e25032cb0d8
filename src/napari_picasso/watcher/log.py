"""The watcher's log: one line per event, appended to one file per watcher.

A line reads ``<UTC time>\\t<event>\\t<path>\\t<message>``; tabs and line breaks inside
fields are escaped so that every event stays one line (command output included).
Events: ``watching``, ``cleaned``, ``found``, ``waiting``, ``started``, ``finished``,
``failed``, ``skipped``, ``command``, ``resumed`` (commands an interrupted watcher left),
``vanished``, ``stopped``, ``error``.
"""

import datetime
import threading
from pathlib import Path

EVENTS = (
    "watching",
    "cleaned",
    "found",
    "waiting",
    "started",
    "finished",
    "failed",
    "skipped",
    "command",
    "resumed",
    "vanished",
    "stopped",
    "error",
)


def _field(value):
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")


def format_line(event, path="", message="", when=None):
    when = when or datetime.datetime.now(datetime.timezone.utc)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return "\t".join((stamp, _field(event), _field(path), _field(message)))


def parse_line(line):
    """``(time, event, path, message)`` of a log line (escapes undone)."""
    fields = line.rstrip("\n").split("\t")
    fields += [""] * (4 - len(fields))
    return tuple(_unescape(f) for f in fields[:4])


def _unescape(text):
    out = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}.get(nxt, "\\" + nxt))
        else:
            out.append(char)
    return "".join(out)


class WatcherLog:
    """Append event lines to ``path`` (flushed per line) and to optional listeners.

    Parameters
    ----------
    path : path-like or None
        The log file (created with its folder); None keeps lines only for listeners.
    echo : callable, optional
        ``echo(line)`` for every line (the command line prints them).
    """

    def __init__(self, path=None, echo=None):
        self.path = Path(path) if path is not None else None
        self.echo = echo
        self._lock = threading.Lock()
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")

    def event(self, event, path="", message=""):
        line = format_line(event, path, message)
        with self._lock:
            if self._file is not None and not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()
        if self.echo is not None:
            self.echo(line)
        return line

    def close(self):
        with self._lock:
            if self._file is not None:
                self._file.close()


def read_events(path):
    """All events of a log file as ``(time, event, path, message)`` tuples."""
    with open(path, encoding="utf-8") as f:
        return [parse_line(line) for line in f if line.strip()]


def default_log_path(folder):
    """``watcher-<UTC time>.log`` in ``folder``: one log file per watcher."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path(folder) / f"watcher-{stamp}.log"
