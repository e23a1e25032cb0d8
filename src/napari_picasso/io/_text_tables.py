"""Reading delimited text tables in pieces (ThunderSTORM, rapidSTORM, Elyra, ONI).

pandas parses the rows (its C parser is what makes a 7 GB ThunderSTORM CSV readable at
all) in pieces of :data:`CHUNK_ROWS` rows, so memory does not grow with the table.
"""

import pandas as pd

from .errors import InputFileError

CHUNK_ROWS = 1 << 19
SAMPLE_ROWS = 1000


def text_encoding(path):
    """``"utf-8"`` when the file decodes as UTF-8 (a BOM is skipped), else ``"latin-1"``
    (Windows tools write ``µ`` as one byte)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # a multi-byte character cut at the end of the sample is still UTF-8
        if error.start < len(head) - 3:
            return "latin-1"
    return "utf-8"


def first_lines(path, n=2):
    """The first ``n`` lines of a text file (stripped of the line end); ``[]`` for a binary file."""
    try:
        with open(path, encoding=text_encoding(path), errors="strict") as f:
            lines = []
            for _ in range(n):
                line = f.readline(1 << 20)
                if not line:
                    break
                lines.append(line.rstrip("\r\n"))
            return lines
    except (OSError, UnicodeDecodeError, ValueError):
        return []


def _read_csv(path, **kwargs):
    try:
        return pd.read_csv(path, encoding=text_encoding(path), **kwargs)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InputFileError(path, f"is not a readable table ({str(error).splitlines()[0]}).") from None


def sample_table(path, nrows=SAMPLE_ROWS, **kwargs):
    """The first ``nrows`` rows (column names and their kinds)."""
    return _read_csv(path, nrows=nrows, **kwargs)


def table_chunks(path, columns, nrows=None, **kwargs):
    """Yield ``({column: numpy array}, n_rows)`` for ``columns`` of the whole table, in pieces."""
    reader = _read_csv(path, chunksize=CHUNK_ROWS, nrows=nrows, **kwargs)
    with reader:
        try:
            for frame in reader:
                yield {c: _numeric(frame[c], c, path) for c in columns}, len(frame)
        except (ValueError, pd.errors.ParserError) as error:
            raise InputFileError(path, f"has a row that cannot be read ({str(error).splitlines()[0]}).") from None


def _numeric(series, column, path):
    if series.dtype.kind not in "biuf":
        converted = pd.to_numeric(series, errors="coerce")
        bad = converted.isna() & series.notna()
        if bad.any():
            raise InputFileError(path, f"column {column!r} holds {series[bad].iloc[0]!r}, which is not a number.")
        series = converted
    return series.to_numpy()


def numeric_columns(sample):
    """The columns of a sample whose values are numbers (text columns cannot be fields)."""
    return [c for c in sample.columns if sample[c].dtype.kind in "biuf"]
