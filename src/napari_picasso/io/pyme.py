"""PYME analysis results (``.h5r``).

PYME (python-microscopy) stores its fits in an HDF5 file written by PyTables: the table
``FitResults`` (one compound row per fit, nested records flattened here with ``_``:
``tIndex`` the frame counted from 0, ``fitResults_A`` the Gaussian's amplitude,
``fitResults_x0``/``y0`` in nm, ``fitResults_sigma`` (or ``sigmax``/``sigmay``) in nm,
``fitResults_background``, ``fitError_*`` their standard errors, ``resultCode``,
``slicesUsed_*``, ``nchi2`` ...) and the group ``MetaData`` (``voxelsize.x``/``y`` in µm:
the camera pixel in the sample), copied from the movie.

Mapping: ``tIndex`` -> ``frame``; ``x0``/``y0`` -> px through ``voxelsize`` or
``--pixelsize``; ``z0`` -> ``z``; ``sigma`` -> ``sx``/``sy``; ``background`` -> ``bg``;
``fitError_x0``/``y0``/``z0`` -> ``lpx``/``lpy``/``lpz``; ``photons`` is the Gaussian's
integral ``2 pi A sigma_x sigma_y / pixel^2`` (in the units PYME fitted in: photoelectrons
in its standard pipeline). Every other column is kept as an extra field.
"""

import functools
from pathlib import Path

import h5py
import numpy as np

from .errors import InputFileError
from .table_layout import ColumnRule, ExtraColumn, LocsLayout, TableSource, choose_pixelsize, missing_pixelsize

FORMAT_NAME = "PYME"
TABLE = "FitResults"
CHUNK_ROWS = 1 << 18
PHOTONS_COLUMN = "__photons__"


def is_pyme(path):
    path = Path(path)
    return path.suffix.lower() == ".h5r" and path.is_file()


def _flat_fields(dtype, prefix=""):
    """``[(flat name, (path of names))]`` of the scalar fields of a nested record dtype."""
    fields = []
    for name in dtype.names:
        sub = dtype[name]
        if sub.names:
            fields += [(f"{prefix}{name}_{n}", (name, *p)) for n, p in _flat_fields(sub)]
        elif not sub.shape and sub.kind in "biuf":
            fields.append((f"{prefix}{name}", (name,)))
    return fields


def _metadata(f):
    """``{dotted key: value}`` of PYME's ``MetaData`` group (PyTables attributes)."""
    found = {}
    group = f.get("MetaData")
    if not isinstance(group, h5py.Group):
        return found

    def collect(node, prefix):
        for key, value in node.attrs.items():
            if key.isupper() or key in ("CLASS", "TITLE", "VERSION"):
                continue  # PyTables' own bookkeeping attributes
            if isinstance(value, bytes):
                value = value.decode(errors="replace")
            elif isinstance(value, np.ndarray):
                value = value.tolist()
            elif hasattr(value, "item"):
                value = value.item()
            if isinstance(value, (str, int, float, bool, list)):
                found[f"{prefix}{key}"] = value
        for key, child in node.items():
            if isinstance(child, h5py.Group):
                collect(child, f"{prefix}{key}.")

    collect(group, "")
    return found


def open_table(path, *, pixelsize_nm=None):
    """Open a PYME ``.h5r`` file (:class:`~.table_layout.TableSource`).

    Parameters
    ----------
    path : path-like
    pixelsize_nm : float, optional
        Camera pixel size (nm); default: the file's ``voxelsize.x``.

    Examples
    --------
    >>> source = open_table("series_A.h5r")  # doctest: +SKIP
    """
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            table = f.get(TABLE)
            if not isinstance(table, h5py.Dataset) or table.dtype.names is None:
                raise InputFileError(path, f"has no '{TABLE}' table; it is not a PYME analysis file.")
            flat = _flat_fields(table.dtype)
            n_rows = int(table.shape[0])
            metadata = _metadata(f)
    except OSError as error:
        raise InputFileError(path, f"is not a readable HDF5 file ({error}).") from None
    names = {name for name, _ in flat}
    for required in ("tIndex", "fitResults_x0", "fitResults_y0"):
        if required not in names:
            raise InputFileError(path, f"its {TABLE} have no {required!r} column (a fit without positions).")
    voxel = metadata.get("voxelsize.x")
    file_pixelsize = float(voxel) * 1000.0 if isinstance(voxel, (int, float)) else None
    pixelsize_nm, source = choose_pixelsize(path, pixelsize_nm, file_pixelsize, "MetaData voxelsize.x")
    if pixelsize_nm is None:
        raise missing_pixelsize(path, FORMAT_NAME, "fitResults_x0")
    to_px = 1.0 / pixelsize_nm
    sigma_x = next((n for n in ("fitResults_sigmax", "fitResults_sigma") if n in names), None)
    sigma_y = next((n for n in ("fitResults_sigmay", "fitResults_sigma") if n in names), None)
    rules = [ColumnRule("frame", "tIndex"), ColumnRule("x", "fitResults_x0", to_px)]
    rules.append(ColumnRule("y", "fitResults_y0", to_px))
    optional = [("z", "fitResults_z0", 1.0), ("bg", "fitResults_background", 1.0), ("sx", sigma_x, to_px)]
    optional += [("sy", sigma_y, to_px), ("lpx", "fitError_x0", to_px), ("lpy", "fitError_y0", to_px)]
    optional += [("lpz", "fitError_z0", 1.0)]
    rules += [ColumnRule(field, column, scale) for field, column, scale in optional if column in names]
    with_photons = "fitResults_A" in names and sigma_x is not None
    if with_photons:
        rules.append(ColumnRule("photons", PHOTONS_COLUMN))
    used = {rule.column for rule in rules}
    extras = [
        ExtraColumn(name, name, np.dtype("i8") if name.startswith(("tIndex", "slicesUsed", "resultCode")) else "f4")
        for name, _ in flat
        if name not in used
    ]
    photons = (sigma_x, sigma_y, pixelsize_nm) if with_photons else None
    return TableSource(
        path=path,
        format_name=FORMAT_NAME,
        layout=LocsLayout(rules, extras),
        chunks=functools.partial(_chunks, path, flat, n_rows, photons),
        pixelsize_nm=pixelsize_nm,
        pixelsize_source=source,
        frame_numbers="from 0 (PYME tIndex)",
        metadata={"PYME MetaData": metadata},
        n_rows=n_rows,
    )


def _chunks(path, flat, n_rows, photons):
    with h5py.File(path, "r") as f:
        table = f[TABLE]
        for start in range(0, n_rows, CHUNK_ROWS):
            rows = table[start : start + CHUNK_ROWS]
            pieces = {}
            for name, keys in flat:
                values = rows
                for key in keys:
                    values = values[key]
                pieces[name] = values
            if photons is not None:
                sigma_x, sigma_y, pixelsize_nm = photons
                amplitude = pieces["fitResults_A"].astype(np.float64)
                area = pieces[sigma_x].astype(np.float64) * pieces[sigma_y].astype(np.float64)
                pieces[PHOTONS_COLUMN] = 2.0 * np.pi * amplitude * area / pixelsize_nm**2
            yield pieces, len(rows)
