"""DECODE emitter files (``.h5``).

DECODE (Speiser et al. 2021) saves an ``EmitterSet`` as HDF5: group ``data`` with ``xyz``
(N x 3: x, y in ``xy_unit``, z in nm), ``phot``, ``frame_ix`` (frames counted from 0),
``bg``, ``prob``, ``id`` and the uncertainties ``xyz_sig``/``phot_sig``/``bg_sig`` and
Cramer-Rao bounds ``xyz_cr``/``phot_cr``/``bg_cr`` (empty datasets where not computed);
group ``meta`` with the attributes ``xy_unit`` (``"px"`` or ``"nm"``) and ``px_size``
(x, y: nm); group ``decode`` with the version.

Mapping: ``xyz[:, 0]`` -> ``x`` and ``xyz[:, 1]`` -> ``y`` as DECODE names them (px as
they are, nm through ``px_size`` or ``--pixelsize``; DECODE's pixel centres are at integer
px, as Picasso's); ``xyz[:, 2]`` -> ``z`` (nm); ``phot`` -> ``photons``; ``bg`` -> ``bg``;
``xyz_sig`` -> ``lpx``/``lpy``/``lpz``. ``prob``, ``id`` and the other uncertainties and
bounds are kept as extra fields (``x_cr`` ... in DECODE's units).
"""

from pathlib import Path

import h5py
import numpy as np

from .errors import InputFileError, raised_inside
from .table_layout import ColumnRule, ExtraColumn, LocsLayout, TableSource, choose_pixelsize, missing_pixelsize

FORMAT_NAME = "DECODE"
CHUNK_ROWS = 1 << 19
VECTORS = {"xyz": ("x", "y", "z"), "xyz_sig": ("x_sig", "y_sig", "z_sig"), "xyz_cr": ("x_cr", "y_cr", "z_cr")}


def is_decode(path):
    """An HDF5 ``.h5`` file with DECODE's ``data/xyz`` and ``meta`` groups."""
    path = Path(path)
    if path.suffix.lower() not in (".h5", ".hdf5") or not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            return isinstance(f.get("data"), h5py.Group) and "xyz" in f["data"] and "meta" in f
    except (OSError, ValueError):
        return False


def _columns(data):
    """``{column: (dataset name, index or None)}`` of the non-empty datasets of ``data``."""
    columns = {}
    for name, dataset in data.items():
        if not isinstance(dataset, h5py.Dataset) or dataset.shape is None or dataset.dtype.kind not in "biuf":
            continue
        if name in VECTORS and dataset.ndim == 2:
            for index, column in enumerate(VECTORS[name][: dataset.shape[1]]):
                columns[column] = (name, index)
        elif dataset.ndim == 1:
            columns[name] = (name, None)
    return columns


def _attribute_text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def open_table(path, *, pixelsize_nm=None):
    """Open a DECODE ``.h5`` emitter file (:class:`~.table_layout.TableSource`).

    Parameters
    ----------
    path : path-like
    pixelsize_nm : float, optional
        Camera pixel size (nm); default: the file's ``meta`` ``px_size``.

    Examples
    --------
    >>> source = open_table("emitter.h5")  # doctest: +SKIP
    >>> source.pixelsize_source  # doctest: +SKIP
    'file (meta px_size)'
    """
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if not isinstance(f.get("data"), h5py.Group) or "xyz" not in f["data"]:
                raise InputFileError(path, "has no DECODE 'data/xyz' dataset; it is not a DECODE emitter file.")
            meta = {k: _plain(v) for k, v in f["meta"].attrs.items()} if "meta" in f else {}
            version = {k: _plain(v) for k, v in f["decode"].attrs.items()} if "decode" in f else {}
            columns = _columns(f["data"])
            n_rows = int(f["data"]["xyz"].shape[0])
            dtypes = {c: f["data"][name].dtype for c, (name, _) in columns.items()}
    except OSError as error:
        raise InputFileError(path, f"is not a readable HDF5 file ({error}).") from None
    px_size = np.atleast_1d(np.asarray(meta.get("px_size", []), dtype=float))
    file_pixelsize = float(px_size[0]) if px_size.size else None
    pixelsize_nm, source = choose_pixelsize(path, pixelsize_nm, file_pixelsize, "meta px_size")
    xy_unit = _attribute_text(meta.get("xy_unit", "px")).lower()
    if xy_unit not in ("px", "nm"):
        raise InputFileError(path, f"gives positions in {xy_unit!r}; DECODE writes 'px' or 'nm'.")
    if xy_unit == "nm" and pixelsize_nm is None:
        raise missing_pixelsize(path, FORMAT_NAME)
    # nm -> px per axis: DECODE keeps a pixel size for x and one for y
    scale_x = scale_y = 1.0
    if xy_unit == "nm":
        scale_x = 1.0 / pixelsize_nm
        scale_y = scale_x if source == "--pixelsize" or px_size.size < 2 else 1.0 / float(px_size[1])
    mapping = {"x": ("x", scale_x), "y": ("y", scale_y), "z": ("z", 1.0), "frame_ix": ("frame", 1.0)}
    mapping.update({"phot": ("photons", 1.0), "bg": ("bg", 1.0)})
    mapping.update({"x_sig": ("lpx", scale_x), "y_sig": ("lpy", scale_y), "z_sig": ("lpz", 1.0)})
    rules = [ColumnRule(field, column, scale) for column, (field, scale) in mapping.items() if column in columns]
    extras = [ExtraColumn(column, column, _extra_dtype(dtypes[column])) for column in columns if column not in mapping]
    if "frame" not in {rule.field for rule in rules}:
        raise InputFileError(path, "has no DECODE 'data/frame_ix' dataset (the frame of each emitter).")
    return TableSource(
        path=path,
        format_name=FORMAT_NAME,
        layout=LocsLayout(rules, extras),
        chunks=lambda: _chunks(path, columns, n_rows),
        pixelsize_nm=pixelsize_nm,
        pixelsize_source=source,
        frame_numbers="from 0 (DECODE frame_ix)",
        metadata={"DECODE meta": meta, "DECODE version": version},
        n_rows=n_rows,
    )


def _extra_dtype(dtype):
    return np.dtype("i8") if np.dtype(dtype).kind in "biu" else np.dtype("f4")


def _plain(value):
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if hasattr(value, "item") else value


def _chunks(path, columns, n_rows):
    try:
        with h5py.File(path, "r") as f:
            data = f["data"]
            for start in range(0, n_rows, CHUNK_ROWS):
                stop = min(n_rows, start + CHUNK_ROWS)
                pieces = {}
                for column, (name, index) in columns.items():
                    values = data[name][start:stop]
                    pieces[column] = values[:, index] if index is not None else values
                yield pieces, stop - start
    except (OSError, ValueError, KeyError) as error:
        if isinstance(error, InputFileError) or not (isinstance(error, OSError) or raised_inside(error, "h5py")):
            raise
        raise InputFileError(path, f"cannot be read to its end ({error}).") from None
