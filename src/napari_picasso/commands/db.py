"""``napari-picasso db``: the experiment database from the command line.

``db add PATH...`` imports localization files or folders (recursive, ours and Picasso's;
files named one by one may be other tools' tables, converted to figure their quality),
``db list`` prints the rows as a table, ``db check`` marks moved files missing,
``db path`` prints the database file in use, ``db use PATH`` makes a file the default of
every front end.
"""

import os
import shutil
import sys
from pathlib import Path

from ..io.errors import InputFileError
from ._progress import ProgressBar

DEFAULT_LIST_COLUMNS = [
    "id",
    "filename",
    "group_name",
    "status",
    "n_locs",
    "locs_per_frame",
    "nena_nm",
    "mean_photons",
    "mean_lpx",
    "entered",
]


def add_database_option(parser):
    """``--db PATH`` and ``--no-db``, for every command that writes rows."""
    parser.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="experiment database file (default: $NAPARI_PICASSO_DB or ~/.picasso/napari_picasso.db)",
    )
    parser.add_argument("--no-db", action="store_true", help="do not write a row to the experiment database")
    parser.add_argument("--group", help="group/tag of the database rows")


def record_after_localization(args, locs_path, stream=None):
    """Write the database row of a new file unless ``--no-db``; returns the row or None.

    A database problem is reported and does not fail the localization that succeeded.
    """
    if getattr(args, "no_db", False):
        return None
    from ..db import record_file

    try:
        return record_file(locs_path, getattr(args, "db", None), group=getattr(args, "group", None))
    except Exception as error:  # noqa: BLE001  the localization itself succeeded
        print(f"warning: no database row written for {locs_path}: {error}", file=stream or sys.stderr)
        return None


def table_width():
    """Characters a table may use: the terminal's width, or None (no limit) into a file or pipe.

    ``$COLUMNS`` sets it anywhere (as for ``ls``).
    """
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return shutil.get_terminal_size((120, 20)).columns
    return None


def _cut_middle(text, width):
    """``text`` in ``width`` characters, its middle replaced by '...' (a path keeps its file name)."""
    if len(text) <= width:
        return text
    tail = (width - 3) * 2 // 3
    return text[: width - 3 - tail] + "..." + text[len(text) - tail :]


# Text columns are narrowed (never numbers or times) down to this many characters.
MIN_TEXT_WIDTH = 16


def format_table(rows, columns, max_width=None):
    """Rows as an aligned text table: numbers right-aligned, times in full (local time).

    With ``max_width`` (the terminal's width, see :func:`table_width`) the widest text
    columns (paths, names, groups) are narrowed, their middles replaced by '...', until
    the table fits or they reach :data:`MIN_TEXT_WIDTH`; numbers and times are never cut.
    Without it every value is written whole.
    """
    from ..db.views import TIME_COLUMNS, format_time, format_value, is_number

    def text(row, column):
        value = row.get(column)
        return format_time(value) if column in TIME_COLUMNS and value else format_value(value)

    cells = [[text(r, c) for c in columns] for r in rows]
    numeric = [any(is_number(r.get(c)) for r in rows) for c in columns]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    narrowable = [i for i, c in enumerate(columns) if not numeric[i] and c not in TIME_COLUMNS]
    if max_width:
        excess = sum(widths) + 2 * (len(widths) - 1) - max_width
        while excess > 0:
            widest = max(narrowable, key=lambda i: widths[i], default=None)
            if widest is None or widths[widest] <= MIN_TEXT_WIDTH:
                break  # as narrow as it gets: the terminal wraps the rest
            others = [widths[i] for i in narrowable if i != widest]
            target = max(MIN_TEXT_WIDTH, widths[widest] - excess, max(others, default=0))
            if target >= widths[widest]:
                target = widths[widest] - 1
            excess -= widths[widest] - target
            widths[widest] = target

    def line(values):
        return "  ".join(
            _cut_middle(v, w).rjust(w) if n else _cut_middle(v, w).ljust(w) for v, w, n in zip(values, widths, numeric)
        ).rstrip()

    lines = [line(columns), "  ".join("-" * w for w in widths)]
    lines += [line(row) for row in cells]
    return "\n".join(lines)


