"""Writing rows: a localized file, a failed movie, imported files, moved files.

Every function writes in one transaction (:func:`~napari_picasso.db.schema.transaction`).
Parameters and metrics become columns on first sight: their names are derived from the
YAML key or metric name and recorded in the ``columns`` table, so the table stays
readable and a new metric needs no migration.
"""

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np

from ..core import timings
from ..io.drift import undrift_document
from ..io.errors import InputFileError
from ..io.locs import load_columns, load_info
from ..io.walk import walk_files
from .file_metrics import count_locs, file_quality_metrics
from .schema import COLUMNS_TABLE, FILE_COLUMNS, TABLE, family_of, now_iso, timestamp_iso, transaction

# Keys of the localization document (the first YAML document after the movie's that has
# one of these) are stored as parameter columns.
LOCALIZATION_KEYS = ("Box Size", "Min. Net Gradient", "Fit method")


def _column_name(source):
    name = re.sub(r"[^0-9a-zA-Z]+", "_", str(source)).strip("_").lower()
    if not name or name[0].isdigit():
        name = "c_" + name
    return name


def _sql_type(value):
    if isinstance(value, bool) or isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "REAL"
    return "TEXT"


def _sql_value(value):
    """Numbers and text as they are; lists, mappings and the rest as JSON text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalar
        return value.item()
    return json.dumps(value, default=str)


def _dynamic_columns(db, kind, values):
    """Column names for ``{source key: value}`` of ``kind``, adding missing columns.

    Must run inside the write transaction (it reads the registry and alters the table,
    and another process may have added the same column a moment before).
    """
    known = {
        source: name
        for name, source in db.execute(f"SELECT name, source FROM {COLUMNS_TABLE} WHERE kind = ?", [kind]).fetchall()
    }
    taken = {name for (name,) in db.execute(f"SELECT name FROM {COLUMNS_TABLE}").fetchall()}
    taken |= set(db[TABLE].columns_dict)
    names = {}
    for source, value in values.items():
        if source in known:
            names[source] = known[source]
            continue
        base = _column_name(source)
        name = base if base not in taken else f"{kind[0]}_{base}"
        n = 2
        while name in taken:
            name, n = f"{kind[0]}_{base}_{n}", n + 1
        db.execute(f'ALTER TABLE {TABLE} ADD COLUMN "{name}" {_sql_type(value)}')
        db.execute(f"INSERT INTO {COLUMNS_TABLE} (name, kind, source) VALUES (?, ?, ?)", [name, kind, str(source)])
        taken.add(name)
        names[source] = name
    return names


def localization_document(info):
    """The localization step's YAML document (Box Size, gradient, fit...), or ``{}``."""
    for doc in info[1:]:
        if isinstance(doc, dict) and any(key in doc for key in LOCALIZATION_KEYS):
            return doc
    return info[1] if len(info) > 1 and isinstance(info[1], dict) else {}


def _upsert(db, row, keep_group):
    columns = list(row)
    placeholders = ", ".join("?" for _ in columns)
    quoted = ", ".join(f'"{c}"' for c in columns)
    updates = ", ".join(
        f'"{c}" = excluded."{c}"'
        if not (c == "group_name" and keep_group)
        else '"group_name" = COALESCE(excluded."group_name", group_name)'
        for c in columns
        if c != "locs_path"
    )
    db.execute(
        f"INSERT INTO {TABLE} ({quoted}) VALUES ({placeholders}) ON CONFLICT(locs_path) DO UPDATE SET {updates}",
        [_sql_value(row[c]) for c in columns],
    )
    return db.execute(f"SELECT id FROM {TABLE} WHERE locs_path = ?", [row["locs_path"]]).fetchone()[0]


def metric_inputs(info):
    """``(width, height, pixelsize_nm, n_frames)`` for the metrics, from a file's YAML documents.

    ``pixelsize_nm`` is None when the localization document gives none: a guessed camera
    would make every ``_nm`` figure wrong, so they are left empty (NULL) and the ``_px``
    ones are kept.
    """
    movie = info[0] if info else {}
    pixelsize = localization_document(info).get("Pixelsize")
    return (
        int(movie.get("Width", 0)),
        int(movie.get("Height", 0)),
        float(pixelsize) if pixelsize else None,
        int(movie.get("Frames", 0)),
    )


