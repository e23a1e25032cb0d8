"""One reader interface for every movie format.

:func:`open_movie` returns a :class:`Movie`: a lazy ``(frames, height, width)``
array-like of camera counts (frames are read from the file on demand, never the whole
movie at once) plus a ``metadata`` dictionary holding what the file says about the
acquisition and the camera. napari, the pipeline, the watcher and the distributed runner
all read movies through it.
"""

import os
import threading
from pathlib import Path

import numpy as np
import yaml

from .errors import InputFileError


class Movie:
    """A lazy movie of camera counts, shaped ``(frames, height, width)``.

    Subclasses implement :meth:`_read`, which returns frames ``start:stop`` as a
    native-endian array. Indexing follows numpy for the common cases napari and the
    pipeline use (integers, slices, integer sequences on the frame axis, and a tuple with
    up to three entries) and always returns a numpy array.

    Attributes
    ----------
    path : pathlib.Path
        The file (or folder) the movie was opened from.
    shape : tuple of int
        ``(frames, height, width)``.
    dtype : numpy.dtype
        Native-endian pixel type of the counts.
    metadata : dict
        ``Width``, ``Height``, ``Frames``, ``Data Type``, ``Byte Order`` and whatever the
        file holds about the camera (Micro-Manager's under ``Micro-Manager Metadata``,
        the camera name under ``Camera``).
    """

    ndim = 3

    def __init__(self, path, shape, dtype, metadata=None):
        self.path = Path(path)
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype).newbyteorder("=")
        self.metadata = dict(metadata or {})
        n_frames, height, width = self.shape
        # what a damaged header can claim; no reader below would read such frames
        if height <= 0 or width <= 0 or n_frames < 0:
            raise InputFileError(self.path, f"describes frames of {width}x{height} pixels (x {n_frames}); "
                                            "the file is damaged or not a movie.")
        if self.dtype.kind not in "uif":
            raise InputFileError(self.path, f"stores pixels as {self.dtype} values, not camera counts; "
                                            "the file is damaged or not a movie.")
        self.metadata.setdefault("Frames", n_frames)
        self.metadata.setdefault("Height", height)
        self.metadata.setdefault("Width", width)
        self.metadata.setdefault("Data Type", self.dtype.name)
        self.metadata.setdefault("Byte Order", "<")

    # -- interface for subclasses -------------------------------------------------
    def _read(self, start, stop):
        raise NotImplementedError

    def close(self):
        """Release the file handles the reader holds."""

    # -- public ---------------------------------------------------------------------
    @property
    def n_frames(self):
        return self.shape[0]

    @property
    def nbytes(self):
        return int(np.prod(self.shape)) * self.dtype.itemsize

    @property
    def size(self):
        return int(np.prod(self.shape))

    def __len__(self):
        return self.shape[0]

    def read_frames(self, start, stop):
        """Frames ``start:stop`` as a ``(stop - start, height, width)`` array."""
        start = max(0, int(start))
        stop = min(self.shape[0], int(stop))
        if stop <= start:
            return np.zeros((0,) + self.shape[1:], dtype=self.dtype)
        frames = self._read(start, stop)
        return np.asarray(frames, dtype=self.dtype).reshape((stop - start,) + self.shape[1:])

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:i] + (slice(None),) * (3 - len(key) + 1) + key[i + 1 :]
        frame_key, rest = key[0], key[1:]
        if isinstance(frame_key, (int, np.integer)):
            index = int(frame_key)
            if index < 0:
                index += self.shape[0]
            if not 0 <= index < self.shape[0]:
                raise IndexError(f"frame {frame_key} is outside a movie of {self.shape[0]} frames")
            return self.read_frames(index, index + 1)[0][rest]
        if isinstance(frame_key, slice):
            start, stop, step = frame_key.indices(self.shape[0])
            if step == 1:
                return self.read_frames(start, stop)[(slice(None),) + rest]
            indices = range(start, stop, step)
        else:
            indices = np.asarray(frame_key).ravel()
        frames = [self[int(i)] for i in indices]
        if not frames:
            empty = np.zeros((0,) + self.shape[1:], dtype=self.dtype)
            return empty[(slice(None),) + rest]
        return np.stack([f[rest] if rest else f for f in frames])

    def __array__(self, dtype=None, copy=None):
        # Explicit conversions (np.asarray(movie)) read the whole movie; the pipeline and
        # napari never do this, they index frames.
        frames = self.read_frames(0, self.shape[0])
        return frames if dtype is None else frames.astype(dtype)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<{type(self).__name__} {self.path.name} {self.shape} {self.dtype}>"


