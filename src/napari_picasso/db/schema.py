"""Database connection, transactions, schema version and migrations.

The schema is documented in :mod:`napari_picasso.db` (and the README). Each entry of
:data:`MIGRATIONS` takes the database from version ``i`` to ``i + 1``; :func:`migrate`
applies the missing ones in order inside one ``BEGIN IMMEDIATE`` transaction, so a
crash during a migration leaves the old version intact and two processes opening an old
file at once migrate it once.
"""

import contextlib
import datetime
import os
import re
import sqlite3
import sys
from pathlib import Path

from ..io.atomic import replacing
from ..io.errors import InputFileError


def _import_sqlite_utils():
    """``sqlite_utils``, without the pandas it imports when it can.

    sqlite_utils imports pandas (a third of a second, more than the rest of writing a
    row) only to store ``pandas.Timestamp`` values as text; rows here hold none. Where
    pandas is loaded already (napari), nothing changes.
    """
    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        import sqlite_utils
    else:
        sys.modules["pandas"] = None  # `import pandas` raises ImportError while this is set
        try:
            import sqlite_utils
        finally:
            del sys.modules["pandas"]
    return sqlite_utils


sqlite_utils = _import_sqlite_utils()

DB_ENV_VAR = "NAPARI_PICASSO_DB"
DEFAULT_DB_PATH = Path("~") / ".picasso" / "napari_picasso.db"
# A watcher and a viewer write at the same time: a writer waits this long for the other's
# transaction (they last milliseconds) before giving up.
BUSY_TIMEOUT_S = 60.0

TABLE = "localizations"
COLUMNS_TABLE = "columns"
META_TABLE = "meta"


# The user's choice of database (``napari-picasso db use``, the explorer's Open), beside the
# default database so that every front end (command line, watcher, viewer, browser) sees it.
SETTINGS_PATH = Path("~") / ".picasso" / "settings.yaml"
SETTING_KEY = "database"


def _read_settings():
    """The settings file's mapping ({} when it is missing or unreadable)."""
    import yaml

    try:
        with open(SETTINGS_PATH.expanduser()) as f:
            settings = yaml.safe_load(f)
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    return settings if isinstance(settings, dict) else {}


def database_setting():
    """The database file chosen with :func:`set_database_setting`, or None (none chosen,
    or the settings file is unreadable)."""
    value = _read_settings().get(SETTING_KEY)
    return Path(str(value)).expanduser() if value else None


def set_database_setting(path):
    """Remember ``path`` as the default database of every front end (None: forget it).

    Written to a temporary name and renamed; other keys of the settings file are kept.
    Returns the settings file's path.
    """
    import yaml

    target = SETTINGS_PATH.expanduser()
    settings = _read_settings()
    if path is None:
        settings.pop(SETTING_KEY, None)
    else:
        settings[SETTING_KEY] = str(Path(path).expanduser().absolute())
    target.parent.mkdir(parents=True, exist_ok=True)
    with replacing(target) as part, open(part, "w") as f:
        yaml.safe_dump(settings, f, sort_keys=True)
    return target


def database_path_source():
    """The default database file and where that choice comes from.

    Returns
    -------
    path : pathlib.Path
    source : str
        ``"$NAPARI_PICASSO_DB"``, ``"setting in ~/.picasso/settings.yaml"`` or ``"default"``.
    """
    value = os.environ.get(DB_ENV_VAR)
    if value:
        return Path(value).expanduser(), f"${DB_ENV_VAR}"
    chosen = database_setting()
    if chosen is not None:
        return chosen, f"setting in {SETTINGS_PATH}"
    return DEFAULT_DB_PATH.expanduser(), "default"


def default_database_path():
    """``$NAPARI_PICASSO_DB`` if set, else the file chosen with :func:`set_database_setting`
    (``napari-picasso db use PATH``, the explorer's Open), else ``~/.picasso/napari_picasso.db``."""
    return database_path_source()[0]


def now_iso():
    """The current time, UTC, ISO 8601 to the second (sorts as text)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def timestamp_iso(seconds):
    """A POSIX timestamp as UTC ISO 8601 text."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat(timespec="seconds")


class DatabaseUnusable(InputFileError, sqlite3.OperationalError):
    """The database cannot be written or read: read-only, its disk full, locked, damaged.

    An :class:`~napari_picasso.io.errors.InputFileError` (the command line prints it
    without a traceback) and still an ``sqlite3.OperationalError`` for code that catches
    those. Made by :func:`database_error`.
    """


_ENVIRONMENT_WORDS = ("readonly", "read-only", "disk is full", "no space", "locked", "busy", "disk i/o")


def _environment_error(error):
    """An SQLite error about the file's surroundings (permissions, disk, lock), not a query bug."""
    if isinstance(error, DatabaseUnusable) or not isinstance(error, sqlite3.OperationalError):
        return False
    text = str(error).lower()
    return any(word in text for word in _ENVIRONMENT_WORDS)


