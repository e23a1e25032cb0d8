"""SMAP localization files (``_sml.mat``).

SMAP (Ries 2020) saves a MATLAB file with the struct ``saveloc``: ``saveloc.loc`` holds one
column vector per quantity (``xnm``, ``ynm``, ``znm``, ``frame`` counted from 1, ``phot``,
``bg``, ``locprecnm``, ``locprecznm``, ``PSFxnm``, ``PSFynm``, ``channel`` ...), and
``saveloc.file`` describes the source movies (``info.cam_pixelsize_um``: x, y in µm). Large
files are MATLAB v7.3, which is HDF5 (read with h5py in pieces); smaller ones MATLAB v5/v7
(read with scipy, whole).

Mapping: ``xnm``/``ynm`` -> px through ``cam_pixelsize_um`` or ``--pixelsize``; ``znm``
-> ``z``; ``frame - 1`` -> ``frame``; ``phot`` -> ``photons``; ``bg`` -> ``bg``;
``locprecnm`` (or ``locprecxnm``/``locprecynm``) -> ``lpx``/``lpy``; ``locprecznm`` ->
``lpz``; ``PSFxnm``/``PSFynm`` -> ``sx``/``sy``. Every other numeric vector of the row
count is kept as an extra field. SMAP's split ``_sml_p*.mat`` parts are refused.
"""

import functools
from pathlib import Path

import h5py
import numpy as np

from .errors import InputFileError
from .table_layout import ColumnRule, ExtraColumn, LocsLayout, TableSource, choose_pixelsize, missing_pixelsize

FORMAT_NAME = "SMAP"
CHUNK_ROWS = 1 << 19
NM_TO_PX = {"xnm": "x", "ynm": "y", "PSFxnm": "sx", "PSFynm": "sy", "locprecxnm": "lpx", "locprecynm": "lpy"}
PLAIN = {"znm": "z", "locprecznm": "lpz", "phot": "photons", "bg": "bg"}


def is_smap(path):
    path = Path(path)
    return path.suffix.lower() == ".mat" and path.is_file()


def _vector_length(shape):
    """Rows of a MATLAB column (or row) vector stored with ``shape``; None for anything else."""
    if len(shape) == 1:
        return shape[0]
    if len(shape) == 2 and 1 in shape:
        return max(shape)
    return None


def _dereference(f, node):
    """Follow MATLAB v7.3 object references (a struct array's or cell's elements) to the first."""
    while isinstance(node, h5py.Dataset) and node.dtype == h5py.ref_dtype:
        if node.size == 0:
            return None
        node = f[node[()].flat[0]]
    return node


def _pixelsize_h5(f):
    node = f.get("saveloc/file")
    for key in ("info", "cam_pixelsize_um"):
        node = _dereference(f, node)
        if not isinstance(node, h5py.Group) or key not in node:
            return None
        node = node[key]
    node = _dereference(f, node)
    if not isinstance(node, h5py.Dataset) or node.dtype.kind not in "fiu" or node.size == 0:
        return None
    return float(np.asarray(node).flat[0]) * 1000.0


def _open_h5(path):
    with h5py.File(path, "r") as f:
        if any(key in f for key in ("lds", "partnames")):
            raise _split_file(path)
        loc = f.get("saveloc/loc")
        if not isinstance(loc, h5py.Group):
            raise InputFileError(path, "holds no SMAP localizations ('saveloc.loc'); is it a SMAP _sml.mat file?")
        vectors = {}
        for name, dataset in loc.items():
            if isinstance(dataset, h5py.Dataset) and dataset.dtype.kind in "biuf":
                n = _vector_length(dataset.shape)
                if n is not None:
                    vectors[name] = (n, dataset.dtype)
        return vectors, _pixelsize_h5(f)


def _split_file(path):
    return InputFileError(
        path, "is one part of a split SMAP save (_sml_p*.mat).", fix="save it in SMAP as one file and open that."
    )