class ArrayMovie(Movie):
    """A movie held in memory (simulations, tests, napari layers)."""

    def __init__(self, frames, metadata=None, path="<memory>"):
        frames = np.asarray(frames)
        if frames.ndim == 2:
            frames = frames[np.newaxis]
        if frames.ndim != 3:
            raise ValueError(f"a movie is (frames, height, width); got shape {frames.shape}")
        super().__init__(path, frames.shape, frames.dtype, metadata)
        self._frames = frames

    def _read(self, start, stop):
        return self._frames[start:stop]


class LayerMovie(Movie):
    """Any (frames, height, width) array-like (e.g. a napari layer's data) as a Movie."""

    def __init__(self, data, metadata=None, path="<layer>"):
        shape = tuple(data.shape)
        if len(shape) == 2:
            shape = (1,) + shape
        if len(shape) != 3:
            raise ValueError(f"a movie is (frames, height, width); got shape {shape}")
        super().__init__(path, shape, np.dtype(data.dtype), metadata)
        self._data = data
        self._is_2d = len(data.shape) == 2

    def _read(self, start, stop):
        if self._is_2d:
            return np.asarray(self._data)[np.newaxis]
        return np.asarray(self._data[start:stop])


# -- .raw + .yaml ------------------------------------------------------------------
RAW_KEYS = ("Width", "Height", "Frames", "Data Type", "Byte Order")


def raw_info_path(path):
    """The ``.yaml`` that describes a ``.raw`` movie: same name, ``.yaml`` ending."""
    return Path(path).with_suffix(".yaml")


def read_raw_info(path):
    """The movie document of a ``.raw`` movie's ``.yaml``, checked for the needed keys."""
    path = Path(path)
    info_path = raw_info_path(path)
    if not info_path.exists():
        raise InputFileError(
            path,
            f"no {info_path.name} beside the movie, so its size and type are unknown.",
            fix=f"write {info_path.name} with the keys {', '.join(RAW_KEYS)} "
            "(e.g. 'Width: 128', 'Data Type: uint16', 'Byte Order: <').",
        )
    try:
        with open(info_path) as f:
            info = next(iter(yaml.safe_load_all(f)), None)
    except yaml.YAMLError as error:
        raise InputFileError(info_path, f"is not valid YAML ({error}).") from None
    except UnicodeDecodeError as error:
        raise InputFileError(info_path, f"is not a text file ({error}).") from None
    if not isinstance(info, dict):
        raise InputFileError(info_path, "does not hold a mapping of movie keys.")
    missing = [k for k in RAW_KEYS if k not in info]
    if missing:
        raise InputFileError(
            info_path, f"lacks {', '.join(missing)}.", fix=f"add {', '.join(missing)} to it."
        )
    return info


def write_raw_info(path, width, height, frames, data_type="uint16", byte_order="<", **extra):
    """Write the ``.yaml`` beside a ``.raw`` movie (written to a temporary name first)."""
    info = {
        "Width": int(width),
        "Height": int(height),
        "Frames": int(frames),
        "Data Type": str(np.dtype(data_type).name),
        "Byte Order": byte_order,
        **extra,
    }
    target = raw_info_path(path)
    tmp = target.with_name(target.name + ".part")
    with open(tmp, "w") as f:
        yaml.safe_dump(info, f, sort_keys=False)
    os.replace(tmp, target)
    return target


