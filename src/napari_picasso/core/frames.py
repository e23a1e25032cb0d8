"""Frames as float32, converted in parallel into a buffer that is used again."""

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401


@numba.njit(parallel=True, cache=True, nogil=True)
def _convert(frames, out):
    n_frames, height, width = frames.shape
    for f in prange(n_frames):
        for y in range(height):
            for x in range(width):
                out[f, y, x] = frames[f, y, x]


def frames_as_float32(frames, buffer=None):
    """``frames`` as a C-contiguous float32 array, written into ``buffer`` when it fits.

    The values are those of ``numpy.asarray(frames, dtype=numpy.float32)``; the
    conversion runs on all cores, and a ``buffer`` (float32, at least as many frames of
    the same shape) that is reused from chunk to chunk saves the allocation and page
    faults of a new array each time. The result is a view of the buffer's first frames.

    Examples
    --------
    >>> import numpy as np
    >>> buffer = np.empty((4, 2, 3), np.float32)
    >>> frames_as_float32(np.ones((2, 2, 3), np.uint16), buffer).shape
    (2, 2, 3)
    """
    frames = np.asarray(frames)
    fits = (
        buffer is not None
        and frames.ndim == 3
        and buffer.dtype == np.float32
        and buffer.flags.c_contiguous
        and buffer.shape[1:] == frames.shape[1:]
        and len(buffer) >= len(frames)
    )
    if not fits:
        return np.ascontiguousarray(frames, dtype=np.float32)
    out = buffer[: len(frames)]
    if frames.dtype.kind in "uif" and frames.dtype.itemsize <= 8:
        _convert(frames, out)
    else:
        np.copyto(out, frames, casting="unsafe")
    return out