def _open_v5(path):
    from scipy.io import loadmat

    try:
        mat = loadmat(path, struct_as_record=False, squeeze_me=True)
    except (ValueError, TypeError, OSError, NotImplementedError) as error:
        raise InputFileError(path, f"is not a MATLAB file scipy can read ({error}).") from None
    if any(key in mat for key in ("lds", "partnames")):
        raise _split_file(path)
    saveloc = mat.get("saveloc")
    loc = getattr(saveloc, "loc", None)
    if loc is None or not hasattr(loc, "_fieldnames"):
        raise InputFileError(path, "holds no SMAP localizations ('saveloc.loc'); is it a SMAP _sml.mat file?")
    vectors = {}
    for name in loc._fieldnames:
        value = np.atleast_1d(np.asarray(getattr(loc, name)))
        if value.dtype.kind in "biuf" and value.ndim == 1:
            vectors[name] = value
    pixelsize = None
    file_ = getattr(saveloc, "file", None)
    if isinstance(file_, np.ndarray) and file_.size:
        file_ = file_.flat[0]
    size = getattr(getattr(file_, "info", None), "cam_pixelsize_um", None)
    if size is not None and np.size(size):
        pixelsize = float(np.asarray(size, dtype=float).flat[0]) * 1000.0
    return vectors, pixelsize


def open_table(path, *, pixelsize_nm=None):
    """Open a SMAP ``_sml.mat`` file (:class:`~.table_layout.TableSource`).

    Parameters
    ----------
    path : path-like
    pixelsize_nm : float, optional
        Camera pixel size (nm); default: the file's ``cam_pixelsize_um``.

    Examples
    --------
    >>> source = open_table("cell_sml.mat")  # doctest: +SKIP
    >>> source.frame_numbers  # doctest: +SKIP
    'from 1 (MATLAB)'
    """
    path = Path(path)
    if h5py.is_hdf5(path):
        vectors, file_pixelsize = _open_h5(path)
        lengths = {name: n for name, (n, _) in vectors.items()}
        dtypes = {name: dtype for name, (_, dtype) in vectors.items()}
    else:
        arrays, file_pixelsize = _open_v5(path)
        lengths = {name: len(v) for name, v in arrays.items()}
        dtypes = {name: v.dtype for name, v in arrays.items()}
    for required in ("xnm", "ynm", "frame"):
        if required not in lengths:
            raise InputFileError(path, f"its saveloc.loc has no {required!r} (fields: {', '.join(lengths)}).")
    n_rows = lengths["xnm"]
    if h5py.is_hdf5(path):
        chunks = functools.partial(_h5_chunks, path, list(lengths), n_rows)
    else:
        chunks = functools.partial(iter, [(arrays, n_rows)])
    columns = [name for name, n in lengths.items() if n == n_rows]
    pixelsize_nm, source = choose_pixelsize(path, pixelsize_nm, file_pixelsize, "saveloc.file.info.cam_pixelsize_um")
    if pixelsize_nm is None:
        raise missing_pixelsize(path, FORMAT_NAME, "xnm")
    rules = [ColumnRule("frame", "frame", 1.0, -1.0)]
    rules += [ColumnRule(field, name, 1.0 / pixelsize_nm) for name, field in NM_TO_PX.items() if name in columns]
    rules += [ColumnRule(field, name) for name, field in PLAIN.items() if name in columns]
    mapped = {rule.field for rule in rules}
    if "locprecnm" in columns:
        rules += [ColumnRule(f, "locprecnm", 1.0 / pixelsize_nm) for f in ("lpx", "lpy") if f not in mapped]
    if "sx" in mapped and "sy" not in mapped:
        rules.append(ColumnRule("sy", "PSFxnm", 1.0 / pixelsize_nm))
    used = {rule.column for rule in rules}
    extras = [
        ExtraColumn(name, name, np.dtype("i8") if np.dtype(dtypes[name]).kind in "biu" else np.dtype("f4"))
        for name in columns
        if name not in used
    ]
    return TableSource(
        path=path,
        format_name=FORMAT_NAME,
        layout=LocsLayout(rules, extras),
        chunks=chunks,
        pixelsize_nm=pixelsize_nm,
        pixelsize_source=source,
        frame_numbers="from 1 (MATLAB)",
        n_rows=n_rows,
    )


def _h5_chunks(path, names, n_rows):
    with h5py.File(path, "r") as f:
        loc = f["saveloc/loc"]
        for start in range(0, n_rows, CHUNK_ROWS):
            stop = min(n_rows, start + CHUNK_ROWS)
            pieces = {}
            for name in names:
                dataset = loc[name]
                if _vector_length(dataset.shape) != n_rows:
                    continue
                if dataset.ndim == 1:
                    pieces[name] = dataset[start:stop]
                elif dataset.shape[0] == 1:
                    pieces[name] = dataset[0, start:stop]
                else:
                    pieces[name] = dataset[start:stop, 0]
            yield pieces, stop - start
