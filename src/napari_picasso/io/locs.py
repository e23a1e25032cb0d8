"""Localization files: ``<movie>_locs.hdf5`` with its multi-document ``_locs.yaml``.

The HDF5 file holds one dataset ``locs`` (a 1-D structured array sorted by frame); the
YAML file holds one mapping per processing step, oldest first (the movie document with
``Width``/``Height``/``Frames`` first). Both are written to temporary names and renamed
when complete, so a crash or a cancelled run leaves no partial file behind. The YAML is
renamed first and the HDF5 last: an ``.hdf5`` in place means its pair is complete (a
crash between the two renames leaves a ``.yaml`` with an ``.hdf5.part``, which readers
and the watcher see as unfinished).
"""

import os
from pathlib import Path

import h5py
import numpy as np
import yaml

from .errors import InputFileError, raised_inside
from .metadata import plain

LOCS_DATASET = "locs"


def locs_path_for(movie_path, suffix="_locs", folder=None):
    """``<movie stem><suffix>.hdf5`` beside the movie (or in ``folder``).

    ``.ome.tif`` and ``.ome.tiff`` lose both endings, as in Picasso.
    """
    movie_path = Path(movie_path)
    name = movie_path.name
    for ending in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(ending):
            stem = name[: -len(ending)]
            break
    else:
        stem = movie_path.stem if movie_path.suffix else name
    parent = Path(folder) if folder is not None else movie_path.parent
    return parent / f"{stem}{suffix}.hdf5"


def yaml_path_for(locs_path):
    """The ``.yaml`` beside a ``.hdf5`` localization file."""
    return Path(locs_path).with_suffix(".yaml")


def _partial_name(path):
    return path.with_name(path.name + ".part")


