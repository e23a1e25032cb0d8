"""Localization files: ``<movie>_locs.hdf5`` with its multi-document ``_locs.yaml``.

The HDF5 file holds one dataset ``locs`` (a 1-D structured array sorted by frame); the
YAML file holds one mapping per processing step, oldest first (the movie document with
``Width``/``Height``/``Frames`` first). Both are written to temporary names and renamed
when complete, so a crash or a cancelled run leaves no partial file behind. The YAML is
renamed first and the HDF5 last: an ``.hdf5`` in place means its pair is complete (a
crash between the two renames leaves a ``.yaml`` with an ``.hdf5.part``, which readers
and the watcher see as unfinished).
"""

import io
import os
import re
from pathlib import Path

import h5py
import numpy as np
import yaml

from .errors import InputFileError, OutputWriteError, raised_inside
from .metadata import plain

LOCS_DATASET = "locs"


# Order of the choices in an output name: the position first (it is often a file of its
# own), then the axes from slowest to fastest, a changed frame axis last.
_CHOICE_ORDER = ("position", "time", "z", "channel")
_FRAME_AXIS_CHOICE = "frame_axis"  # io.axes.FRAME_AXIS_CHOICE (not imported: axes is heavier)
_UNSAFE_IN_NAMES = re.compile(r"[^A-Za-z0-9_.+-]+")


def movie_stem(movie_path):
    """The movie's name without its movie ending: the stem of every output name.

    ``.ome.tif`` and ``.ome.tiff`` lose both endings, as in Picasso; a dataset folder
    (NDTiff) keeps its whole name, dots included (``ndtiffv2.0_test``).

    Examples
    --------
    >>> movie_stem("run1.ome.tif"), movie_stem("/data/run2.raw")
    ('run1', 'run2')
    """
    movie_path = Path(movie_path)
    name = movie_path.name
    for ending in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(ending):
            return name[: -len(ending)]
    if movie_path.is_dir():
        return name
    return movie_path.stem if movie_path.suffix else name


def _choice_key(axis):
    if axis == _FRAME_AXIS_CHOICE:
        return (len(_CHOICE_ORDER) + 1, axis)
    return (_CHOICE_ORDER.index(axis), "") if axis in _CHOICE_ORDER else (len(_CHOICE_ORDER), axis)


def _name_part(value):
    return _UNSAFE_IN_NAMES.sub("_", str(value)).strip("_") or "_"


def _position_file(movie_path, label):
    """The Micro-Manager file that holds position ``label`` of ``movie_path``'s set, or None."""
    if "_MMStack" not in Path(movie_path).name:
        return None
    from .tiff import mmstack_positions

    return mmstack_positions(movie_path).get(str(label))


def locs_path_for(movie_path, suffix="_locs", folder=None, *, choices=None):
    """The output of a movie: ``<stem>[_<axis>-<value>...]<suffix>.hdf5``.

    The one naming rule of every front end (command line, dock, watcher, batches): the
    movie's name (see :func:`movie_stem`), then each reader choice that picked this movie
    out of a file holding several, so that every channel, position or z plane of a file
    gets an output of its own, named after it. The output lies beside the movie (beside
    a dataset folder) or in ``folder``.

    Parameters
    ----------
    movie_path : path-like
        The movie file or dataset folder.
    suffix : str
        Ends the name before ``.hdf5`` (``_locs``; the watcher's groups ``_pg_2_locs``).
    folder : path-like, optional
        Where the output goes (default: beside the movie).
    choices : dict, optional
        ``{axis: value}`` reader choices, as the reader records them (labels, see
        :func:`movie_locs_path`). ``position=`` naming another file of a Micro-Manager
        set names the output after that file; ``frame_axis=`` appears as
        ``frames-<axis>``.

    Examples
    --------
    >>> locs_path_for("/data/cells.nd2", choices={"channel": "Cy5", "z": 0}).name
    'cells_z-0_channel-Cy5_locs.hdf5'
    >>> locs_path_for("/data/beads.ome.tif", folder="/results").as_posix()
    '/results/beads_locs.hdf5'
    """
    movie_path = Path(movie_path)
    stem = movie_stem(movie_path)
    parts = []
    for axis, value in sorted((choices or {}).items(), key=lambda item: _choice_key(item[0])):
        if value is None:
            continue
        if axis == "position":
            position_file = _position_file(movie_path, value)
            if position_file is not None:
                stem = movie_stem(position_file)  # the position's own file says which
                continue
        label = "frames" if axis == _FRAME_AXIS_CHOICE else _name_part(axis)
        parts.append(f"_{label}-{_name_part(value)}")
    parent = Path(folder) if folder is not None else movie_path.parent
    return parent / f"{stem}{''.join(parts)}{suffix}.hdf5"


