"""Other tools' localization tables: which reader opens a file, and reading it whole.

:data:`TABLE_READERS` lists the formats in the order they are tried (explicit, no
registration on import, as :data:`napari_picasso.io.movies.OPENERS`); each entry is
``(format name, accepts(path), open_table(path, pixelsize_nm=...))`` and ``open_table``
returns a :class:`~napari_picasso.io.table_layout.TableSource`. :func:`iter_locs` turns a
source into ``locs`` chunks of the Picasso layout (rows Picasso's loader would drop are
left out and counted); :func:`read_table` reads a file whole as ``(locs, info)`` with the
YAML documents a ``_locs.yaml`` needs (Width/Height/Frames first).
"""

import dataclasses
from pathlib import Path

import numpy as np

from ..core.localizations import valid_rows
from . import decode, elyra, oni, pyme, rapidstorm, smap, smlm, thunderstorm
from .errors import InputFileError, raised_inside

# First match wins. ONI and ThunderSTORM are both .csv (ONI names "X (nm)", ThunderSTORM
# "x [nm]"); rapidSTORM and Elyra both .txt (told apart by their header line).
TABLE_READERS = [
    (smlm.FORMAT_NAME, smlm.is_smlm, smlm.open_table),
    (decode.FORMAT_NAME, decode.is_decode, decode.open_table),
    (pyme.FORMAT_NAME, pyme.is_pyme, pyme.open_table),
    (smap.FORMAT_NAME, smap.is_smap, smap.open_table),
    (rapidstorm.FORMAT_NAME, rapidstorm.is_rapidstorm, rapidstorm.open_table),
    (elyra.FORMAT_NAME, elyra.is_elyra, elyra.open_table),
    (oni.FORMAT_NAME, oni.is_oni, oni.open_table),
    (thunderstorm.FORMAT_NAME, thunderstorm.is_thunderstorm, thunderstorm.open_table),
]

# A file of these suffixes that no reader accepts is opened by this one anyway, so that the
# error says what the file lacks (a CSV without coordinate columns ...).
FALLBACK_BY_SUFFIX = {".csv": thunderstorm.open_table}

TABLE_SUFFIXES = (".csv", ".txt", ".smlm", ".h5", ".h5r", ".mat")


def table_reader(path):
    """The ``open_table`` of the first format that accepts ``path``, or None."""
    for _, accepts, open_table_ in TABLE_READERS:
        if accepts(path):
            return open_table_
    return None


def is_localization_table(path):
    """Whether ``path`` is another tool's localization table napari-picasso reads."""
    return table_reader(path) is not None


def open_table(path, *, pixelsize_nm=None):
    """Open another tool's localization table.

    Parameters
    ----------
    path : path-like
        ThunderSTORM ``.csv``, rapidSTORM ``.txt``, Zeiss Elyra ``.txt``, ONI ``.csv``,
        ``.smlm``, DECODE ``.h5``, SMAP ``_sml.mat`` or PYME ``.h5r``.
    pixelsize_nm : float, optional
        Camera pixel size in the sample (nm): converts nm to px, and wins over the file's.

    Returns
    -------
    TableSource

    Raises
    ------
    InputFileError
        Missing file, unknown format, damaged file, or nm coordinates without a pixel size.

    Examples
    --------
    >>> source = open_table("cells.csv", pixelsize_nm=130)  # doctest: +SKIP
    >>> source.format_name  # doctest: +SKIP
    'ThunderSTORM CSV'
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file.")
    opener = table_reader(path) or FALLBACK_BY_SUFFIX.get(path.suffix.lower())
    if opener is None:
        names = ", ".join(name for name, _, _ in TABLE_READERS)
        raise InputFileError(path, f"is not a localization table napari-picasso reads ({names}).")
    try:
        return opener(path, pixelsize_nm=pixelsize_nm)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise _as_input_error(path, error) from None


def _as_input_error(path, error):
    """A parsing library's error on a damaged file as an InputFileError; ours pass through."""
    if isinstance(error, InputFileError):
        return error
    if isinstance(error, OSError) or any(raised_inside(error, p) for p in ("h5py", "pandas", "zipfile", "scipy")):
        return InputFileError(path, f"cannot be read ({type(error).__name__}: {error}).")
    return error