class LocsWriter:
    """Stream localizations into ``<name>.hdf5`` and write ``<name>.yaml`` at the end.

    Use as a context manager. Rows are appended with :meth:`append`; :meth:`commit`
    writes the YAML and renames both files into place. Leaving the ``with`` block without
    committing (an error, a cancel) deletes the partial files.

    Parameters
    ----------
    path : path-like
        Target ``.hdf5`` path.
    dtype : numpy.dtype
        Record dtype of the rows.
    info : list of dict
        The YAML documents (movie document first).
    """

    def __init__(self, path, dtype, info):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.info = list(info)
        self.n_rows = 0
        self._part = _partial_name(self.path)
        self._file = None
        self._dataset = None
        self._committed = False

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = h5py.File(self._part, "w")
        self._dataset = self._file.create_dataset(
            LOCS_DATASET,
            shape=(0,),
            maxshape=(None,),
            dtype=self.dtype,
            chunks=(max(1, min(65536, 2**20 // self.dtype.itemsize)),),
        )
        return self

    def append(self, rows):
        """Append rows (a structured array of this writer's dtype)."""
        rows = np.asarray(rows)
        if rows.dtype != self.dtype:
            raise TypeError(f"rows have dtype {rows.dtype}, the file {self.dtype}")
        if len(rows) == 0:
            return
        start = self.n_rows
        self._dataset.resize((start + len(rows),))
        self._dataset[start:] = rows
        self.n_rows += len(rows)

    def commit(self, extra_info=None):
        """Finish: write the YAML (adding ``extra_info`` to the last document), rename.

        The YAML goes into place before the HDF5: whoever finds the ``.hdf5`` (the
        watcher, Picasso, the database) finds the whole pair, even after a crash between
        the renames.
        """
        if extra_info:
            self.info[-1] = {**self.info[-1], **extra_info}
        self._file.close()
        yaml_target = yaml_path_for(self.path)
        yaml_part = _partial_name(yaml_target)
        with open(yaml_part, "w") as f:
            yaml.safe_dump_all(plain(self.info), f, sort_keys=False, default_flow_style=False)
        # Replacing an earlier output: its .hdf5 goes first, so that no crash can leave it
        # beside the new .yaml (a pair that does not belong together).
        if self.path.exists():
            self.path.unlink()
        os.replace(yaml_part, yaml_target)
        os.replace(self._part, self.path)
        self._committed = True

    def __exit__(self, exc_type, exc, tb):
        if not self._committed:
            if self._file is not None and self._file.id.valid:
                self._file.close()
            for part in (self._part, _partial_name(yaml_path_for(self.path))):
                if part.exists():
                    part.unlink()
        return False


def save_locs(path, locs, info):
    """Write ``locs`` and the YAML documents ``info`` as ``path`` (+ ``.yaml``)."""
    with LocsWriter(path, locs.dtype, info) as writer:
        writer.append(locs)
        writer.commit()
    return Path(path)


def load_info(path):
    """The YAML documents of a localization (or ``.raw``) file, oldest first."""
    path = Path(path)
    yaml_path = yaml_path_for(path) if path.suffix != ".yaml" else path
    if not yaml_path.exists():
        raise InputFileError(
            path,
            f"has no {yaml_path.name} beside it (the metadata Picasso needs).",
            fix="copy the .yaml that was written with it next to the file.",
        )
    try:
        with open(yaml_path) as f:
            docs = [d for d in yaml.load_all(f, Loader=yaml.SafeLoader)]
    except yaml.YAMLError as error:
        raise InputFileError(yaml_path, f"is not valid YAML ({error}).") from None
    except UnicodeDecodeError as error:
        raise InputFileError(yaml_path, f"is not a text file ({error}).") from None
    docs = [d if d is not None else {} for d in docs]
    wrong = [i for i, d in enumerate(docs) if not isinstance(d, dict)]
    if wrong:
        raise InputFileError(
            yaml_path,
            f"document {wrong[0] + 1} is not a mapping of keys to values "
            f"({str(docs[wrong[0]])[:40]!r}); the file is damaged.",
            fix="restore it from the .yaml written with the localizations.",
        )
    return docs


def load_locs(path, with_info=True):
    """Read a localization file (ours or Picasso's).

    Returns
    -------
    locs : numpy.ndarray
        Structured array of the ``locs`` dataset.
    info : list of dict
        Its YAML documents (only when ``with_info``).
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "no such file.")
    try:
        with h5py.File(path, "r") as f:
            if LOCS_DATASET not in f:
                raise InputFileError(
                    path,
                    f"has no '{LOCS_DATASET}' dataset; it is not a localization file "
                    f"(datasets: {', '.join(f.keys()) or 'none'}).",
                )
            dataset = f[LOCS_DATASET]
            if dataset.dtype.names is None or not {"frame", "x", "y"} <= set(dataset.dtype.names):
                raise InputFileError(path, "its 'locs' dataset lacks the frame/x/y fields.")
            locs = dataset[...]
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as error:
        # h5py's errors on damaged files; InputFileError (ours) and our own bugs pass through
        if isinstance(error, InputFileError) or not (isinstance(error, OSError) or raised_inside(error, "h5py")):
            raise
        raise InputFileError(path, f"is not a readable HDF5 file ({error}).") from None
    if not with_info:
        return locs
    return locs, load_info(path)


def open_locs_table(path):
    """The open HDF5 file and its ``locs`` dataset, checked as :func:`load_locs` does.

    Raises
    ------
    InputFileError
        For a missing or unreadable file, or one without a usable ``locs`` dataset.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "no such file.")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise InputFileError(path, f"is not a readable HDF5 file ({error}).") from None
    if LOCS_DATASET not in handle:
        names = ", ".join(handle.keys()) or "none"
        handle.close()
        raise InputFileError(
            path, f"has no '{LOCS_DATASET}' dataset; it is not a localization file (datasets: {names})."
        )
    dataset = handle[LOCS_DATASET]
    if dataset.dtype.names is None or not {"frame", "x", "y"} <= set(dataset.dtype.names):
        handle.close()
        raise InputFileError(path, "its 'locs' dataset lacks the frame/x/y fields.")
    return handle, dataset


READ_ROWS = 1 << 18
"""Rows read at a time by :func:`load_columns` and :func:`iter_locs` (~15 MB of a fitted table)."""


def load_columns(path, names, chunk_rows=READ_ROWS):
    """Some fields of a localization file as separate arrays, read in pieces.

    Memory is that of the requested columns only (a 10M-row table's frame, x and y: 120
    MB), never the whole table.

    Parameters
    ----------
    path : path-like
        The ``.hdf5``.
    names : sequence of str
        Fields to read (missing ones are returned as None).

    Returns
    -------
    dict of str to numpy.ndarray or None

    Examples
    --------
    >>> columns = load_columns("movie_locs.hdf5", ["frame", "x", "y"])  # doctest: +SKIP
    """
    handle, dataset = open_locs_table(path)
    try:
        with handle:
            present = [name for name in names if name in dataset.dtype.names]
            n = int(dataset.shape[0])
            out = {name: np.empty(n, dtype=dataset.dtype[name]) for name in present}
            for start in range(0, n, chunk_rows):
                chunk = dataset[start : start + chunk_rows]
                for name in present:
                    out[name][start : start + len(chunk)] = chunk[name]
    except OSError as error:
        raise InputFileError(path, f"is not a readable HDF5 file ({error}).") from None
    return {name: out.get(name) for name in names}


def iter_locs(path, chunk_rows=READ_ROWS):
    """The rows of a localization file, ``chunk_rows`` at a time (``(start, rows)`` pairs)."""
    handle, dataset = open_locs_table(path)
    with handle:
        n = int(dataset.shape[0])
        for start in range(0, n, chunk_rows):
            try:
                rows = dataset[start : start + chunk_rows]
            except OSError as error:
                raise InputFileError(path, f"is not a readable HDF5 file ({error}).") from None
            yield start, rows


def locs_dtype_of(path):
    """The record dtype of a localization file's table."""
    handle, dataset = open_locs_table(path)
    with handle:
        return dataset.dtype


def info_pixelsize_nm(info, default=None):
    """The camera pixel size (nm) of a locs file: the last ``Pixelsize`` any of its YAML
    documents gives, else ``default``."""
    value = default
    for doc in info:
        if isinstance(doc, dict) and doc.get("Pixelsize") is not None:
            value = float(doc["Pixelsize"])
    return value


def movie_document(info):
    """The first document (Width/Height/Frames) of a localization file's info."""
    if not info or not all(k in info[0] for k in ("Width", "Height", "Frames")):
        raise ValueError("the first YAML document must hold Width, Height and Frames")
    return info[0]