# Figures of the drift a file was corrected for (its undrift document) -> metric columns
UNDRIFT_FIGURES = {
    "Drift X range (nm)": "undrift_x_range_nm",
    "Drift Y range (nm)": "undrift_y_range_nm",
    "Drift Z range (nm)": "undrift_z_range_nm",
    "Drift X range (px)": "undrift_x_range_px",
    "Drift Y range (px)": "undrift_y_range_px",
    "Split-halves error X (nm)": "undrift_error_x_nm",
    "Split-halves error Y (nm)": "undrift_error_y_nm",
    "Split-halves error Z (nm)": "undrift_error_z_nm",
    "Split-halves error X (px)": "undrift_error_x_px",
    "Split-halves error Y (px)": "undrift_error_y_px",
}


def undrift_figures(info):
    """The drift method, range and split-halves error a file was undrifted with.

    From the file's last undrift document (ours; of Picasso's only the method): keys
    ``undrift_method`` (``RCC``, ``AIM``, ``fiducials``), the values of
    :data:`UNDRIFT_FIGURES` present, and ``undrift_error_nm`` (or ``_px``): the RMS of the
    x and y split-halves errors. ``{}`` for a file never undrifted.
    """
    found = undrift_document(info)
    if found is None:
        return {}
    method, document = found
    out = {"undrift_method": method}
    for key, name in UNDRIFT_FIGURES.items():
        value = document.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    for unit in ("nm", "px"):
        x, y = out.get(f"undrift_error_x_{unit}"), out.get(f"undrift_error_y_{unit}")
        if x is not None and y is not None:
            out[f"undrift_error_{unit}"] = math.sqrt((x * x + y * y) / 2)
    return out


def colour_counts(info, colour=None, path=None):
    """Localizations per colour of a splitter file with colour windows (``--colour``).

    ``{"n_colour_<name>": count, ..., "n_colour_none": count}`` (metric columns), from the
    ``colour`` field (``colour``, or read alone from ``path``); ``{}`` for a file without
    colour windows.

    Examples
    --------
    >>> info = [{}, {"Fit method": "mle-ratio", "Colours": ["A", "B"]}]
    >>> colour_counts(info, np.array([0, 1, 1, -1]))
    {'n_colour_A': 1, 'n_colour_B': 2, 'n_colour_none': 1}
    """
    names = localization_document(info).get("Colours")
    if not names:
        return {}
    if colour is None:
        colour = load_columns(path, ["colour"])["colour"]
    if colour is None:
        return {}
    counts = np.bincount(np.asarray(colour, np.int64) + 1, minlength=len(names) + 1)
    out = {f"n_colour_{name}": int(counts[i + 1]) for i, name in enumerate(names)}
    out["n_colour_none"] = int(counts[0])
    return out


def compute_metrics(locs, info):
    """Quality metrics of a file's localizations (:func:`core.quality.quality_metrics`)."""
    from ..core.quality import quality_metrics

    return quality_metrics(locs, *metric_inputs(info))


# Commands still to run on a file (a watcher's follow-ups), a JSON list of templates; a
# file column added on first use, so databases without watchers never get it.
PENDING_COMMANDS = "commands_pending"


# What a watcher knew of the movie when it localized it: its files' (name, size, mtime_ns),
# JSON; compared on restart, so a movie that changed since is redone. Added on first use.
MOVIE_SIGNATURE = "movie_signature"
# The follow-up command running on a file: {"pid", "pgid", "arguments"}, JSON; a restarted
# watcher does not start it again while that process group lives. Added on first use.
RUNNING_COMMAND = "command_running"


def _file_column(db, source, create=False):
    """The file column ``source`` (None when it does not exist yet and not ``create``)."""
    if create:
        return _dynamic_columns(db, "file", {source: ""})[source]
    if COLUMNS_TABLE not in db.table_names():
        return None
    found = db.execute(f"SELECT name FROM {COLUMNS_TABLE} WHERE kind = 'file' AND source = ?", [source]).fetchone()
    return found[0] if found else None


def _pending_column(db, create=False):
    """The column holding pending commands (None when it does not exist yet and not ``create``)."""
    return _file_column(db, PENDING_COMMANDS, create)


def _json_value(db, locs_path, source):
    column = _file_column(db, source)
    if column is None:
        return None
    found = db.execute(
        f'SELECT "{column}" FROM {TABLE} WHERE locs_path = ?', [str(Path(locs_path).absolute())]
    ).fetchone()
    return json.loads(found[0]) if found and found[0] else None


def movie_signature(db, locs_path):
    """The movie's files ``[[name, size, mtime_ns], ...]`` when ``locs_path`` was recorded, or None."""
    return _json_value(db, locs_path, MOVIE_SIGNATURE)


