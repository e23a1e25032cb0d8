"""Movies still being written: follow a growing file frame by frame.

:func:`follow_movie` opens a movie that an acquisition is still writing. The returned
:class:`GrowingMovie` is a :class:`~napari_picasso.io.movie.Movie` whose ``shape[0]`` is
the number of frames *complete so far*; :meth:`GrowingMovie.refresh` looks at the file
again and :meth:`GrowingMovie.wait_for` waits for more frames. A frame counts only once
all its bytes are in the file, so a half-written page or frame is never read.

The movie *ends* when the format's own end marker says so (a ``.raw`` whose ``.yaml``
gives ``Frames`` and that holds them all) or when the files have not grown for
``idle_seconds``. A writer that stopped inside a frame (a crash) leaves
``incomplete_tail`` set: the movie ends with the complete frames before it.

Formats (each reuses its ordinary reader for the pixels):

- TIFF, OME-TIFF and Micro-Manager MMStack files whose pages are written one after the
  other, each with its image directory (what Micro-Manager and camera software do, and
  tifffile with ``contiguous=False``), including the rollover files ``name_1.ome.tif``
  ... that appear when a file is full. One page is one frame.
- NDTiff datasets (``NDTiff.index`` grows by one entry per image, written after it).
- ``.raw`` movies growing in whole frames, described by their ``.yaml`` (its ``Frames``,
  when not 0, is the end marker).
"""

import os
import struct
import time
from pathlib import Path

import numpy as np

from . import ndtiff, raw, tiff
from ._tiff_pages import walk_pages
from .axes import resolve_axes
from .errors import InputFileError
from .movie import Movie

POLL_SECONDS = 0.02


class _Scan:
    """What a look at the files found: complete frames, a growth signature, end, tail."""

    __slots__ = ("frames", "signature", "finished", "partial")

    def __init__(self, frames, signature, finished=False, partial=False):
        self.frames, self.signature, self.finished, self.partial = int(frames), signature, finished, partial


# -- .raw ------------------------------------------------------------------------------
class _RawFollower:
    """A ``.raw`` growing in whole frames; its ``.yaml`` must be there (size and type)."""

    def __init__(self, path, choices):
        resolve_axes(path, {}, choices)
        self.path = Path(path)
        self._movie = None
        self._info_key = None
        self._info = None

    def _described(self):
        info_path = raw.raw_info_path(self.path)
        try:
            stat = info_path.stat()
        except OSError:
            return None
        key = (stat.st_size, stat.st_mtime_ns)
        if key != self._info_key:
            try:
                info = raw.read_raw_info(self.path)
                width, height = int(info["Width"]), int(info["Height"])
                dtype = np.dtype(str(info["Data Type"]))
                claimed = int(info["Frames"])
            except (InputFileError, TypeError, ValueError):
                return None  # the .yaml is being written: look again later
            self._info_key, self._info = key, (width * height * dtype.itemsize, claimed)
        return self._info

    def scan(self, final=False):
        described = self._described()
        try:
            size = self.path.stat().st_size
        except OSError:
            return _Scan(0, None)
        if described is None:
            return _Scan(0, (size, None))
        frame_bytes, claimed = described
        frames = size // max(1, frame_bytes)
        finished = claimed > 0 and frames >= claimed
        if finished:
            frames = claimed
        return _Scan(frames, (size, self._info_key), finished, size > frames * frame_bytes and not finished)

    def movie(self, frames):
        if self._movie is None or self._movie.shape[0] != frames:
            if self._movie is not None:
                self._movie.close()
            self._movie = raw.RawMovie(self.path, frames=frames)
        return self._movie

    def close(self):
        if self._movie is not None:
            self._movie.close()


