"""The SMLM file format (``.smlm``, ShareLoc): read, and write from the Picasso layout.

An ``.smlm`` file (format version 0.2, imodpasteur/smlm-file-format) is a ZIP archive
holding ``manifest.json`` and one binary table per channel. The manifest's ``formats``
describe a table (``headers``, ``dtype``, ``shape``, ``units``; mode ``binary``) and its
``files`` list the tables (``name``, ``format``, ``rows``, ``channel``, per-column
``offset`` added to the stored values). A binary table is the rows one after the other,
each row its columns in order, little-endian. Lengths are in nm unless ``units`` says
otherwise; built-in headers are ``x, y, z, frame, intensity, background, x_precision,
y_precision, z_precision`` (among others).

Reading: ``x``/``y`` (nm) -> px through the file's ``pixel_size`` (in the file entry or
the manifest) or ``--pixelsize``; ``intensity`` -> ``photons``; ``background`` -> ``bg``;
``x_precision``/``y_precision`` -> ``lpx``/``lpy``; ``z_precision`` -> ``lpz``; a header
named like a Picasso field -> that field (lengths converted by their unit); frames are
taken as numbered from 0; other headers are kept as extra fields. Several tables become
one, with the extra field ``channel`` (their index in the manifest).

Writing: one table, every column float32 (what the ShareLoc viewer reads), lengths in nm,
``pixel_size`` recorded in the file entry, frames from 0.
"""

import datetime
import json
import zipfile
from pathlib import Path

import numpy as np

from .atomic import replacing
from .errors import InputFileError
from .table_layout import (
    NM_FIELDS,
    PIXEL_FIELDS,
    ExtraColumn,
    LocsLayout,
    TableSource,
    check_pixelsize,
    choose_pixelsize,
    rules_from_names,
)

FORMAT_NAME = "SMLM (.smlm)"
MANIFEST = "manifest.json"
TABLE_FORMAT = "smlm-table(binary)"
DTYPES = {"uint8": "<u1", "uint16": "<u2", "uint32": "<u4", "int8": "<i1", "int16": "<i2", "int32": "<i4"}
DTYPES.update({"float32": "<f4", "float64": "<f8"})
CHUNK_ROWS = 1 << 18

ALIASES = {
    "photons": ["intensity"],
    "bg": ["background"],
    "lpx": ["x_precision"],
    "lpy": ["y_precision"],
    "lpz": ["z_precision"],
}
# Written headers of Picasso fields that have an SMLM name.
SMLM_NAMES = {"photons": "intensity", "bg": "background", "lpx": "x_precision", "lpy": "y_precision"}
SMLM_NAMES["lpz"] = "z_precision"


def is_smlm(path):
    path = Path(path)
    return path.suffix.lower() == ".smlm" and path.is_file()


def _broken(path, problem):
    return InputFileError(
        path,
        f"its {MANIFEST} {problem}; the file is damaged or not an .smlm file.",
        fix="export it again from the tool that wrote it (ThunderSTORM's SMLM plugin, ShareLoc ...).",
    )