def running_command(db, locs_path):
    """The follow-up command recorded as running on a file (``{"pid", "pgid", "arguments"}``) or None."""
    return _json_value(db, locs_path, RUNNING_COMMAND)


def set_running_command(db, locs_path, running):
    """Record the command now running on a file (a dict), or that none is (None)."""
    with transaction(db):
        column = _file_column(db, RUNNING_COMMAND, create=running is not None)
        if column is None:
            return
        db.execute(
            f'UPDATE {TABLE} SET "{column}" = ? WHERE locs_path = ?',
            [json.dumps(running) if running is not None else None, str(Path(locs_path).absolute())],
        )


def _pending_value(commands):
    return json.dumps(list(commands)) if commands else None


def record_localization(
    db, locs_path, *, metrics=None, group=None, locs=None, info=None, pending_commands=None, movie_signature=None
):
    """Write (or update) the row of one localization file.

    Parameters
    ----------
    db : sqlite_utils.Database
        From :func:`open_database`.
    locs_path : path-like
        The ``_locs.hdf5`` (ours or Picasso's); read with its YAML unless ``locs`` and
        ``info`` are given: only the rows the metrics use and, streamed, the per-field
        statistics (:func:`~.file_metrics.file_quality_metrics`), never the whole table.
    metrics : dict of str to float, optional
        Quality figures; computed with :func:`core.quality.quality_metrics` when omitted.
    group : str, optional
        Group/tag; an existing row keeps its group when this is None.
    pending_commands : list of str, optional
        Commands still to run on the file (the watcher's follow-ups), written in the same
        transaction as the row: a process killed right after recording cannot lose them.
        See :func:`set_pending_commands` and :func:`pending_commands`.
    movie_signature : sequence, optional
        The movie's files ``(name, size, mtime_ns)`` as localized (a watcher redoes the
        output when they differ later); see :func:`movie_signature`.

    Returns
    -------
    int
        The row's id.
    """
    path = Path(locs_path).absolute()
    if locs is None or info is None:
        # Never the whole table: its size, and for the metrics only the rows they use
        # (a 10M-row file would otherwise need ~0.7 GB here).
        n_locs = count_locs(path)
        info = load_info(path)
        if metrics is None:
            with timings.stage("quality figures"):
                metrics, n_locs = file_quality_metrics(path, *metric_inputs(info))
    else:
        n_locs = len(locs)
        if metrics is None:
            metrics = compute_metrics(locs, info)
    movie = info[0] if info and isinstance(info[0], dict) else {}
    stat = path.stat()
    family, parameter_group = family_of(path)
    row = {
        "locs_path": str(path),
        "filename": path.name,
        "movie_path": movie.get("File") or None,
        "family": family,
        "parameter_group": parameter_group,
        "status": "ok",
        "reason": None,
        "file_created": timestamp_iso(stat.st_mtime),
        "entered": now_iso(),
        "file_size": stat.st_size,
        "file_mtime": stat.st_mtime,
        "n_locs": n_locs,
        "width": movie.get("Width"),
        "height": movie.get("Height"),
        "frames": movie.get("Frames"),
        "info_json": json.dumps(info, default=str),
    }
    if group is not None:
        row["group_name"] = group
    parameters = {k: v for k, v in localization_document(info).items() if k not in ("Width", "Height", "Frames")}
    colour = locs["colour"] if locs is not None and "colour" in (locs.dtype.names or ()) else None
    metrics = {**metrics, **undrift_figures(info), **colour_counts(info, colour, path)}
    with transaction(db):
        for kind, values in (("parameter", parameters), ("metric", dict(metrics))):
            names = _dynamic_columns(db, kind, values)
            row.update({names[key]: value for key, value in values.items()})
        if pending_commands:
            row[_pending_column(db, create=True)] = _pending_value(pending_commands)
        if movie_signature is not None:
            row[_file_column(db, MOVIE_SIGNATURE, create=True)] = json.dumps([list(m) for m in movie_signature])
        return _upsert(db, row, keep_group=True)


def record_file(locs_path, db_path=None, *, group=None):
    """Write the row of a newly written file into the database at ``db_path``; the row.

    Opens the database (default :func:`~.schema.default_database_path`), records the file
    with :func:`record_localization` and closes it again: what every front end calls
    right after a localization (the Localize dock in its worker thread, the command line).
    Errors are raised; callers report them and keep the file, which is already written.

    Returns
    -------
    dict
        The row (all columns) and ``database``: the database file's path.
    """
    from .query import get_row
    from .schema import open_database

    with timings.stage("database"):
        db = open_database(db_path)
        try:
            row = get_row(db, record_localization(db, locs_path, group=group))
            row["database"] = str(db.path)
            return row
        finally:
            db.close()