# -- TIFF, OME-TIFF, MMStack --------------------------------------------------------------
def _tiff_header(path):
    """``(byteorder, bigtiff, first_ifd)`` once the header is written, else None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if len(head) < 8 or head[:2] not in (b"II", b"MM"):
        return None
    bo = "<" if head[:2] == b"II" else ">"
    magic = struct.unpack(bo + "H", head[2:4])[0]
    if magic == 42:
        first = struct.unpack(bo + "I", head[4:8])[0]
        return (bo, False, first) if first else None
    if magic == 43 and len(head) == 16:
        first = struct.unpack(bo + "Q", head[8:16])[0]
        return (bo, True, first) if first else None
    return None


class _TiffFile:
    """The complete pages of one TIFF file being written, read through ``_OffsetPart``."""

    def __init__(self, path):
        self.path = Path(path)
        self.offsets = np.zeros(0, dtype=np.int64)
        self.last_ifd = None  # directory of the last complete page (its link is re-read)
        self.part = None
        self.partial = False

    def scan(self, final=False):
        """Pages complete now (one frame each).

        The last directory of the chain counts only when ``final``: the writer may still be
        writing it; a page whose successor is linked was finished before it.
        """
        header = _tiff_header(self.path)
        if header is None:
            return len(self.offsets)
        bo, bigtiff, first_ifd = header
        start = first_ifd if self.last_ifd is None else self.last_ifd
        try:
            table = walk_pages(self.path, bo, bigtiff, start, growing=True)
        except InputFileError:
            return len(self.offsets)  # a directory caught while being rewritten: look again
        if table is None:
            raise InputFileError(self.path, "has tiled or unusual pages, which --follow cannot read as they come.")
        skip = 0 if self.last_ifd is None else 1
        if self.part is None and len(table["offset"]) > 0:
            self._open_first(table)
        if self.part is None:
            return 0
        size = self.path.stat().st_size
        plane_bytes = self.part.plane_items * self.part.file_dtype.itemsize
        new = slice(skip, None)
        ok = (
            (table["offset"][new] >= 0)
            & (table["width"][new] == self.part.width)
            & (table["height"][new] == self.part.height)
            & (table["nbytes"][new] >= plane_bytes)
            & (table["offset"][new] + plane_bytes <= size)
        )
        n_ok = len(ok) if ok.all() else int(np.argmin(ok))
        self.partial = n_ok < len(ok)
        if not final and n_ok == len(ok) and n_ok > 0:
            n_ok -= 1  # the chain's last page: confirmed once the next one is linked (or at the end)
        if n_ok:
            self.offsets = np.concatenate([self.offsets, table["offset"][new][:n_ok]])
            self.last_ifd = int(table["ifd"][new][n_ok - 1])
            self.part.offsets = self.offsets
            self.part.sizes = {"sequence": len(self.offsets)}
        return len(self.offsets)

    def _open_first(self, table):
        offset, nbytes = int(table["offset"][0]), int(table["nbytes"][0])
        if offset < 0 or offset + nbytes > self.path.stat().st_size:
            return  # the first image is not complete yet
        tif = tiff._open_tiff(self.path)
        first = tif.pages.first
        if len(first.shape) != 2 or first.samplesperpixel != 1 or first.dtype is None or not first.is_final:
            tif.close()
            raise InputFileError(
                self.path,
                f"stores pages of shape {first.shape} (compressed or colour); --follow reads "
                "uncompressed single-channel pages.",
            )
        height, width = first.shape
        self.part = tiff._OffsetPart(tif, self.path, {"sequence": 0}, self.offsets, height, width, first.dtype)
        self.metadata = tiff._movie_metadata(tif)

    def close(self):
        if self.part is not None:
            self.part.close()
            self.part.tif.close()


class _TiffFollower:
    """A TIFF (or a Micro-Manager set with rollover files) whose pages are being written."""

    def __init__(self, path, choices):
        if choices:
            raise InputFileError(
                path,
                f"--follow reads TIFF movies of one image per page; the choices {choices} need the finished file.",
                fix="localize it without --follow once it is written.",
            )
        self.path = Path(path)
        self.files = [_TiffFile(path)]
        self._movie = None

    def _next_name(self):
        stem, ending = tiff._split_ending(self.path.name)
        return self.path.parent / f"{stem}_{len(self.files)}{ending}"

    def scan(self, final=False):
        while True:
            current = self.files[-1]
            following = self._next_name()
            # Micro-Manager's rollover files (the ordinary reader joins them by name too)
            # (the writer has moved on: this file is complete)
            rolled = "_MMStack" in self.path.name and following.is_file()
            current.scan(final=final or rolled)
            if not rolled or current.part is None:
                break
            self.files.append(_TiffFile(following))
        frames = sum(len(f.offsets) for f in self.files)
        signature = tuple(_size(f.path) for f in self.files)
        return _Scan(frames, signature, partial=self.files[-1].partial)

    def movie(self, frames):
        parts = [f for f in self.files if f.part is not None and len(f.offsets)]
        if self._movie is None or self._movie.shape[0] != frames:
            first = parts[0].part
            self._movie = _PartsMovie(self.path, parts, (frames, first.height, first.width), first.file_dtype)
            self._movie.metadata.update(parts[0].metadata)
        return self._movie

    def close(self):
        for f in self.files:
            f.close()


class _PartsMovie(tiff.TiffMovie):
    """The complete pages of the followed files as a TiffMovie (its frame reads)."""

    def __init__(self, path, files, shape, dtype):
        self._parts = [[f.part, np.arange(len(f.offsets))] for f in files]
        Movie.__init__(self, path, shape, dtype)

    def close(self):
        self._parts = []  # the followed files own their parts


def _size(path):
    try:
        return path.stat().st_size
    except OSError:
        return None


# -- NDTiff ---------------------------------------------------------------------------------
class _NDTiffFollower:
    """An NDTiff dataset whose index grows (one entry per image, after its pixels)."""

    def __init__(self, path, choices):
        self.path = Path(path)
        self.choices = choices
        self._movie = None
        self._signature = None
        self._partial = False

    def _index(self):
        folder = ndtiff.dataset_folder(self.path)
        if folder is None:
            return None
        for where in (folder, folder / ndtiff.FULL_RESOLUTION):
            if (where / ndtiff.INDEX_NAME).is_file():
                return where / ndtiff.INDEX_NAME
        return None

    def scan(self, final=False):
        index = self._index()
        signature = _size(index) if index is not None else None
        if signature != self._signature and signature:
            try:
                opened = ndtiff.NDTiffMovie(self.path, **self.choices)
            except InputFileError:
                self._partial = True  # an index entry being written: look again later
            else:
                if self._movie is not None:
                    self._movie.close()
                self._movie, self._partial = opened, False
                self._signature = signature
        frames = 0 if self._movie is None else self._movie.shape[0]
        return _Scan(frames, signature, partial=self._partial)

    def movie(self, frames):
        return self._movie

    def close(self):
        if self._movie is not None:
            self._movie.close()


def _follower(path, choices):
    if path.is_dir() or ndtiff.dataset_folder(path) is not None:
        return _NDTiffFollower(path, choices)
    if path.suffix.lower() in tiff.TIFF_SUFFIXES:
        return _TiffFollower(path, choices)
    if raw.is_raw(path):
        return _RawFollower(path, choices)
    raise InputFileError(
        path,
        "is not a movie format --follow reads as it is written.",
        fix="follow a .tif/.ome.tif (pages written one by one), an NDTiff dataset or a .raw; "
        "localize other formats once they are written.",
    )


# -- the growing movie --------------------------------------------------------------------
class GrowingMovie(Movie):
    """A movie still being written: ``shape[0]`` is the frames complete so far.

    Use :func:`follow_movie` to open one. Attributes beyond :class:`Movie`'s:

    Attributes
    ----------
    idle_seconds : float
        The movie ends when its files have not grown for this long.
    ended : bool
        The end marker was seen, or the files stopped growing for ``idle_seconds``.
    incomplete_tail : bool
        At the end, bytes of a frame that was never completed follow the last frame.
    last_growth : float
        ``time.monotonic()`` of the last growth seen.
    """

    def __init__(self, path, follower, first, *, idle_seconds, poll_seconds, choices):
        self._follower = follower
        self.idle_seconds = float(idle_seconds)
        self.poll_seconds = float(poll_seconds)
        self.choices = dict(choices)
        self.finished = first.finished
        self.incomplete_tail = False
        self.last_growth = time.monotonic()
        self._signature = first.signature
        inner = follower.movie(first.frames)
        super().__init__(path, (first.frames,) + inner.shape[1:], inner.dtype, inner.metadata)

    @property
    def ended(self):
        if self.finished:
            return True
        if time.monotonic() - self.last_growth < self.idle_seconds:
            return False
        # idle: a last look that also counts what a writer may have been finishing
        self.refresh(final=True)
        self.finished = time.monotonic() - self.last_growth >= self.idle_seconds
        return self.finished

    def refresh(self, final=False):
        """Look at the files again; returns the frames complete now.

        ``final`` also counts the last page of a TIFF chain (see :class:`_TiffFile`).
        """
        if self.finished:
            return self.shape[0]
        scan = self._follower.scan(final=final)
        if scan.signature != self._signature:
            self._signature = scan.signature
            self.last_growth = time.monotonic()
        self.finished = scan.finished
        self.incomplete_tail = scan.partial
        frames = max(self.shape[0], scan.frames)
        self.shape = (frames,) + self.shape[1:]
        self.metadata["Frames"] = frames
        return frames

    def wait_for(self, n_frames, cancel=None):
        """Wait until ``n_frames`` are complete or the movie ends; the frames complete then.

        ``cancel()`` returning True stops the wait early.
        """
        while self.refresh() < n_frames and not self.ended:
            if cancel is not None and cancel():
                break
            time.sleep(self.poll_seconds)
        return self.shape[0]

    def _read(self, start, stop):
        return self._follower.movie(self.shape[0]).read_frames(start, stop)

    def finished_movie(self):
        """The finished file opened by its ordinary reader, when it agrees (else None).

        Its metadata is what a run on the finished file records; a file that still ends
        inside a frame, or that reads differently (more channels ...), gives None.
        """
        from .movies import open_movie

        try:
            opened = open_movie(self.path, **self.choices)
        except InputFileError:
            return None
        if opened.shape != self.shape or opened.dtype != self.dtype:
            opened.close()
            return None
        return opened

    def close(self):
        self._follower.close()


def follow_movie(path, *, idle_seconds=10.0, poll_seconds=POLL_SECONDS, **choices):
    """Open a movie that is still being written, waiting for its first complete frame.

    Parameters
    ----------
    path : path-like
        A ``.tif``/``.ome.tif`` (the first file of a rollover set), an NDTiff dataset
        folder or a ``.raw`` (with its ``.yaml``). It may not exist yet.
    idle_seconds : float
        Give up (and, later, end the movie) when the files have not grown for this long.
    poll_seconds : float
        Pause between looks at the files.
    **choices
        Reader choices (NDTiff: ``channel=`` ...).

    Returns
    -------
    GrowingMovie

    Raises
    ------
    InputFileError
        No complete frame appeared within ``idle_seconds``, or the format cannot be
        followed.

    Examples
    --------
    >>> movie = follow_movie("run_MMStack_Pos0.ome.tif", idle_seconds=10)  # doctest: +SKIP
    >>> while not movie.ended:  # doctest: +SKIP
    ...     n = movie.wait_for(movie.shape[0] + 1)
    """
    path = Path(path)
    waited_since = time.monotonic()
    follower = None
    last_signature = None
    while True:
        if follower is None and (path.exists() or os.path.exists(raw.raw_info_path(path))):
            follower = _follower(path, dict(choices))
        if follower is not None:
            scan = follower.scan()
            if scan.frames > 0:
                return GrowingMovie(
                    path, follower, scan, idle_seconds=idle_seconds, poll_seconds=poll_seconds, choices=choices
                )
            if scan.signature != last_signature:
                last_signature, waited_since = scan.signature, time.monotonic()
        if time.monotonic() - waited_since >= idle_seconds:
            if follower is not None:
                scan = follower.scan(final=True)  # a writer paused after its first page
                if scan.frames > 0:
                    return GrowingMovie(
                        path, follower, scan, idle_seconds=idle_seconds, poll_seconds=poll_seconds, choices=choices
                    )
                follower.close()
            what = "no complete frame" if path.exists() else "the movie did not appear"
            raise InputFileError(
                path,
                f"{what} within {idle_seconds:g} s of following it.",
                fix="check the path and that the acquisition is running, or raise --idle-seconds.",
            )
        time.sleep(poll_seconds)
