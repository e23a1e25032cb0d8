"""Reading rows: the queries behind the explorer, the browser app, the watcher and ``db list``."""

from .schema import COLUMNS_TABLE, META_TABLE, TABLE, schema_version

# Shown first in tables, in this order, when present.
LEADING_COLUMNS = ["id", "filename", "group_name", "status", "entered", "file_created", "n_locs", "frames"]
# Internal or bulky columns a table leaves out unless asked for.
HIDDEN_COLUMNS = {"info_json", "file_mtime", "file_size", "commands_pending"}
ORDERABLE_DEFAULT = "entered"


def table_columns(db):
    """Every column of the localizations table, in table order."""
    return list(db[TABLE].columns_dict)


def column_kinds(db):
    """``{column: kind}``, kind one of ``file``, ``parameter``, ``metric``."""
    if COLUMNS_TABLE not in db.table_names():
        return {name: "file" for name in table_columns(db)}
    return dict(db.execute(f"SELECT name, kind FROM {COLUMNS_TABLE}").fetchall())


def display_columns(db):
    """Columns for a table view: leading file columns, the other file details, then metrics,
    then parameters, then the rest (what a file is comes before how good it is)."""
    columns = [c for c in table_columns(db) if c not in HIDDEN_COLUMNS]
    kinds = column_kinds(db)
    leading = [c for c in LEADING_COLUMNS if c in columns]
    details = [c for c in columns if kinds.get(c) == "file" and c not in leading]
    # A metric renamed for clashing with a file column repeats a file fact (n_locs, width):
    # it goes after the other metrics.
    metrics = sorted((c for c in columns if kinds.get(c) == "metric"), key=lambda c: c.startswith("m_"))
    parameters = [c for c in columns if kinds.get(c) == "parameter"]
    shown = set(leading + details + metrics + parameters)
    return leading + details + metrics + parameters + [c for c in columns if c not in shown]


def numeric_columns(db, *, with_time=False):
    """Columns holding numbers in at least one row (for plots): metrics first.

    ``with_time`` appends the time columns (``file_created``, ``entered``) for a scatter axis.
    """
    kinds = column_kinds(db)
    columns = [c for c in display_columns(db) if c != "id"]
    numeric = []
    for column in columns:
        found = db.execute(
            f"SELECT 1 FROM {TABLE} WHERE typeof(\"{column}\") IN ('integer', 'real') LIMIT 1"
        ).fetchone()
        if found:
            numeric.append(column)
    numeric = sorted(numeric, key=lambda c: (kinds.get(c) != "metric", numeric.index(c)))
    if with_time:
        numeric += [c for c in ("file_created", "entered") if c in columns]
    return numeric


def filter_clause(*, text=None, group=None, status=None, family=None, since=None, until=None):
    """The SQL conditions and their values of the row filters (see :func:`query_rows`).

    Every query that filters rows builds its ``WHERE`` here, so that the table, the
    Compare families and their rows select the same files for the same filters.

    Returns
    -------
    where : list of str
        Conditions with ``?`` placeholders, to be joined with ``AND``.
    values : list
        The placeholders' values, in order.
    """
    where, values = [], []
    if text:
        where.append("locs_path LIKE ? ESCAPE '\\'")
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        values.append(f"%{escaped}%")
    if group is not None:
        if group == "":
            where.append("(group_name IS NULL OR group_name = '')")
        else:
            where.append("group_name = ?")
            values.append(group)
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        where.append(f"status IN ({', '.join('?' for _ in statuses)})")
        values.extend(statuses)
    if family is not None:
        where.append("family = ?")
        values.append(family)
    if since is not None:
        where.append("entered >= ?")
        values.append(since)
    if until is not None:
        where.append("entered < ?")
        values.append(until)
    return where, values