def record_table(db, path, *, group=None, pixelsize_nm=None):
    """Write the row of another tool's localization table (ThunderSTORM, SMLM, DECODE ...).

    ``pixelsize_nm`` is used where the table is in nm and does not say its pixel size.

    The table is converted in memory (:func:`~napari_picasso.io.tables.read_table`) and its
    quality figures computed from the converted rows; fields the file does not have (written
    as 0 in the conversion) are left out of the figures, so their ``mean_``/``std_`` stay
    empty instead of 0. The row is keyed by the table's own path.

    Returns
    -------
    int
        The row's id.
    """
    from ..io.table_layout import PixelSizeNeeded
    from ..io.tables import read_table

    try:
        locs, info = read_table(path)
    except PixelSizeNeeded:
        if pixelsize_nm is None:
            raise
        locs, info = read_table(path, pixelsize_nm=pixelsize_nm)
    absent = set(info[1].get("Fields absent from the source (written as 0)", ()))
    measured = locs[[name for name in locs.dtype.names if name not in absent]]
    metrics = compute_metrics(measured, info)
    return record_localization(db, path, metrics=metrics, group=group, locs=locs, info=info)


def set_pending_commands(db, locs_path, commands):
    """Replace the commands still to run on a file's row (empty: none left)."""
    with transaction(db):
        column = _pending_column(db, create=bool(commands))
        if column is None:
            return
        db.execute(
            f'UPDATE {TABLE} SET "{column}" = ? WHERE locs_path = ?',
            [_pending_value(commands), str(Path(locs_path).absolute())],
        )


def record_failure(db, movie_path, reason, *, locs_path=None, group=None, parameters=None):
    """Record a movie that could not be localized (status ``failed`` with ``reason``).

    The row is keyed by the output it would have had (``locs_path``, default
    ``<movie>_locs.hdf5``); a later success overwrites it. Returns the row's id.
    """
    from ..io.locs import locs_path_for

    movie_path = Path(movie_path).absolute()
    locs_path = Path(locs_path).absolute() if locs_path is not None else locs_path_for(movie_path)
    family, parameter_group = family_of(locs_path)
    row = {
        "locs_path": str(locs_path),
        "filename": locs_path.name,
        "movie_path": str(movie_path),
        "family": family,
        "parameter_group": parameter_group,
        "status": "failed",
        "reason": str(reason),
        "entered": now_iso(),
    }
    if group is not None:
        row["group_name"] = group
    with transaction(db):
        if parameters:
            names = _dynamic_columns(db, "parameter", parameters)
            row.update({names[key]: value for key, value in parameters.items()})
        return _upsert(db, row, keep_group=True)


@dataclasses.dataclass
class AddResult:
    """What :func:`add_paths` did: row ids written, files unchanged since their row, skipped files."""

    added: list = dataclasses.field(default_factory=list)
    unchanged: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)  # (path, reason)


def localization_files(folder):
    """``*_locs*.hdf5`` under ``folder``, recursively, sorted (ours and Picasso's names)."""
    return sorted(
        Path(entry.path) for entry in walk_files(folder) if entry.name.endswith(".hdf5") and "_locs" in entry.name
    )


def add_paths(db, paths, *, group=None, refresh=False, progress=None, pixelsize_nm=None):
    """Import existing localization files, or every ``*_locs*.hdf5`` in folders (recursive).

    Files named one by one may also be other tools' tables (ThunderSTORM CSV, rapidSTORM,
    Elyra, ONI, ``.smlm``, DECODE, SMAP, PYME; :func:`record_table`), with ``pixelsize_nm``
    for those in nm that do not say their camera pixel size. A file whose row exists with
    the same size and modification time is left as it is (unless ``refresh``); a file that
    cannot be read is skipped with its reason, never raised. ``progress(done, total)`` is
    called after each file.

    Returns
    -------
    AddResult
    """
    steps = iter_add_paths(db, paths, group=group, refresh=refresh, pixelsize_nm=pixelsize_nm)
    while True:
        try:
            done, total = next(steps)
        except StopIteration as finished:
            return finished.value
        if progress is not None:
            progress(done, total)