def database_error(path, error):
    """A :class:`DatabaseUnusable` that says what is wrong with the database at ``path``.

    SQLite says "attempt to write a readonly database", "database or disk is full",
    "database is locked" or "file is not a database"; a user must not be told to move a
    healthy database aside because its disk is full or its file read-only.

    Examples
    --------
    >>> import sqlite3
    >>> error = database_error("/data/x.db", sqlite3.OperationalError("database or disk is full"))
    >>> error.problem
    'cannot be written: the disk is full (database or disk is full).'
    >>> isinstance(error, sqlite3.OperationalError)
    True
    """
    path = Path(path)
    text = str(error).lower()
    exists = path.exists()
    if "readonly" in text or "read-only" in text or (exists and not os.access(path, os.W_OK)):
        problem = f"is read-only ({error}): nothing can be recorded in it."
        fix = "make the file (and its folder) writable, or choose another database (--db)."
    elif "disk is full" in text or "no space" in text:
        problem = f"cannot be written: the disk is full ({error})."
        fix = f"free space on the disk of {path.parent}, then run it again."
    elif "locked" in text or "busy" in text:
        problem = f"is locked by another program for longer than {BUSY_TIMEOUT_S:g} s ({error})."
        fix = "wait until the other program (a watcher, a viewer, a long query) has finished, then run it again."
    elif "unable to open" in text or (exists and not os.access(path, os.R_OK)):
        problem = f"cannot be opened ({error})."
        fix = "check the permissions of the file and its folder, or choose another file."
    elif "disk i/o" in text:
        problem = f"cannot be read or written: the disk reports an I/O error ({error})."
        fix = "check the disk; the database itself may be fine."
    else:
        problem = f"is not a usable SQLite database ({error})."
        fix = "choose another file or move this one away."
    return DatabaseUnusable(path, problem, fix)


@contextlib.contextmanager
def transaction(db):
    """One write transaction (``BEGIN IMMEDIATE``): all of it is written or none.

    IMMEDIATE takes the write lock at the start, so two writers queue on the busy timeout
    instead of one failing when it upgrades a read lock. Nested use joins the outer one.
    """
    if db.conn.in_transaction:
        yield db
        return
    try:
        db.conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        raise database_error(getattr(db, "path", "database"), error) from None
    try:
        yield db
        db.conn.execute("COMMIT")
    except BaseException as error:
        if db.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.conn.execute("ROLLBACK")
        if _environment_error(error):
            raise database_error(getattr(db, "path", "database"), error) from None
        raise


# --- migrations ------------------------------------------------------------------------

# Columns every version-2 row has; the columns registry lists them with kind "file".
FILE_COLUMNS = {
    "id": "INTEGER",
    "locs_path": "TEXT",
    "filename": "TEXT",
    "movie_path": "TEXT",
    "family": "TEXT",
    "parameter_group": "INTEGER",
    "group_name": "TEXT",
    "status": "TEXT",
    "reason": "TEXT",
    "file_created": "TEXT",
    "entered": "TEXT",
    "file_size": "INTEGER",
    "file_mtime": "REAL",
    "n_locs": "INTEGER",
    "width": "INTEGER",
    "height": "INTEGER",
    "frames": "INTEGER",
    "info_json": "TEXT",
}

_PG = re.compile(r"^(?P<base>.*)_pg_(?P<index>\d+)$")


def family_of(locs_path):
    """The family key and parameter-group index of a localization file.

    Files of one movie share a family: ``<folder>/<movie>`` for ``<movie>_locs.hdf5``,
    ``<movie>_pg_<i>_locs.hdf5`` (parameter group ``i``) and later steps such as
    ``<movie>_locs_undrift.hdf5``.
    """
    path = Path(locs_path)
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    cut = stem.find("_locs")
    base = stem[:cut] if cut > 0 else stem
    match = _PG.match(base)
    group = None
    if match:
        base, group = match["base"], int(match["index"])
    return str(path.parent / base), group


