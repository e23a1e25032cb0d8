"""ThunderSTORM CSV: read, and write from the Picasso layout.

ThunderSTORM (Ovesný et al. 2014, the ImageJ plugin) writes a comma-separated table with
a quoted header whose names carry their units: ``"id","frame","x [nm]","y [nm]",
"sigma [nm]","intensity [photon]","offset [photon]","bkgstd [photon]","uncertainty [nm]"``
(``"z [nm]"``, ``"sigma1 [nm]"``/``"sigma2 [nm]"``, ``"uncertainty_xy [nm]"``,
``"uncertainty_z [nm]"``, ``"chi2"``, ``"detections"`` where they apply). Frames are
numbered from 1 (ImageJ's slices). The file does not say the camera pixel size.

Reading: ``frame - 1`` -> ``frame``; ``x``/``y`` (nm, or px) -> px; ``sigma`` (or
``sigma1``/``sigma2``) -> ``sx``/``sy``; ``uncertainty`` (or ``uncertainty_xy``) ->
``lpx``/``lpy``; ``uncertainty_z`` -> ``lpz``; ``intensity [photon]`` -> ``photons``;
``offset [photon]`` -> ``bg``; a column named like a Picasso field (``sx [nm]``,
``net_gradient`` ...) -> that field. ``id`` (the row number) is dropped; every other column
(``bkgstd [photon]``, ``chi2`` ...) is kept as an extra field.

Writing: the columns above in ThunderSTORM's order (``sigma`` the mean of ``sx``/``sy``,
``uncertainty`` the root mean square of ``lpx``/``lpy``, ``bkgstd`` the shot-noise
standard deviation ``sqrt(bg)`` unless the table came from ThunderSTORM with its own),
then ``sx``, ``sy``, ``lpx``, ``lpy`` in nm and every
other field by its name, so that reading the file back gives the same rows.
"""

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from ._text_tables import first_lines, numeric_columns, sample_table, table_chunks
from .atomic import replacing
from .errors import InputFileError
from .table_layout import (
    NM_FIELDS,
    PIXEL_FIELDS,
    LocsLayout,
    TableSource,
    check_pixelsize,
    choose_pixelsize,
    rules_from_names,
    split_unit,
)

FORMAT_NAME = "ThunderSTORM CSV"
SUFFIXES = (".csv",)
WRITE_ROWS = 1 << 18

ALIASES = {
    "sx": ["sigma1", "sigma_x", "sigma"],
    "sy": ["sigma2", "sigma_y", "sigma"],
    "lpx": ["uncertainty_x", "uncertainty", "uncertainty_xy"],
    "lpy": ["uncertainty_y", "uncertainty", "uncertainty_xy"],
    "lpz": ["uncertainty_z"],
    "photons": ["intensity"],
    "bg": ["offset"],
}
DROPPED = ("id",)


def _header(path):
    lines = first_lines(path, 1)
    if not lines:
        return []
    return [name for name in next(csv.reader([lines[0]]), [])]