def query_rows(
    db,
    *,
    text=None,
    group=None,
    status=None,
    family=None,
    since=None,
    until=None,
    columns=None,
    order_by=ORDERABLE_DEFAULT,
    descending=True,
    limit=None,
):
    """Rows of the localizations table as dicts, filtered.

    Parameters
    ----------
    text : str, optional
        Case-insensitive substring of the file's path (name or folder).
    group : str, optional
        Exact group/tag; ``""`` selects rows without a group.
    status : str or list of str, optional
        ``ok``, ``missing``, ``failed``.
    family : str, optional
        Family key (files of one movie, see :func:`~napari_picasso.db.schema.family_of`).
    since, until : str, optional
        ISO times bounding ``entered`` (inclusive, exclusive).
    columns : list of str, optional
        Columns to return (default: :func:`display_columns`).
    order_by : str
        A column name; ``descending`` sets the direction.
    limit : int, optional

    Returns
    -------
    list of dict
    """
    known = table_columns(db)
    columns = display_columns(db) if columns is None else list(columns)
    unknown = [c for c in columns + [order_by] if c not in known]
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(unknown)}; the table has {', '.join(known)}")
    where, values = filter_clause(text=text, group=group, status=status, family=family, since=since, until=until)
    sql = f"SELECT {', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)} FROM {TABLE}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f' ORDER BY "{order_by}" {"DESC" if descending else "ASC"}, id {"DESC" if descending else "ASC"}'
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    cursor = db.execute(sql, values)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def get_row(db, row_id):
    """One row (all columns) by id, or None."""
    rows = query_rows_where(db, "id = ?", [int(row_id)])
    return rows[0] if rows else None


def query_rows_where(db, where, values=()):
    """Rows (all columns) matching an SQL condition with ``?`` placeholders."""
    cursor = db.execute(f"SELECT * FROM {TABLE} WHERE {where}", list(values))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def groups(db):
    """Distinct group/tag names, sorted."""
    return [
        g
        for (g,) in db.execute(
            f"SELECT DISTINCT group_name FROM {TABLE} WHERE group_name IS NOT NULL AND group_name != '' "
            "ORDER BY group_name"
        ).fetchall()
    ]


def families(db, *, min_files=1, text=None, group=None):
    """Families (files of one movie) with their number of files: ``[(family, n)]``, most recent first.

    Only ``ok`` rows that pass the filters count, as in :func:`query_rows` (``text``: a
    substring of the path, wildcards literal; ``group``: exact, ``""`` for rows without
    one), so a family is offered with the files :func:`family_rows` gives for the same
    filters.
    """
    where, values = filter_clause(text=text, group=group, status="ok")
    return [
        (f, n)
        for f, n in db.execute(
            f"SELECT family, COUNT(*) AS n FROM {TABLE} WHERE family IS NOT NULL AND {' AND '.join(where)} "
            "GROUP BY family HAVING n >= ? ORDER BY MAX(entered) DESC, family",
            values + [int(min_files)],
        ).fetchall()
    ]


def family_rows(db, family, *, text=None, group=None):
    """The ``ok`` rows of one family that pass the filters, by parameter group then name.

    ``text`` and ``group`` filter as in :func:`query_rows`: Compare offers only the files
    of the family the table shows for the same filters.
    """
    rows = query_rows(
        db,
        text=text,
        group=group,
        family=family,
        status="ok",
        columns=table_columns(db),
        order_by="filename",
        descending=False,
    )
    return sorted(rows, key=lambda r: (r["parameter_group"] is not None, r["parameter_group"] or 0, r["filename"]))


def summary(db):
    """Path, schema version, row counts by status, groups: the Status view of a database."""
    counts = dict(db.execute(f"SELECT status, COUNT(*) FROM {TABLE} GROUP BY status").fetchall())
    meta = dict(db.execute(f"SELECT key, value FROM {META_TABLE}").fetchall())
    return {
        "path": str(getattr(db, "path", "")),
        "schema_version": schema_version(db),
        "created": meta.get("created"),
        "rows": sum(counts.values()),
        "ok": counts.get("ok", 0),
        "missing": counts.get("missing", 0),
        "failed": counts.get("failed", 0),
        "groups": groups(db),
    }


def data_version(db):
    """A value that changes when any connection commits a change (cheap change polling)."""
    # data_version moves on other connections' commits, total_changes on this one's.
    return (db.execute("PRAGMA data_version").fetchone()[0], db.conn.total_changes)
