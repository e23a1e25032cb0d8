"""Shaping rows for tables and plots (no drawing): bars, scatter with trend, daily boxes, CSV.

Pure functions of the rows :func:`~napari_picasso.db.query.query_rows` returns, shared by
the napari explorer and the browser app.
"""

import csv
import datetime
import io
import math

import numpy as np

TIME_COLUMNS = ("file_created", "entered")
"""ISO-time columns; as plot axes they become POSIX seconds (see :func:`numeric_values`)."""


def posix_seconds(iso_time):
    """An ISO time as POSIX seconds (NaN when it is not one)."""
    try:
        moment = datetime.datetime.fromisoformat(str(iso_time))
    except (TypeError, ValueError):
        return math.nan
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def numeric_values(rows, column):
    """A column as float64, NaN where a row has no number; time columns as POSIX seconds."""
    if column in TIME_COLUMNS:
        return np.array([posix_seconds(r.get(column)) if r.get(column) else np.nan for r in rows], dtype=np.float64)
    return np.array([float(r.get(column)) if is_number(r.get(column)) else np.nan for r in rows], dtype=np.float64)


def column_maxima(rows, columns):
    """``{column: largest |value|}`` of the numeric columns (bars in cells are drawn relative to it)."""
    maxima = {}
    for column in columns:
        values = numeric_values(rows, column)
        finite = np.abs(values[np.isfinite(values)])
        if len(finite):
            maxima[column] = float(finite.max())
    return maxima


def bar_fraction(value, maximum):
    """Length of a cell's bar, 0..1, relative to its column's maximum (0 for non-numbers)."""
    if not is_number(value) or not maximum:
        return 0.0
    return float(min(1.0, abs(value) / maximum))


def format_value(value):
    """A cell's text: counts whole, other numbers to 4 significant digits, None as empty.

    Examples
    --------
    >>> format_value(39459.0), format_value(12.3456), format_value(None)
    ('39459', '12.35', '')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:  # a count stored as REAL: every digit
            return str(int(value))
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.3e}"
    return str(value)


def is_whole_column(rows, column):
    """True when every value of ``column`` is a whole number (a count: shown without rounding)."""
    values = [row.get(column) for row in rows if row.get(column) is not None]
    return bool(values) and all(is_number(v) and float(v).is_integer() for v in values)


def scatter_with_trend(rows, x_column, y_column):
    """Points of two columns and their least-squares line.

    Returns
    -------
    dict
        ``x``, ``y`` (finite pairs only), ``ids``, ``slope``, ``intercept``, ``r`` (Pearson;
        the three are None with fewer than two distinct x values).
    """
    x = numeric_values(rows, x_column)
    y = numeric_values(rows, y_column)
    ids = np.array([r.get("id", i) for i, r in enumerate(rows)])
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, ids = x[keep], y[keep], ids[keep]
    slope = intercept = r = None
    if len(x) >= 2 and np.ptp(x) > 0:
        slope, intercept = (float(v) for v in np.polyfit(x, y, 1))
        r = float(np.corrcoef(x, y)[0, 1]) if np.ptp(y) > 0 else 0.0
    return {"x": x, "y": y, "ids": ids, "slope": slope, "intercept": intercept, "r": r}


def local_day(iso_time):
    """The local calendar day (``YYYY-MM-DD``) of an ISO time (UTC in the database)."""
    if not iso_time:
        return None
    try:
        moment = datetime.datetime.fromisoformat(str(iso_time))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone().date().isoformat()


def format_time(iso_time):
    """An ISO time (UTC in the database) as local ``YYYY-MM-DD HH:MM`` for tables."""
    if not iso_time:
        return ""
    try:
        moment = datetime.datetime.fromisoformat(str(iso_time))
    except ValueError:
        return str(iso_time)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def daily_values(rows, column, time_column="file_created"):
    """A metric's values per local day, for box plots: ``[(day, values array)]`` oldest first."""
    by_day = {}
    for row in rows:
        value = row.get(column)
        day = local_day(row.get(time_column) or row.get("entered"))
        if day is not None and is_number(value):
            by_day.setdefault(day, []).append(float(value))
    return [(day, np.array(values)) for day, values in sorted(by_day.items())]


def rows_to_csv(rows, columns=None, target=None):
    """Write rows as CSV (to a path or text stream); returns the text when ``target`` is None."""
    columns = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    stream = io.StringIO() if target is None else None
    handle = stream
    if target is not None and not hasattr(target, "write"):
        handle = open(target, "w", newline="", encoding="utf-8")
    elif target is not None:
        handle = target
    try:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    finally:
        if target is not None and not hasattr(target, "write"):
            handle.close()
    return stream.getvalue() if stream is not None else None
