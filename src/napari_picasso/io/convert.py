"""Converting localization files: other tools' tables <-> ``_locs.hdf5``, ThunderSTORM CSV, ``.smlm``.

:func:`convert_file` reads any localization file napari-picasso knows (a ``_locs.hdf5``
of ours or Picasso's, or a table of :data:`napari_picasso.io.tables.TABLE_READERS`) and
writes it in the format the output's suffix names: ``.hdf5`` (+ ``.yaml``, which Picasso
opens), ``.csv`` (ThunderSTORM) or ``.smlm``. Tables are streamed into ``.hdf5`` piece by
piece (whole only when their rows are not sorted by frame); an ``.hdf5`` is streamed into
CSV and ``.smlm``.
"""

import dataclasses
from pathlib import Path

import h5py

from .errors import InputFileError
from .locs import LOCS_DATASET, LocsWriter, info_pixelsize_nm, load_info, load_locs, save_locs
from .smlm import write_smlm
from .table_layout import check_pixelsize
from .tables import TableStats, conversion_document, iter_locs, movie_document, open_table, read_table
from .thunderstorm import write_thunderstorm_csv

OUTPUT_FORMATS = {".hdf5": "Picasso localizations", ".csv": "ThunderSTORM CSV", ".smlm": "SMLM"}


def is_locs_file(path):
    """A localization file of ours or Picasso's (an HDF5 file with a ``locs`` dataset)."""
    path = Path(path)
    if path.suffix.lower() not in (".hdf5", ".h5") or not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            return LOCS_DATASET in f
    except (OSError, ValueError):
        return False


def read_localizations(path, *, pixelsize_nm=None):
    """``(locs, info)`` of any localization file: a ``_locs.hdf5`` or another tool's table.

    Parameters
    ----------
    path : path-like
    pixelsize_nm : float, optional
        Camera pixel size (nm) for tables in nm; a ``_locs.hdf5`` keeps its own.

    Examples
    --------
    >>> locs, info = read_localizations("cells.csv", pixelsize_nm=130)  # doctest: +SKIP
    """
    if is_locs_file(path):
        return load_locs(path)
    return read_table(path, pixelsize_nm=pixelsize_nm)


@dataclasses.dataclass
class Conversion:
    """What :func:`convert_file` wrote."""

    written: list
    n_locs: int
    source_format: str
    target_format: str
    rows_left_out: int = 0


def _target_format(in_path, out_path):
    suffix = out_path.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise InputFileError(
            out_path,
            f"{suffix or 'no suffix'} is not an output format.",
            fix="end the output name with .hdf5 (Picasso), .csv (ThunderSTORM) or .smlm.",
        )
    if out_path.absolute() == in_path.absolute():
        raise InputFileError(out_path, "is the input file; inputs are never overwritten.", fix="give another name.")
    return OUTPUT_FORMATS[suffix]


def convert_file(in_path, out_path, *, pixelsize_nm=None):
    """Convert a localization file to the format of ``out_path``'s suffix.

    Parameters
    ----------
    in_path : path-like
        ``_locs.hdf5`` (ours or Picasso's) or another tool's table (ThunderSTORM CSV,
        rapidSTORM, Zeiss Elyra, ONI, ``.smlm``, DECODE, SMAP, PYME).
    out_path : path-like
        ``.hdf5`` (a ``.yaml`` is written beside it), ``.csv`` or ``.smlm``.
    pixelsize_nm : float, optional
        Camera pixel size (nm): converts a table's nm, and is what CSV and ``.smlm``
        need when the ``_locs.yaml`` does not give a ``Pixelsize``. Given, it wins.

    Returns
    -------
    Conversion

    Raises
    ------
    InputFileError
        Unreadable input, unknown output suffix, output equal to the input, or nm
        coordinates without a pixel size.

    Examples
    --------
    >>> convert_file("cells.csv", "cells_locs.hdf5", pixelsize_nm=130)  # doctest: +SKIP
    >>> convert_file("cells_locs.hdf5", "cells.smlm")  # doctest: +SKIP
    """
    in_path, out_path = Path(in_path), Path(out_path)
    target = _target_format(in_path, out_path)
    if not in_path.is_file():
        raise InputFileError(in_path, "no such file.")
    if is_locs_file(in_path):
        return _from_locs_file(in_path, out_path, target, pixelsize_nm)
    if target == OUTPUT_FORMATS[".hdf5"]:
        return _table_to_locs(in_path, out_path, pixelsize_nm)
    locs, info = read_table(in_path, pixelsize_nm=pixelsize_nm)
    written = _write_table(out_path, locs, info, pixelsize_nm)
    dropped = info[1].get("Rows left out (invalid for Picasso)", 0)
    return Conversion(written, len(locs), info[1]["Source format"], target, dropped)


def _write_table(out_path, locs, info, pixelsize_nm):
    pixelsize_nm = check_pixelsize(pixelsize_nm, out_path) or info_pixelsize_nm(info)
    if pixelsize_nm is None:
        raise InputFileError(
            out_path,
            "needs the camera pixel size (its coordinates are in nm) and the input's YAML gives no Pixelsize.",
            fix="give --pixelsize NM.",
        )
    if out_path.suffix.lower() == ".csv":
        return [write_thunderstorm_csv(out_path, locs, pixelsize_nm=pixelsize_nm)]
    return [write_smlm(out_path, locs, pixelsize_nm=pixelsize_nm)]


def _from_locs_file(in_path, out_path, target, pixelsize_nm):
    info = load_info(in_path)
    if target == OUTPUT_FORMATS[".hdf5"]:
        locs = load_locs(in_path, with_info=False)
        save_locs(out_path, locs, info)
        return Conversion([out_path, out_path.with_suffix(".yaml")], len(locs), "Picasso localizations", target)
    with h5py.File(in_path, "r") as f:
        dataset = f[LOCS_DATASET]  # the writers read it in pieces
        written = _write_table(out_path, dataset, info, pixelsize_nm)
        return Conversion(written, int(dataset.shape[0]), "Picasso localizations", target)


def _table_to_locs(in_path, out_path, pixelsize_nm):
    source = open_table(in_path, pixelsize_nm=pixelsize_nm)
    stats = TableStats()
    with LocsWriter(out_path, source.layout.dtype, [{}]) as writer:
        for locs in iter_locs(source, stats):
            writer.append(locs)
            if not stats.sorted_by_frame:
                break
        if stats.sorted_by_frame:
            writer.info = [movie_document(source, stats), conversion_document(source, stats)]
            writer.commit()
    if not stats.sorted_by_frame:
        # the Picasso layout is sorted by frame: this table is read whole and sorted
        locs, info = read_table(in_path, pixelsize_nm=pixelsize_nm)
        save_locs(out_path, locs, info)
        stats.rows_kept = len(locs)
        stats.rows_read = len(locs) + info[1].get("Rows left out (invalid for Picasso)", 0)
    written = [out_path, out_path.with_suffix(".yaml")]
    return Conversion(written, stats.rows_kept, source.format_name, OUTPUT_FORMATS[".hdf5"], stats.rows_dropped)