def movie_locs_path(movie, suffix="_locs", folder=None, *, choices=None):
    """:func:`locs_path_for` of a movie opened with ``choices``, named by the reader's labels.

    The reader resolves what the user typed (``channel=0``, ``position=1``) into the
    labels it records (``channel=DAPI``, the position's name), and drops choices that do
    not pick anything (``channel=0`` of a file with one channel): the same movie gets the
    same name however it was chosen.

    Parameters
    ----------
    movie : path-like or Movie
        A movie file or dataset folder (opened here when ``choices`` are given, for its
        labels; one that does not open is named by ``choices`` as given, and fails later
        with the reader's message), or an open movie (its recorded choices).
    suffix, folder
        As for :func:`locs_path_for`.
    choices : dict, optional
        The reader choices (``open_movie`` keywords).

    Examples
    --------
    An NDTiff dataset with channels ``DAPI`` and ``FITC``:

    >>> movie_locs_path("ndtiffv2.0_test", choices={"channel": 1}).name  # doctest: +SKIP
    'ndtiffv2.0_test_channel-FITC_locs.hdf5'
    """
    from .movie import Movie
    from .movies import open_movie

    if isinstance(movie, Movie):  # its reader resolved the choices it was opened with
        return locs_path_for(movie.path, suffix, folder, choices=movie.metadata.get("Choices"))
    choices = {k: v for k, v in (choices or {}).items() if v is not None}
    if choices:
        try:
            with open_movie(movie, **choices) as opened:
                choices = dict(opened.metadata.get("Choices") or {})
        except Exception:  # noqa: BLE001  (named as given; opening it to localize reports the problem)
            pass
    return locs_path_for(movie, suffix, folder, choices=choices)


def yaml_path_for(locs_path):
    """The ``.yaml`` beside a ``.hdf5`` localization file."""
    return Path(locs_path).with_suffix(".yaml")


def existing_outputs(locs_path):
    """The files of an earlier output at ``locs_path`` (its ``.hdf5`` and ``.yaml``) that exist.

    Examples
    --------
    >>> existing_outputs("/nowhere/movie_locs.hdf5")
    []
    """
    return [path for path in (Path(locs_path), yaml_path_for(locs_path)) if path.exists()]


def free_locs_path(locs_path):
    """A name beside ``locs_path`` for a new output that keeps the earlier one: the first of
    ``<stem>-2_locs.hdf5``, ``-3``, ... whose ``.hdf5`` and ``.yaml`` both do not exist
    (the ``_locs`` ending stays last, where Picasso looks for it).

    Examples
    --------
    >>> free_locs_path("/nowhere/movie_locs.hdf5").name
    'movie-2_locs.hdf5'
    >>> free_locs_path("/nowhere/movie_pg_2.hdf5").name
    'movie_pg_2-2.hdf5'
    """
    locs_path = Path(locs_path)
    stem = locs_path.stem
    head, ending = (stem[: -len("_locs")], "_locs") if stem.endswith("_locs") else (stem, "")
    number = 2
    while True:
        candidate = locs_path.with_name(f"{head}-{number}{ending}{locs_path.suffix}")
        if not existing_outputs(candidate):
            return candidate
        number += 1