def is_thunderstorm(path):
    """A ``.csv`` whose header has ThunderSTORM's unit-in-brackets coordinate names."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES or not path.is_file():
        return False
    names = {split_unit(h)[0].lower() for h in _header(path) if "[" in h or h.strip().lower() == "frame"}
    return {"x", "y"} <= names


def open_table(path, *, pixelsize_nm=None):
    """Open a ThunderSTORM CSV (:class:`~.table_layout.TableSource`).

    Parameters
    ----------
    path : path-like
    pixelsize_nm : float, optional
        Camera pixel size in the sample (nm); needed for coordinates in nm (the file does
        not say it).

    Examples
    --------
    >>> source = open_table("cells.csv", pixelsize_nm=130)  # doctest: +SKIP
    >>> source.layout.absent_fields()  # doctest: +SKIP
    ['ellipticity', 'net_gradient']
    """
    path = Path(path)
    sample = sample_table(path)
    numeric = set(numeric_columns(sample))
    named = [(c, *split_unit(c)) for c in sample.columns]
    names = {name.lower() for _, name, _ in named}
    if not {"x", "y"} <= names:
        raise InputFileError(
            path,
            f"has no x/y coordinate columns (its columns: {', '.join(map(str, sample.columns)) or 'none'}).",
            fix='a ThunderSTORM table names them "x [nm]" and "y [nm]"; export the localizations again.',
        )
    if "frame" not in names:
        raise InputFileError(path, 'has no "frame" column; ThunderSTORM writes one in every table.')
    pixelsize_nm, source = choose_pixelsize(path, pixelsize_nm, None, None)
    rules, extras = rules_from_names(
        path,
        named,
        ALIASES,
        pixelsize_nm=pixelsize_nm,
        format_name=FORMAT_NAME,
        dtypes={c: sample[c].dtype if c in numeric else np.dtype("f8") for c in sample.columns},
        frame_offset=-1,
        drop=DROPPED,
    )
    # text columns cannot be fields (a mapped one that holds text is reported when read)
    extras = [extra for extra in extras if extra.column in numeric]
    needed = [rule.column for rule in rules] + [extra.column for extra in extras]
    return TableSource(
        path=path,
        format_name=FORMAT_NAME,
        layout=LocsLayout(rules, extras),
        chunks=lambda: table_chunks(path, needed),
        pixelsize_nm=pixelsize_nm,
        pixelsize_source=source,
        frame_numbers="from 1 (ThunderSTORM counts ImageJ slices)",
        metadata={"Columns": [str(c) for c in sample.columns]},
    )


def _nm(values, pixelsize_nm):
    return np.asarray(values, dtype=np.float64) * pixelsize_nm


def _text(values):
    """Shortest round-trip text of each value (float32 stays short, float64 exact)."""
    values = np.asarray(values)
    return values.astype(str) if values.dtype.kind == "f" else values


def csv_columns(locs, pixelsize_nm, first_id=1):
    """``{header: values}`` of a chunk of the locs layout, in the written order."""
    names = locs.dtype.names
    columns = {
        "id": np.arange(first_id, first_id + len(locs), dtype=np.int64),
        "frame": np.asarray(locs["frame"], dtype=np.int64) + 1,
        "x [nm]": _nm(locs["x"], pixelsize_nm),
        "y [nm]": _nm(locs["y"], pixelsize_nm),
    }
    if "z" in names:
        columns["z [nm]"] = locs["z"]
    sx = locs["sx"].astype(np.float64)
    sy = locs["sy"].astype(np.float64)
    lpx = locs["lpx"].astype(np.float64)
    lpy = locs["lpy"].astype(np.float64)
    columns["sigma [nm]"] = (sx + sy) / 2 * pixelsize_nm
    columns["intensity [photon]"] = locs["photons"]
    columns["offset [photon]"] = locs["bg"]
    if "bkgstd_photon" in names:  # read from a ThunderSTORM table: its own values
        columns["bkgstd [photon]"] = locs["bkgstd_photon"]
    else:
        columns["bkgstd [photon]"] = np.sqrt(np.maximum(locs["bg"].astype(np.float64), 0.0))
    columns["uncertainty [nm]"] = np.sqrt((lpx**2 + lpy**2) / 2) * pixelsize_nm
    if "lpz" in names:
        columns["uncertainty_z [nm]"] = locs["lpz"]
    written = {"frame", "x", "y", "z", "photons", "bg", "lpz", "bkgstd_photon"}
    for name in names:
        if name in written:
            continue
        if name in PIXEL_FIELDS:
            columns[f"{name} [nm]"] = _nm(locs[name], pixelsize_nm)
        elif name in NM_FIELDS:
            columns[f"{name} [nm]"] = locs[name]
        else:
            columns[name] = locs[name]
    return columns


def write_thunderstorm_csv(path, locs, *, pixelsize_nm):
    """Write localizations (Picasso layout, px) as a ThunderSTORM CSV.

    The file is written under a temporary name and renamed when complete; rows are
    formatted in pieces, so memory does not grow with the table.

    Parameters
    ----------
    path : path-like
        The ``.csv`` to write.
    locs : numpy.ndarray
        Structured array in the locs layout.
    pixelsize_nm : float
        Camera pixel size (nm): ThunderSTORM's coordinates are in nm.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> write_thunderstorm_csv("cells.csv", locs, pixelsize_nm=130)  # doctest: +SKIP
    """
    path = Path(path)
    pixelsize_nm = check_pixelsize(pixelsize_nm, path, origin="the pixel size")
    if pixelsize_nm is None:
        raise InputFileError(
            path, "ThunderSTORM coordinates are in nm and no camera pixel size is known.", fix="give --pixelsize NM."
        )
    with replacing(path) as part, open(part, "w", newline="") as f:
        header = list(csv_columns(locs[:0], pixelsize_nm))
        f.write(",".join(f'"{h}"' for h in header) + "\n")
        for start in range(0, len(locs), WRITE_ROWS):
            chunk = csv_columns(locs[start : start + WRITE_ROWS], pixelsize_nm, first_id=start + 1)
            frame = pd.DataFrame({k: _text(v) for k, v in chunk.items()}, copy=False)
            frame.to_csv(f, header=False, index=False, lineterminator="\n")
    return path