def check_raw_size(path, width, height, frames, file_dtype, described_by=None, fix=None):
    """Raise :class:`InputFileError` when ``path`` is smaller than the movie described.

    Used on opening (the ``.yaml`` describes it) and before a description is written (the
    napari dialog gives ``described_by`` and a ``fix``, in which ``{frames_held}`` stands
    for the whole frames the file holds), so a wrong description is refused instead of
    being saved beside the movie.
    """
    path = Path(path)
    file_dtype = np.dtype(file_dtype)
    frame_bytes = int(width) * int(height) * file_dtype.itemsize
    expected = frame_bytes * int(frames)
    size = path.stat().st_size
    if size < expected:
        wrong = "the description" if described_by else "the .yaml"
        raise InputFileError(
            path,
            f"holds {size} bytes but {described_by or raw_info_path(path).name} describes {frames} "
            f"frames of {width}x{height} {file_dtype.name} ({expected} bytes); the movie "
            f"is truncated or {wrong} is wrong.",
            fix=(fix or "correct Frames/Width/Height/Data Type in the .yaml, or wait until the "
                 "acquisition has finished writing.").format(frames_held=size // max(1, frame_bytes)),
        )


class RawMovie(Movie):
    """A flat binary movie described by a same-named ``.yaml``."""

    def __init__(self, path):
        path = Path(path)
        info = read_raw_info(path)
        try:
            width, height, n_frames = int(info["Width"]), int(info["Height"]), int(info["Frames"])
            file_dtype = np.dtype(str(info["Data Type"])).newbyteorder(str(info["Byte Order"]))
        except (TypeError, ValueError) as error:
            raise InputFileError(raw_info_path(path), f"has an unusable value: {error}.") from None
        check_raw_size(path, width, height, n_frames, file_dtype)
        super().__init__(path, (n_frames, height, width), file_dtype, info)
        self._file_dtype = file_dtype
        self._frame_items = width * height
        self._file = open(path, "rb")
        # napari's slicing and a localization worker may read from different threads
        self._lock = threading.Lock()

    def _read(self, start, stop):
        # pread-style reads keep memory flat (a memmap would leave every touched page
        # resident in this process).
        count = (stop - start) * self._frame_items
        with self._lock:
            self._file.seek(start * self._frame_items * self._file_dtype.itemsize)
            data = np.fromfile(self._file, dtype=self._file_dtype, count=count)
        return data.astype(self.dtype, copy=False)

    def close(self):
        self._file.close()


# -- registry ------------------------------------------------------------------------
_OPENERS = []


def register_opener(accepts, opener):
    """Register ``opener(path, **choices) -> Movie`` for paths where ``accepts(path)``."""
    _OPENERS.append((accepts, opener))


def _is_raw(path):
    return path.suffix.lower() == ".raw"


def _open_raw(path, **choices):
    from .axes import resolve_axes

    resolve_axes(path, {}, choices)  # a .raw movie has no axes to choose from
    return RawMovie(path)


register_opener(_is_raw, _open_raw)


def open_movie(path, **choices):
    """Open a movie lazily.

    Parameters
    ----------
    path : str or os.PathLike
        Movie file (``.raw`` with its ``.yaml``, ``.tif``/``.tiff``/``.ome.tif`` ...),
        or a dataset folder where the format has one.
    **choices
        Format-specific choices for files holding more than one movie (e.g.
        ``position=``, ``channel=``).

    Returns
    -------
    Movie

    Raises
    ------
    InputFileError
        The file is missing, of an unknown kind, or unreadable; the message names the file
        and what is wrong.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "no such file or folder.")
    for accepts, opener in reversed(_OPENERS):
        if accepts(path):
            return opener(path, **choices)
    raise InputFileError(
        path,
        "is not a movie format napari-picasso reads.",
        fix="use .raw (+ .yaml), .tif/.tiff/.ome.tif, NDTiff, .ims or .nd2.",
    )


# Format modules register their openers on import; later registrations are tried first
# (NDTiff stack files are TIFF files, so NDTiff comes after TIFF).
from . import tiff as _tiff  # noqa: E402,F401
from . import ndtiff as _ndtiff  # noqa: E402,F401
from . import ims as _ims  # noqa: E402,F401
from . import nd2 as _nd2  # noqa: E402,F401
