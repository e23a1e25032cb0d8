"""What the watcher needs from the experiment database, behind one small interface.

:class:`WatcherStore` is that interface: ask whether an output (or a failed movie) is
already recorded, record a finished localization, record a failure. The watcher opens
the store in its own thread (SQLite connections belong to one thread) and never writes
SQL itself.
"""

import datetime
from pathlib import Path

import sqlite_utils

DEFAULT_DB_PATH = Path("~") / ".picasso" / "napari_picasso.db"


def default_database_path():
    return DEFAULT_DB_PATH.expanduser()


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class WatcherStore:
    """The watcher's records in a SQLite file.

    Parameters
    ----------
    path : path-like
        The database file (created with its folder when missing).

    Notes
    -----
    Rows have an autoincrement ``id``: nothing in the schema stops a second row for the same
    output, the watcher asks :meth:`localization_recorded` before it localizes.
    """

    LOCALIZATIONS = "localizations"
    FAILURES = "failures"

    def __init__(self, path):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite_utils.Database(self.path)
        self._db.conn.execute("PRAGMA busy_timeout = 60000")

    # -- questions ----------------------------------------------------------------------
    def localization_recorded(self, locs_path):
        """True when ``locs_path`` has a finished localization row."""
        table = self._db[self.LOCALIZATIONS]
        return table.exists() and table.count_where("locs_path = ?", [str(Path(locs_path))]) > 0

    def failure_recorded(self, movie_path, group):
        """True when ``movie_path`` with parameter group ``group`` was recorded as failed."""
        table = self._db[self.FAILURES]
        return table.exists() and table.count_where(
            "movie_path = ? AND parameter_group = ?", [str(Path(movie_path)), int(group)]) > 0

    # -- records ------------------------------------------------------------------------
    def record_localization(self, movie_path, locs_path, group, result):
        """Record a finished localization (one transaction, one row per output)."""
        row = {
            "locs_path": str(Path(locs_path)),
            "movie_path": str(Path(movie_path)),
            "parameter_group": int(group),
            "status": "ok",
            "n_locs": int(result.n_locs),
            "frames": int(result.n_frames),
            "seconds": float(result.seconds),
            "entered": _now(),
        }
        with self._db.conn:
            self._db[self.LOCALIZATIONS].insert(row, pk="id")

    def record_failure(self, movie_path, group, reason):
        """Record that ``movie_path`` failed with parameter group ``group`` and why."""
        row = {
            "movie_path": str(Path(movie_path)),
            "parameter_group": int(group),
            "status": "failed",
            "reason": str(reason),
            "entered": _now(),
        }
        with self._db.conn:
            self._db[self.FAILURES].insert(row, pk="id")

    # -- reading (tests, widget) ----------------------------------------------------------
    def localizations(self):
        if not self._db[self.LOCALIZATIONS].exists():
            return []
        return list(self._db[self.LOCALIZATIONS].rows)

    def failures(self):
        if not self._db[self.FAILURES].exists():
            return []
        return list(self._db[self.FAILURES].rows)

    def close(self):
        self._db.close()
