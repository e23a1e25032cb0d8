"""The movie interface every reader returns.

A :class:`Movie` is a lazy ``(frames, height, width)`` array-like of camera counts (frames
are read from the file on demand, never the whole movie at once) plus a ``metadata``
dictionary holding what the file says about the acquisition and the camera. napari, the
pipeline, the watcher and the distributed runner all read movies through it;
:func:`napari_picasso.io.movies.open_movie` picks the reader of a path.
"""

from pathlib import Path

import numpy as np

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
            raise InputFileError(
                self.path,
                f"describes frames of {width}x{height} pixels (x {n_frames}); the file is damaged or not a movie.",
            )
        if self.dtype.kind not in "uif":
            raise InputFileError(
                self.path,
                f"stores pixels as {self.dtype} values, not camera counts; the file is damaged or not a movie.",
            )
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