def read_manifest(path):
    """The parsed ``manifest.json`` of an ``.smlm`` file, checked enough to read its tables."""
    try:
        with zipfile.ZipFile(path) as archive:
            if MANIFEST not in archive.namelist():
                raise InputFileError(path, f"is a ZIP archive without {MANIFEST}; it is not an .smlm file.")
            text = archive.read(MANIFEST)
            names = set(archive.namelist())
    except zipfile.BadZipFile as error:
        raise InputFileError(path, f"is not a ZIP archive ({error}); an .smlm file is one.") from None
    try:
        manifest = json.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise _broken(path, "is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise _broken(path, f"is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    if not isinstance(manifest, dict):
        raise _broken(path, "is not a JSON object")
    for key, kind in (("formats", dict), ("files", list)):
        if not isinstance(manifest.get(key), kind):
            raise _broken(path, f"has no {key!r} {'object' if kind is dict else 'list'}")
    tables = [f for f in manifest["files"] if isinstance(f, dict) and f.get("type") == "table"]
    if not tables:
        raise InputFileError(path, "holds no localization table (no file of type 'table' in its manifest).")
    for table in tables:
        if table.get("name") not in names:
            raise _broken(path, f"lists the table {table.get('name')!r}, which is not in the archive")
        if not isinstance(table.get("rows"), int) or table["rows"] < 0:
            raise _broken(path, f"gives no row count for the table {table.get('name')!r}")
        _table_dtype(path, manifest, table)
    return manifest


def _table_dtype(path, manifest, table):
    """The numpy record dtype of one table (shapes other than 1 become sub-arrays)."""
    format_ = manifest["formats"].get(table.get("format"))
    if not isinstance(format_, dict):
        raise _broken(path, f"does not define the format {table.get('format')!r} of table {table.get('name')!r}")
    if format_.get("mode", "binary") != "binary":
        raise InputFileError(
            path, f"its table {table['name']!r} is a {format_.get('mode')} table; napari-picasso reads binary tables."
        )
    headers, dtypes = format_.get("headers"), format_.get("dtype")
    if not isinstance(headers, list) or not isinstance(dtypes, list) or len(headers) != len(dtypes):
        raise _broken(path, f"format {table.get('format')!r} needs 'headers' and 'dtype' lists of one length")
    shapes = format_.get("shape") or [1] * len(headers)
    units = format_.get("units") or [""] * len(headers)
    if len(shapes) != len(headers) or len(units) != len(headers):
        raise _broken(path, f"format {table.get('format')!r} has 'shape'/'units' lists of another length")
    fields = []
    for header, dtype, shape in zip(headers, dtypes, shapes):
        if dtype not in DTYPES:
            raise _broken(path, f"gives column {header!r} the unknown type {dtype!r}")
        name = str(header).lstrip("_")
        fields.append((name, DTYPES[dtype], tuple(shape)) if isinstance(shape, list) else (name, DTYPES[dtype]))
    try:
        record = np.dtype(fields)
    except (TypeError, ValueError) as error:
        raise _broken(path, f"describes columns numpy cannot lay out ({error})") from None
    return record, [str(u or "") for u in units]


def _pixelsize_in(path, manifest, table):
    for where, holder in (("file entry", table), ("manifest", manifest)):
        value = holder.get("pixel_size")
        if isinstance(value, list) and value:
            value = value[0]
        if value is not None:
            return value, f"pixel_size in the {where}"
    return None, None


def open_table(path, *, pixelsize_nm=None):
    """Open an ``.smlm`` file (:class:`~.table_layout.TableSource`).

    Parameters
    ----------
    path : path-like
    pixelsize_nm : float, optional
        Camera pixel size (nm); default: the file's ``pixel_size``.

    Examples
    --------
    >>> source = open_table("vimentin.smlm", pixelsize_nm=160)  # doctest: +SKIP
    """
    path = Path(path)
    manifest = read_manifest(path)
    tables = [f for f in manifest["files"] if isinstance(f, dict) and f.get("type") == "table"]
    record, units = _table_dtype(path, manifest, tables[0])
    for table in tables[1:]:
        if _table_dtype(path, manifest, table)[0] != record:
            raise InputFileError(path, "holds tables of different columns; napari-picasso reads one layout per file.")
    file_pixelsize, origin = _pixelsize_in(path, manifest, tables[0])
    pixelsize_nm, source = choose_pixelsize(path, pixelsize_nm, file_pixelsize, origin)
    scalar = [(name, unit) for name, unit in zip(record.names, units) if record[name].shape == ()]
    named = [(name, name, unit or None) for name, unit in scalar]
    rules, extras = rules_from_names(
        path,
        named,
        ALIASES,
        pixelsize_nm=pixelsize_nm,
        format_name=FORMAT_NAME,
        dtypes={name: record[name] for name, _ in scalar},
    )
    if not {"x", "y"} <= {rule.field for rule in rules}:
        raise InputFileError(path, f"its table has no x/y columns (headers: {', '.join(record.names)}).")
    if "frame" not in {rule.field for rule in rules}:
        raise InputFileError(path, "its table has no 'frame' column; napari-picasso needs the frame of each row.")
    if len(tables) > 1:
        extras.append(ExtraColumn("channel", "__channel__", np.dtype("i4")))
    metadata = {k: v for k, v in manifest.items() if k not in ("formats", "files")}
    metadata["Tables"] = [{k: t.get(k) for k in ("name", "channel", "rows")} for t in tables]
    return TableSource(
        path=path,
        format_name=FORMAT_NAME,
        layout=LocsLayout(rules, extras),
        chunks=lambda: _chunks(path, manifest, tables),
        pixelsize_nm=pixelsize_nm,
        pixelsize_source=source,
        frame_numbers="from 0 (taken as stored)",
        metadata={"SMLM manifest": metadata},
        n_rows=sum(t["rows"] for t in tables),
    )


def _chunks(path, manifest, tables):
    with zipfile.ZipFile(path) as archive:
        for index, table in enumerate(tables):
            record, _ = _table_dtype(path, manifest, table)
            size = archive.getinfo(table["name"]).file_size
            if size != table["rows"] * record.itemsize:
                raise InputFileError(
                    path,
                    f"its table {table['name']!r} holds {size} bytes, but {table['rows']} rows of "
                    f"{record.itemsize} bytes were declared; the file is damaged.",
                )
            offsets = table.get("offset") or {}
            with archive.open(table["name"]) as stream:
                for start in range(0, table["rows"], CHUNK_ROWS):
                    n = min(CHUNK_ROWS, table["rows"] - start)
                    rows = np.frombuffer(stream.read(n * record.itemsize), dtype=record)
                    columns = {name: rows[name] for name in record.names if record[name].shape == ()}
                    for name, offset in offsets.items() if isinstance(offsets, dict) else ():
                        if name in columns and offset:
                            columns[name] = columns[name].astype(np.float64) + float(offset)
                    columns["__channel__"] = np.full(n, index, dtype=np.int32)
                    yield columns, n


def smlm_columns(names):
    """``[(header, unit, field)]`` written for a locs layout with fields ``names``."""
    order = ["frame", "x", "y", "z", "photons", "bg", "lpx", "lpy", "lpz"]
    fields = [f for f in order if f in names] + [f for f in names if f not in order]
    columns = []
    for field in fields:
        unit = "nm" if field in PIXEL_FIELDS or field in NM_FIELDS else ""
        unit = {"frame": "frame", "photons": "photon", "bg": "photon"}.get(field, unit)
        columns.append((SMLM_NAMES.get(field, field), unit, field))
    return columns


def write_smlm(path, locs, *, pixelsize_nm, name=None, description=None):
    """Write localizations (Picasso layout, px) as an ``.smlm`` file.

    One binary table of float32 columns (lengths in nm), written in pieces under a
    temporary name and renamed when complete.

    Parameters
    ----------
    path : path-like
    locs : numpy.ndarray
        Structured array in the locs layout.
    pixelsize_nm : float
        Camera pixel size (nm), recorded as the table's ``pixel_size``.
    name, description : str, optional
        The manifest's ``name`` (default: the file name) and ``description``.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> write_smlm("cells.smlm", locs, pixelsize_nm=130)  # doctest: +SKIP
    """
    from .. import __version__

    path = Path(path)
    pixelsize_nm = check_pixelsize(pixelsize_nm, path, origin="the pixel size")
    if pixelsize_nm is None:
        raise InputFileError(
            path, "SMLM coordinates are in nm and no camera pixel size is known.", fix="give --pixelsize NM."
        )
    columns = smlm_columns(locs.dtype.names)
    record = np.dtype([(header, "<f4") for header, _, _ in columns])
    manifest = {
        "format_version": "0.2",
        "formats": {
            TABLE_FORMAT: {
                "name": TABLE_FORMAT,
                "type": "table",
                "mode": "binary",
                "extension": ".bin",
                "columns": len(columns),
                "headers": [h for h, _, _ in columns],
                "dtype": ["float32"] * len(columns),
                "shape": [1] * len(columns),
                "units": [u for _, u, _ in columns],
                "description": "localizations written by napari-picasso (frames counted from 0)",
            }
        },
        "files": [
            {
                "name": "localizations.bin",
                "type": "table",
                "format": TABLE_FORMAT,
                "channel": "default",
                "rows": int(len(locs)),
                "offset": {},
                "pixel_size": float(pixelsize_nm),
            }
        ],
        "name": name or path.name,
        "description": description or "",
        "tags": [],
        "date": datetime.date.today().isoformat(),
        "generated_by": f"napari-picasso {__version__}",
    }
    with (
        replacing(path) as part,
        zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive,
    ):
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
        with archive.open("localizations.bin", "w", force_zip64=True) as stream:
            for start in range(0, len(locs), CHUNK_ROWS):
                stream.write(_records(locs[start : start + CHUNK_ROWS], columns, record, pixelsize_nm).tobytes())
    return path


def _records(locs, columns, record, pixelsize_nm):
    rows = np.empty(len(locs), dtype=record)
    for header, _, field in columns:
        values = locs[field].astype(np.float64)
        rows[header] = values * pixelsize_nm if field in PIXEL_FIELDS else values
    return rows
