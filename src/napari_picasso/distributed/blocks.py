"""Blocks of frames and the task that localizes one block where the file is.

A distributed run cuts the frames to process into blocks. Each task receives the movie's
path, the reader choices, its block and the parameters (a few hundred bytes), opens the
movie itself, runs :func:`~napari_picasso.pipeline.localize_frames` and returns the
block's localizations. Pixels never travel between machines; only localizations do
(tens of bytes per molecule). Camera maps also travel as a path: each worker process
reads them once and keeps them for its next blocks.

Nothing here imports dask: the same task runs in a thread, a process pool or a Dask
worker.
"""

import collections
import dataclasses
import math
import os
import threading
from pathlib import Path

import numba
import numpy as np

from ..detection import load_maps, read_with_background
from ..io.camera_maps import load_camera_maps
from ..io.movies import open_movie
from ..parameters import check_background_frames, validate_parameters
from ..pipeline import chunk_frames_for, localize_frames

# Smallest default block: 64 frames of 128x128 take ~25 ms on one core, against ~1 ms of
# scheduler time per task (Dask's figure), so per-task overhead stays within a few %.
MIN_BLOCK_FRAMES = 64
# Blocks per worker thread: enough that a slow block or a lost worker does not leave
# the others idle at the end, few enough that per-task overhead stays below ~1 %.
BLOCKS_PER_THREAD = 4


@dataclasses.dataclass(frozen=True)
class Block:
    """Frames ``start:stop`` to localize, read as ``read_start:read_stop``.

    The read range is wider than the kept range by the block overlap (frames a temporal
    background estimate needs around the block); only localizations in ``start:stop``
    are kept, so neighbouring blocks never report the same frame twice.
    """

    index: int
    start: int
    stop: int
    read_start: int
    read_stop: int

    @property
    def n_frames(self):
        return self.stop - self.start


def block_overlap(parameters):
    """Frames a block localizes beyond its own on each side (and then drops).

    0: every frame's result depends only on that frame and, with
    ``parameters.background_frames``, on its background window, which
    :func:`~napari_picasso.detection.read_with_background` reads around any block exactly
    as around a serial chunk. A future per-frame step that needs its neighbours'
    *results* (not pixels) returns its reach here.
    """
    return 0


# One Dask scheduler handles about 1000 tasks/s (~1 ms each); blocks are made large
# enough that a cluster of n threads, each fitting ~FRAMES_PER_CORE_S frames/s (128x128,
# ~9 spots per frame, measured), asks for at most half of that.
SCHEDULER_TASKS_PER_S = 500
FRAMES_PER_CORE_S = 3200


def default_block_frames(shape, n_frames, n_threads):
    """Frames per block for ``n_frames`` frames of a movie of ``shape`` on ``n_threads``.

    At most one pipeline chunk (bounded bytes per task); at least
    :data:`MIN_BLOCK_FRAMES`, and enough frames that the scheduler is not the limit
    on a large cluster; otherwise about :data:`BLOCKS_PER_THREAD` blocks per worker
    thread.
    """
    n_threads = max(1, int(n_threads))
    largest = chunk_frames_for(shape)
    balanced = math.ceil(n_frames / (BLOCKS_PER_THREAD * n_threads))
    scheduler_floor = math.ceil(n_threads * FRAMES_PER_CORE_S / SCHEDULER_TASKS_PER_S)
    return int(max(1, min(largest, max(MIN_BLOCK_FRAMES, scheduler_floor, balanced))))


def plan_blocks(first, stop, block_frames, overlap=0):
    """Cut frames ``first:stop`` into blocks of ``block_frames`` (the last may be shorter).

    Parameters
    ----------
    first, stop : int
        The frames to localize (stop exclusive).
    block_frames : int
        Frames kept per block.
    overlap : int
        Extra frames read on each side, clipped to ``first:stop`` (the frames a serial
        run reads).

    Returns
    -------
    list of Block
        In frame order, covering ``first:stop`` exactly once.
    """
    if block_frames < 1:
        raise ValueError(f"block_frames must be at least 1; got {block_frames}")
    if overlap < 0:
        raise ValueError(f"block overlap must be 0 or more frames; got {overlap}")
    blocks = []
    for index, start in enumerate(range(int(first), int(stop), int(block_frames))):
        end = min(int(stop), start + int(block_frames))
        blocks.append(Block(index, start, end, max(int(first), start - overlap), min(int(stop), end + overlap)))
    return blocks