def add_parser(subparsers):
    parser = subparsers.add_parser("db", help="the experiment database: add files, list rows", description=__doc__)
    commands = parser.add_subparsers(dest="db_command", metavar="ACTION", help="one of these, with its own --help")

    def common(sub):
        sub.add_argument(
            "--db",
            type=Path,
            metavar="PATH",
            help="database file (default: $NAPARI_PICASSO_DB or ~/.picasso/napari_picasso.db)",
        )

    add = commands.add_parser(
        "add",
        help="import _locs.hdf5 files or folders (recursive), or other tools' tables (ThunderSTORM CSV, .smlm ...)",
    )
    add.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="_locs.hdf5 files or other tools' tables, or folders searched for _locs.hdf5 files",
    )
    add.add_argument(
        "--pixelsize",
        type=float,
        metavar="NM",
        help="camera pixel size (nm) of tables in nm that do not say it (ThunderSTORM, rapidSTORM, ONI)",
    )
    add.add_argument("--group", help="group/tag for the imported rows")
    add.add_argument("--refresh", action="store_true", help="re-read files whose row is up to date")
    common(add)
    add.set_defaults(func=run_add)

    listing = commands.add_parser("list", help="print the rows as a table")
    listing.add_argument("--filter", metavar="TEXT", help="only files whose path contains TEXT")
    listing.add_argument("--group", help="only this group/tag")
    listing.add_argument(
        "--status",
        choices=("ok", "missing", "failed"),
        help="only rows of this status (missing: the file was moved or deleted; failed: it did not localize)",
    )
    listing.add_argument(
        "--columns",
        nargs="+",
        metavar="COLUMN",
        help="columns to show (default: the main figures; 'all' for every column)",
    )
    listing.add_argument("--sort", default="entered", help="column to sort by (default: entered, newest first)")
    listing.add_argument("--ascending", action="store_true", help="sort from the smallest (the oldest) up")
    listing.add_argument("--limit", type=int, metavar="N", help="show at most N rows (default: all)")
    listing.add_argument("--csv", type=Path, metavar="FILE", help="also write the rows as CSV")
    common(listing)
    listing.set_defaults(func=run_list)

    check = commands.add_parser("check", help="mark rows whose file was moved or deleted as missing")
    common(check)
    check.set_defaults(func=run_check)

    where = commands.add_parser("path", help="print the database file in use")
    common(where)
    where.set_defaults(func=run_path)

    use = commands.add_parser(
        "use",
        help="make a database file the default of every front end (a setting "
        "in ~/.picasso/settings.yaml; $NAPARI_PICASSO_DB still wins)",
    )
    use.add_argument("path", nargs="?", type=Path, metavar="PATH", help="the database file")
    use.add_argument("--reset", action="store_true", help="forget the choice: back to ~/.picasso/napari_picasso.db")
    use.set_defaults(func=run_use)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _open(args, readonly=False):
    from ..db import open_database

    return open_database(args.db, readonly=readonly)


def run_add(args):
    from ..db import add_paths

    try:
        db = _open(args)
    except InputFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    with db:
        progress = ProgressBar("adding", unit="files")
        result = add_paths(
            db, args.paths, group=args.group, refresh=args.refresh, progress=progress, pixelsize_nm=args.pixelsize
        )
        for path, reason in result.skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        print(
            f"{db.path}: {len(result.added)} rows written, {len(result.unchanged)} unchanged, "
            f"{len(result.skipped)} skipped"
        )
    return 1 if result.skipped and not (result.added or result.unchanged) else 0


def run_list(args):
    from ..db import display_columns, query_rows, table_columns
    from ..db.views import rows_to_csv

    try:
        db = _open(args, readonly=True)
    except InputFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    with db:
        known = table_columns(db)
        if args.columns == ["all"]:
            columns = display_columns(db)
        elif args.columns:
            columns = args.columns
        else:
            columns = [c for c in DEFAULT_LIST_COLUMNS if c in known]
        try:
            rows = query_rows(
                db,
                text=args.filter,
                group=args.group,
                status=args.status,
                columns=columns,
                order_by=args.sort,
                descending=not args.ascending,
                limit=args.limit,
            )
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if args.csv:
            rows_to_csv(rows, columns, args.csv)
        print(format_table(rows, columns, table_width()))
        print(f"{len(rows)} rows ({db.path})")
    return 0


def run_check(args):
    from ..db import mark_missing

    with _open(args) as db:
        result = mark_missing(db)
        print(f"{db.path}: {len(result['missing'])} newly missing, {len(result['found'])} found again")
    return 0


def run_path(args):
    from ..db import database_path_source

    if args.db:
        print(Path(args.db).expanduser().absolute())
    else:
        path, source = database_path_source()
        print(path if source == "default" else f"{path}  ({source})")
    return 0


def run_use(args):
    from ..db import DB_ENV_VAR, open_database, set_database_setting

    if args.reset == (args.path is not None):
        print("napari-picasso db use: give a database file, or --reset", file=sys.stderr)
        return 2
    if args.reset:
        written = set_database_setting(None)
        print(f"default database: ~/.picasso/napari_picasso.db (setting removed from {written})")
        return 0
    path = args.path.expanduser().absolute()
    open_database(path).close()  # refuse a file that is not a database, create a new one
    written = set_database_setting(path)
    print(f"default database: {path} (saved in {written})")
    if os.environ.get(DB_ENV_VAR):
        print(f"note: ${DB_ENV_VAR} is set ({os.environ[DB_ENV_VAR]}) and wins over this setting", file=sys.stderr)
    return 0
