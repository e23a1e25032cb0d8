"""Spatial index of localizations by (frame, grid cell) for radius searches.

Localizations are sorted by the key ``frame * n_cells + cell``, with square cells of the
search radius; the neighbours of a point within the radius in frame ``g`` then lie in
three contiguous key ranges (the cell rows above, at and below it), each found by binary
search. This needs no per-frame dense grid, so memory does not grow with frames or field
size, and a query costs a few binary searches.
"""

import numba
import numpy as np

from . import _parallel  # noqa: F401


class FrameGrid:
    """Localizations sorted by ``(frame, cell)``.

    Attributes
    ----------
    order : numpy.ndarray of int64
        Row ``k`` of the sorted arrays is input row ``order[k]``.
    keys : numpy.ndarray of int64
        Sorted keys.
    frame, x, y : numpy.ndarray
        Sorted frame (int64) and positions (float64, px).
    cell_px, x0, y0 : float
        Cell side and origin.
    n_cells_x, n_cells : int
        Cells per row, cells per frame.
    frame_starts : numpy.ndarray of int64
        Sorted rows of frame ``f`` are ``frame_starts[f] : frame_starts[f + 1]`` (so a
        search only bisects one frame's rows, which stay in cache).
    """

    def __init__(self, frame, x, y, cell_px):
        frame = np.asarray(frame, dtype=np.int64)
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if cell_px <= 0:
            raise ValueError(f"cell size must be positive, got {cell_px}")
        self.cell_px = float(cell_px)
        if len(x):
            self.x0 = float(x.min()) - self.cell_px
            self.y0 = float(y.min()) - self.cell_px
            n_x = int((x.max() - self.x0) / self.cell_px) + 2
            n_y = int((y.max() - self.y0) / self.cell_px) + 2
        else:
            self.x0 = self.y0 = 0.0
            n_x = n_y = 1
        self.n_cells_x = n_x
        self.n_cells = n_x * n_y
        if (int(frame.max()) + 1 if len(frame) else 1) * self.n_cells >= 2**62:
            raise ValueError("too many frames x grid cells for the search index; use a larger radius")
        keys = _keys(frame, x, y, self.x0, self.y0, self.cell_px, n_x, self.n_cells)
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]
        self.frame = frame[self.order]
        self.x = x[self.order]
        self.y = y[self.order]
        n_frame_slots = (int(frame.max()) + 2) if len(frame) else 1
        self.frame_starts = np.searchsorted(self.frame, np.arange(n_frame_slots + 1)).astype(np.int64)


@numba.njit(parallel=True, cache=True, nogil=True)
def _keys(frame, x, y, x0, y0, cell, n_x, n_cells):
    keys = np.empty(len(x), dtype=np.int64)
    for i in numba.prange(len(x)):
        cx = int((x[i] - x0) / cell)
        cy = int((y[i] - y0) / cell)
        keys[i] = frame[i] * n_cells + cy * n_x + cx
    return keys


@numba.njit(cache=True, nogil=True, inline="always")
def cell_of(x, y, x0, y0, cell, n_x):
    """Cell column and row of a position."""
    return int((x - x0) / cell), int((y - y0) / cell)


@numba.njit(cache=True, nogil=True)
def row_range(keys, frame_starts, frame, cx, cy, n_x, n_cells):
    """Sorted-index range of cells ``(cx-1 .. cx+1, cy)`` in ``frame`` (empty when the
    frame is outside the index)."""
    if frame < 0 or frame + 1 >= len(frame_starts):
        return 0, 0
    start = frame_starts[frame]
    stop = frame_starts[frame + 1]
    if start == stop:
        return start, start
    base = frame * n_cells + cy * n_x
    part = keys[start:stop]
    lo = start + np.searchsorted(part, base + cx - 1)
    hi = start + np.searchsorted(part, base + cx + 2)
    return lo, hi