@dataclasses.dataclass
class TableStats:
    """What :func:`iter_locs` saw: rows read and kept, extents, whether frames were sorted."""

    rows_read: int = 0
    rows_kept: int = 0
    x_max: float = -1.0
    y_max: float = -1.0
    frame_max: int = -1
    sorted_by_frame: bool = True
    _last_frame: int = -1

    @property
    def rows_dropped(self):
        return self.rows_read - self.rows_kept

    def add(self, locs):
        if not len(locs):
            return
        frame = locs["frame"]
        if frame[0] < self._last_frame or np.any(frame[1:] < frame[:-1]):
            self.sorted_by_frame = False
        self._last_frame = int(frame[-1])
        self.x_max = max(self.x_max, float(locs["x"].max()))
        self.y_max = max(self.y_max, float(locs["y"].max()))
        self.frame_max = max(self.frame_max, int(frame.max()))


def iter_locs(source, stats=None):
    """Yield ``locs`` chunks of a :class:`TableSource`, in file order.

    Rows Picasso's loader would drop (NaN/inf, a negative position, a negative precision,
    photon count or width) are left out; the image size comes from the rows
    (:func:`movie_document`), so no row lies beyond it. ``stats`` (a :class:`TableStats`)
    is filled as the rows pass.
    """
    stats = stats if stats is not None else TableStats()
    try:
        for columns, n_rows in source.chunks():
            locs = source.layout.build(columns, n_rows, source.path)
            stats.rows_read += n_rows
            locs = locs[valid_rows(locs, np.inf, np.inf)]
            stats.rows_kept += len(locs)
            stats.add(locs)
            yield locs
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise _as_input_error(source.path, error) from None


def movie_document(source, stats):
    """The first YAML document: ``Width``/``Height``/``Frames`` (the file's, or just
    covering the rows) and where the table came from."""
    width = max(source.width_px or 0, int(np.floor(stats.x_max)) + 1, 1)
    height = max(source.height_px or 0, int(np.floor(stats.y_max)) + 1, 1)
    frames = max(source.n_frames or 0, stats.frame_max + 1, 1)
    document = {
        "Width": int(width),
        "Height": int(height),
        "Frames": int(frames),
        "Source file": str(source.path.absolute()),
        "Source format": source.format_name,
    }
    document.update(source.metadata)
    return document


def conversion_document(source, stats):
    """The second YAML document: how the table was converted (pixel size, frames, fields)."""
    from .. import __version__

    document = {
        "Generated by": f"napari-picasso {__version__} (from {source.format_name})",
        "Source file": str(source.path.absolute()),
        "Source format": source.format_name,
    }
    if source.pixelsize_nm is not None:
        document["Pixelsize"] = float(source.pixelsize_nm)
        document["Pixelsize source"] = source.pixelsize_source
    document["Source frame numbers"] = f"{source.frame_numbers}; frame counts from 0 here"
    absent = source.layout.absent_fields()
    if absent:
        document["Fields absent from the source (written as 0)"] = absent
    extras = source.layout.extra_fields()
    if extras:
        document["Extra fields (source column)"] = extras
    document["Localizations"] = int(stats.rows_kept)
    if stats.rows_dropped:
        document["Rows left out (invalid for Picasso)"] = int(stats.rows_dropped)
    return document


def read_table(path, *, pixelsize_nm=None):
    """Read another tool's localization table whole, in the Picasso layout.

    Parameters
    ----------
    path : path-like
        See :func:`open_table` for the formats.
    pixelsize_nm : float, optional
        Camera pixel size (nm); wins over the file's.

    Returns
    -------
    locs : numpy.ndarray
        Structured array (base fields, the file's extended fields, its extra columns),
        coordinates in camera px, frames from 0, sorted by frame.
    info : list of dict
        The movie document (Width, Height, Frames, source metadata) and the conversion
        document (Pixelsize, fields absent, extra fields, rows left out).

    Examples
    --------
    >>> locs, info = read_table("cells.csv", pixelsize_nm=130)  # doctest: +SKIP
    >>> info[1]["Pixelsize"]  # doctest: +SKIP
    130.0
    """
    source = open_table(path, pixelsize_nm=pixelsize_nm)
    stats = TableStats()
    chunks = list(iter_locs(source, stats))
    locs = np.concatenate(chunks) if chunks else np.zeros(0, dtype=source.layout.dtype)
    if not stats.sorted_by_frame:
        locs = locs[np.argsort(locs["frame"], kind="stable")]
    return locs, [movie_document(source, stats), conversion_document(source, stats)]