def _v0_to_v1(db):
    """Version 1: the ``meta`` table and one row per localized file."""
    db.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key TEXT PRIMARY KEY, value TEXT)")
    db.execute(
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            id INTEGER PRIMARY KEY,
            locs_path TEXT NOT NULL UNIQUE,
            movie_path TEXT,
            file_created TEXT,
            entered TEXT NOT NULL,
            group_name TEXT,
            status TEXT NOT NULL DEFAULT 'ok',
            reason TEXT,
            n_locs INTEGER,
            width INTEGER,
            height INTEGER,
            frames INTEGER,
            info_json TEXT
        )"""
    )


def _v1_to_v2(db):
    """Version 2: families (Compare), file identity, and a registry of dynamic columns.

    Adds ``filename``, ``family``, ``parameter_group``, ``file_size``, ``file_mtime`` (the
    first three back-filled from ``locs_path``), the ``columns`` table naming every column
    and its kind (file / parameter / metric), and indexes for the explorer's filters.
    """
    table = db[TABLE]
    existing = set(table.columns_dict)
    for name in ("filename", "family", "parameter_group", "file_size", "file_mtime"):
        if name not in existing:
            table.add_column(name, {"INTEGER": int, "REAL": float, "TEXT": str}[FILE_COLUMNS[name]])
    for row_id, locs_path in db.execute(f"SELECT id, locs_path FROM {TABLE}").fetchall():
        family, group = family_of(locs_path)
        db.execute(
            f"UPDATE {TABLE} SET filename = ?, family = ?, parameter_group = ? WHERE id = ?",
            [Path(locs_path).name, family, group, row_id],
        )
    db.execute(
        f"""CREATE TABLE IF NOT EXISTS {COLUMNS_TABLE} (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            source TEXT NOT NULL,
            UNIQUE (kind, source)
        )"""
    )
    for name in FILE_COLUMNS:
        db.execute(f"INSERT OR IGNORE INTO {COLUMNS_TABLE} (name, kind, source) VALUES (?, 'file', ?)", [name, name])
    for column in ("family", "group_name", "entered", "status"):
        db.execute(f"CREATE INDEX IF NOT EXISTS idx_{TABLE}_{column} ON {TABLE} ({column})")


MIGRATIONS = [_v0_to_v1, _v1_to_v2]
"""Migration ``i`` takes the schema from version ``i`` to ``i + 1``; append, never edit."""

SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db):
    """The version stored in ``meta`` (0 for an empty file)."""
    if META_TABLE not in db.table_names():
        return 0
    row = db.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(db, path="database"):
    """Bring the schema up to :data:`SCHEMA_VERSION` (one transaction). Returns the old version."""
    with transaction(db):
        version = schema_version(db)
        if version > SCHEMA_VERSION:
            raise InputFileError(
                path,
                f"has schema version {version}; this napari-picasso knows up to {SCHEMA_VERSION}.",
                fix="upgrade napari-picasso, or choose another database file.",
            )
        for step in MIGRATIONS[version:]:
            step(db)
        if version < SCHEMA_VERSION:
            if version == 0:
                db.execute(f"INSERT OR REPLACE INTO {META_TABLE} (key, value) VALUES ('created', ?)", [now_iso()])
            db.execute(
                f"INSERT OR REPLACE INTO {META_TABLE} (key, value) VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
            )
            db.execute(f"INSERT OR REPLACE INTO {META_TABLE} (key, value) VALUES ('migrated', ?)", [now_iso()])
    return version


def open_database(path=None, readonly=False):
    """Open (and create or migrate) the experiment database.

    Parameters
    ----------
    path : path-like, optional
        The SQLite file; default :func:`default_database_path` (``$NAPARI_PICASSO_DB`` or
        ``~/.picasso/napari_picasso.db``). Its folder is created when missing.
    readonly : bool
        Open for reading only (the file must exist; no migration is run, an older schema
        is read as it is).

    Returns
    -------
    sqlite_utils.Database
        With ``.path`` set to the resolved file path. Close it with ``db.close()``.
    """
    path = Path(path).expanduser() if path is not None else default_database_path()
    path = path.absolute()
    if readonly:
        if not path.is_file():
            raise InputFileError(path, "no such database file.", fix="check the path or add files to create it.")
    else:
        if path.is_dir():
            raise InputFileError(
                path, "is a folder, not a database file.", fix="name a file, e.g. napari_picasso.db in that folder."
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputFileError(path.parent, f"cannot create the database folder ({error}).") from None
    try:
        if readonly:
            conn = sqlite3.connect(
                f"{path.as_uri()}?mode=ro",
                uri=True,
                timeout=BUSY_TIMEOUT_S,
                check_same_thread=False,
                isolation_level=None,
            )
        else:
            # isolation_level=None: no implicit transactions; every write goes through
            # transaction(), which says BEGIN IMMEDIATE ... COMMIT itself.
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as error:  # an unreadable file, a folder without write permission
        raise database_error(path, error) from None
    db = sqlite_utils.Database(conn)
    db.path = path
    try:
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if readonly:
            # Reading the schema checks the file's header: a file that is not SQLite fails
            # here, not in the first query of the caller.
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        else:
            # WAL: readers never block the writer and a killed writer leaves a log that the
            # next opener rolls back; the mode is stored in the file.
            db.enable_wal()
            migrate(db, path)
    except sqlite3.DatabaseError as error:
        db.close()
        if isinstance(error, DatabaseUnusable):
            raise
        raise database_error(path, error) from None
    return db