def iter_add_paths(db, paths, *, group=None, refresh=False, pixelsize_nm=None):
    """:func:`add_paths` as a generator: yields ``(files done, files)`` after each file and
    returns the :class:`AddResult` (a worker thread's progress: ``yield from``)."""
    files = []
    result = AddResult()
    for path in paths:
        path = Path(path).expanduser()
        if path.is_dir():
            files.extend(localization_files(path))
        elif path.is_file():
            files.append(path)
        else:
            result.skipped.append((str(path), "no such file or folder"))
    for done, path in enumerate(files, 1):
        absolute = path.absolute()
        existing = db.execute(
            f"SELECT id, file_size, file_mtime, status FROM {TABLE} WHERE locs_path = ?", [str(absolute)]
        ).fetchone()
        try:
            stat = absolute.stat()
        except OSError as error:
            result.skipped.append((str(absolute), f"cannot read it ({error})"))
            continue
        if (
            existing
            and not refresh
            and existing[3] == "ok"
            and existing[1] == stat.st_size
            and existing[2] == stat.st_mtime
        ):
            result.unchanged.append(existing[0])
            if group is not None:
                with transaction(db):
                    db.execute(f"UPDATE {TABLE} SET group_name = ? WHERE id = ?", [group, existing[0]])
        else:
            try:
                if _is_table(absolute):
                    result.added.append(record_table(db, absolute, group=group, pixelsize_nm=pixelsize_nm))
                else:
                    result.added.append(record_localization(db, absolute, group=group))
            except (InputFileError, ValueError, OSError) as error:
                result.skipped.append((str(absolute), str(error)))
        yield done, len(files)
    return result


def _is_table(path):
    """Another tool's table (not an HDF5 file with a ``locs`` dataset)."""
    from ..io.convert import is_locs_file
    from ..io.tables import is_localization_table

    return not is_locs_file(path) and is_localization_table(path)


def file_present(locs_path):
    """Whether a row's file is there (a vanished network drive counts as absent, never raises)."""
    try:
        return Path(locs_path).is_file()
    except OSError:
        return False


def missing_now(rows):
    """Ids of ``ok`` rows whose file is gone, without writing (read-only front ends show them)."""
    return [
        r["id"] for r in rows if r.get("status") == "ok" and r.get("locs_path") and not file_present(r["locs_path"])
    ]


def mark_missing(db):
    """Mark rows whose file is gone as ``missing`` (and found again as ``ok``).

    Never raises for a file it cannot check (a vanished network drive counts as missing).

    Returns
    -------
    dict
        ``{"missing": [ids newly missing], "found": [ids back]}``.
    """
    rows = db.execute(f"SELECT id, locs_path, status FROM {TABLE} WHERE status IN ('ok', 'missing')").fetchall()
    missing, found = [], []
    for row_id, locs_path, status in rows:
        exists = file_present(locs_path)
        if status == "ok" and not exists:
            missing.append(row_id)
        elif status == "missing" and exists:
            found.append(row_id)
    if missing or found:
        with transaction(db):
            for row_id in missing:
                db.execute(
                    f"UPDATE {TABLE} SET status = 'missing', reason = ? WHERE id = ?",
                    [f"file not found (moved or deleted), checked {now_iso()}", row_id],
                )
            for row_id in found:
                db.execute(f"UPDATE {TABLE} SET status = 'ok', reason = NULL WHERE id = ?", [row_id])
    return {"missing": missing, "found": found}


def pending_commands(db, locs_path):
    """The commands still to run on a file's row, in order (``[]``: none, or no row)."""
    column = _pending_column(db)
    if column is None:
        return []
    found = db.execute(
        f'SELECT "{column}" FROM {TABLE} WHERE locs_path = ?', [str(Path(locs_path).absolute())]
    ).fetchone()
    return json.loads(found[0]) if found and found[0] else []


def set_group(db, row_ids, group):
    """Set the group/tag of rows (``None`` clears it)."""
    with transaction(db):
        for row_id in row_ids:
            db.execute(f"UPDATE {TABLE} SET group_name = ? WHERE id = ?", [group, int(row_id)])


__all__ = [
    "AddResult",
    "FILE_COLUMNS",
    "PENDING_COMMANDS",
    "add_paths",
    "compute_metrics",
    "file_present",
    "iter_add_paths",
    "localization_document",
    "localization_files",
    "mark_missing",
    "missing_now",
    "movie_signature",
    "pending_commands",
    "record_failure",
    "record_file",
    "record_localization",
    "record_table",
    "set_group",
    "running_command",
    "set_pending_commands",
    "set_running_command",
    "undrift_figures",
]