class _OpenMovies(threading.local):
    """The movies this worker thread opened last, kept open for its next blocks.

    Opening can cost more than reading a block (a TIFF of 20000 pages: ~0.1 s to index),
    and a worker usually gets many blocks of the same movie in a row. Entries are keyed
    by the file's identity (path, choices, size, modification time), so a file that
    changed is opened anew; each thread has its own handles, because readers seek on a
    shared file handle. At most :attr:`size` movies stay open per thread.
    """

    size = 2

    def __init__(self):
        self.movies = collections.OrderedDict()

    def get(self, path, choices):
        path = Path(path)
        stat = path.stat() if path.exists() else None
        key = (str(path), tuple(sorted(choices.items())), stat and stat.st_size, stat and stat.st_mtime_ns)
        movie = self.movies.pop(key, None)
        if movie is None:
            movie = open_movie(path, **choices)
        self.movies[key] = movie
        while len(self.movies) > self.size:
            _, oldest = self.movies.popitem(last=False)
            oldest.close()
        return movie

    def close(self):
        while self.movies:
            self.movies.popitem()[1].close()


_open_movies = _OpenMovies()


def close_open_movies():
    """Close the movies the calling thread keeps open for its next blocks."""
    _open_movies.close()


class _CameraMapsCache:
    """The camera-map files this worker process has read, kept for its next blocks.

    Every block's task gets the maps' path, not their arrays (a few bytes per task instead
    of 48 MB of full-sensor maps); reading and checking them again for every block would
    cost more than localizing a short block. Entries are keyed by the file's identity
    (path, size, modification time, inode: a calibration saved again, or renamed over the
    old file, is read anew). The threads of a worker share the entries: the maps are only
    read (each block cuts its own copy to the movie's ROI, or uses them as they are). At
    most :attr:`size` files are kept.
    """

    size = 2

    def __init__(self):
        self.lock = threading.Lock()
        self.maps = collections.OrderedDict()

    def get(self, path):
        path = Path(path)
        try:
            stat = path.stat()
        except OSError:
            return load_camera_maps(path)  # not cached: raises its message about the file
        key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        # One lock for the reading too: two threads starting blocks of one run read the file once.
        with self.lock:
            maps = self.maps.pop(key, None)
            if maps is None:
                maps = load_camera_maps(path)
            self.maps[key] = maps
            while len(self.maps) > self.size:
                self.maps.popitem(last=False)
        return maps

    def clear(self):
        with self.lock:
            self.maps.clear()


_camera_maps = _CameraMapsCache()


def limit_numba_threads():
    """Hold this thread's numba kernels to ``NUMBA_NUM_THREADS`` from the environment.

    A worker's environment says how many threads it may use (a local cluster sets it to
    cores // workers; on a cluster the admin sets it for ``dask worker``). numba reads
    the variable only when it is first imported, which may happen before the worker
    applies its environment (e.g. when the parent's main module is re-imported in a
    spawned worker), so the limit is applied again here, in the thread that runs the
    task (numba's thread count is per calling thread).

    Returns
    -------
    int
        The numba threads this thread's kernels now use.
    """
    wanted = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    if wanted.isdigit() and int(wanted) >= 1:
        numba.set_num_threads(min(int(wanted), numba.config.NUMBA_NUM_THREADS))
    return numba.get_num_threads()


def localize_block(movie_path, choices, block, parameters):
    """Open the movie, localize one block, return its localizations (sorted by frame).

    This is the distributed task: it runs on a worker and reads the frames from the
    file there.

    Parameters
    ----------
    movie_path : str
        Absolute path of the movie, as seen by the worker.
    choices : dict
        Reader choices for :func:`~napari_picasso.io.movies.open_movie`.
    block : Block
    parameters : LocalizeParameters

    Returns
    -------
    numpy.ndarray
        rows of the fit method's dtype with ``block.start <= frame < block.stop``.
    """
    limit_numba_threads()
    movie = _open_movies.get(movie_path, dict(choices or {}))
    name = movie.path.name
    roi, _ = validate_parameters(parameters, movie.shape, name)
    window = check_background_frames(parameters, movie.shape[0], name)
    camera_maps = load_maps(parameters, movie.shape, roi, name, movie.metadata, loader=_camera_maps.get)
    n_frames, height, width = movie.shape
    try:
        # The same read as a serial chunk: the frames, plus those the background windows
        # of these frames need around them.
        frames, background = read_with_background(
            movie, block.read_start, block.read_stop, parameters, window, n_frames
        )
    except BaseException:
        close_open_movies()  # a reader in an unknown state is not reused
        raise
    if len(frames) != block.read_stop - block.read_start:
        raise ValueError(
            f"{movie_path}: read {len(frames)} frames for {block.read_start}:{block.read_stop} "
            f"of a {n_frames}-frame movie; the file changed since the run started."
        )
    locs = localize_frames(
        frames,
        parameters,
        first_frame=block.read_start,
        roi=roi,
        width=width,
        height=height,
        background=background,
        camera_maps=camera_maps,
    )
    if block.read_start == block.start and block.read_stop == block.stop:
        return locs
    keep = slice(*np.searchsorted(locs["frame"], [block.start, block.stop]))
    return locs[keep]


def absolute_movie_path(movie):
    """The movie's absolute path: workers do not share the caller's working folder."""
    return os.path.abspath(os.fspath(movie))