def _partial_name(path):
    return path.with_name(path.name + ".part")


class GuardedFile(io.FileIO):
    """A file that remembers its first failed write (disk full, I/O error) instead of raising.

    HDF5 cannot survive a failed write: h5py 3.16 / HDF5 2.0 raises on ``File.close()``
    but keeps the file open, and closing it again (or at exit) crashes the process. Writes
    through this file never fail for HDF5; after the first failure they are dropped, the
    error is kept in :attr:`failed` and the writer raises it once HDF5 has let go.
    """

    failed = None

    def write(self, data):
        if self.failed is None:
            try:
                return super().write(data)
            except OSError as error:
                self.failed = error
        return memoryview(data).nbytes

    def close(self):
        try:
            super().close()
        except OSError as error:  # e.g. a network disk that reports ENOSPC on close
            if self.failed is None:
                self.failed = error


# The class of every output file's handle (tests give one that fails at a chosen byte).
output_file = GuardedFile


def write_output_bytes(path, data):
    """Write ``data`` to ``path`` (a new file); :class:`OutputWriteError` if the disk fails."""
    handle = output_file(path, "wb")
    try:
        handle.write(data)
    finally:
        handle.close()
    if handle.failed is not None:
        Path(path).unlink(missing_ok=True)
        raise OutputWriteError(path, handle.failed)


class LocsWriter:
    """Stream localizations into ``<name>.hdf5`` and write ``<name>.yaml`` at the end.

    Use as a context manager. Rows are appended with :meth:`append`; :meth:`commit`
    writes the YAML and renames both files into place. Leaving the ``with`` block without
    committing (an error, a cancel) deletes the partial files. A full or failing disk
    raises :class:`~napari_picasso.io.errors.OutputWriteError` (no space left on the
    folder) from :meth:`append` or :meth:`commit`, with the partial files removed.

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
        self._handle = None
        self._file = None
        self._dataset = None
        self._committed = False

    def __enter__(self):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InputFileError(
                self.path.parent,
                "is not a folder (a file has that name); the output cannot go there.",
                fix="name a folder for the outputs.",
            ) from None
        self._handle = output_file(self._part, "w+b")
        self._file = h5py.File(self._handle, "w")
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
        self._raise_if_failed()

    def _raise_if_failed(self):
        if self._handle is not None and self._handle.failed is not None:
            raise OutputWriteError(self.path, self._handle.failed)

    def _close(self):
        """Close the HDF5 file and its handle, once (a second close can crash HDF5)."""
        file, self._file, self._dataset = self._file, None, None
        handle, self._handle = self._handle, None
        try:
            if file is not None:
                file.close()
        finally:
            if handle is not None:
                handle.close()
                self._handle = handle  # for its ``failed``

    def commit(self, extra_info=None):
        """Finish: write the YAML (adding ``extra_info`` to the last document), rename.

        The YAML goes into place before the HDF5: whoever finds the ``.hdf5`` (the
        watcher, Picasso, the database) finds the whole pair, even after a crash between
        the renames.
        """
        if extra_info:
            self.info[-1] = {**self.info[-1], **extra_info}
        self._close()
        self._raise_if_failed()
        yaml_target = yaml_path_for(self.path)
        yaml_part = _partial_name(yaml_target)
        text = yaml.safe_dump_all(plain(self.info), sort_keys=False, default_flow_style=False)
        write_output_bytes(yaml_part, text.encode("utf-8"))
        # Replacing an earlier output: its .hdf5 goes first, so that no crash can leave it
        # beside the new .yaml (a pair that does not belong together).
        if self.path.exists():
            self.path.unlink()
        os.replace(yaml_part, yaml_target)
        os.replace(self._part, self.path)
        self._committed = True

    def __exit__(self, exc_type, exc, tb):
        if not self._committed:
            try:
                self._close()
            except Exception:  # noqa: BLE001  (leaving anyway: the partial files go)
                pass
            for part in (self._part, _partial_name(yaml_path_for(self.path))):
                part.unlink(missing_ok=True)
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
