"""Spot identification by net gradient, on the scale Picasso uses.

Works on raw camera counts so that a lab's ``min_net_gradient`` carries over from
Picasso. A pixel is a candidate when it is the maximum of the ``box x box``
neighbourhood centred on it (ties: the first maximum in row-major order wins) and the
box lies inside the region of interest. A fit method that models several emitters per box
asks for a smaller neighbourhood (``maximum_radius_px``): a spot half a box from a
brighter one then gets a box of its own. Its score is the net gradient: over every box
pixel but the centre, the component of the intensity gradient (central differences, not
halved) along the unit vector pointing from that pixel to the centre, summed.
"""

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401


def check_box(box):
    """Raise ``ValueError`` unless ``box`` is an odd integer >= 3."""
    if int(box) != box or box < 3 or box % 2 == 0:
        raise ValueError(
            f"box must be odd and >= 3, e.g. 7 (got {box}); rule of thumb: round(6 * sigma_px + 1) "
            "rounded up to the next odd number (7 for sigma = 1 px)."
        )


def unit_vectors_to_centre(box):
    """(uy, ux): per box pixel, the unit vector pointing to the centre (0 at the centre)."""
    r = box // 2
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
    norm = np.hypot(dy, dx)
    norm[r, r] = 1.0
    return (-dy / norm).astype(np.float32), (-dx / norm).astype(np.float32)


@numba.njit(cache=True, nogil=True)
def _is_box_maximum(frame, y, x, r):
    v = frame[y, x]
    # Most pixels fail against a direct neighbour: test those first.
    if frame[y - 1, x] >= v or frame[y, x - 1] >= v or frame[y + 1, x] > v or frame[y, x + 1] > v:
        return False
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            w = frame[y + dy, x + dx]
            before = dy < 0 or (dy == 0 and dx < 0)
            if before:
                if w >= v:
                    return False
            elif w > v:
                return False
    return True


@numba.njit(cache=True, nogil=True)
def _net_gradient(frame, y, x, r, uy, ux):
    height, width = frame.shape
    total = 0.0
    for dy in range(-r, r + 1):
        yy = y + dy
        y_up = yy - 1 if yy > 0 else 0
        y_down = yy + 1 if yy < height - 1 else height - 1
        for dx in range(-r, r + 1):
            if dy == 0 and dx == 0:
                continue
            xx = x + dx
            x_left = xx - 1 if xx > 0 else 0
            x_right = xx + 1 if xx < width - 1 else width - 1
            gy = frame[y_down, xx] - frame[y_up, xx]
            gx = frame[yy, x_right] - frame[yy, x_left]
            total += gy * uy[dy + r, dx + r] + gx * ux[dy + r, dx + r]
    return total


@numba.njit(cache=True, nogil=True)
def _net_gradient_inside(frame, y, x, r, uy, ux):
    """:func:`_net_gradient` of a box whose neighbours all lie in the frame (no clamping)."""
    total = 0.0
    for dy in range(-r, r + 1):
        yy = y + dy
        above = frame[yy - 1]
        here = frame[yy]
        below = frame[yy + 1]
        for dx in range(-r, r + 1):
            if dy == 0 and dx == 0:
                continue
            xx = x + dx
            gy = below[xx] - above[xx]
            gx = here[xx + 1] - here[xx - 1]
            total += gy * uy[dy + r, dx + r] + gx * ux[dy + r, dx + r]
    return total


@numba.njit(cache=True, nogil=True)
def _capacity_per_frame(height, width, r):
    # Two maxima are more than r apart (Chebyshev), which bounds their number.
    return ((height // (r + 1)) + 1) * ((width // (r + 1)) + 1)


@numba.njit(cache=True, nogil=True)
def _first_of_box_maximum(frame, y, x, r, v):
    """Whether ``v = frame[y, x]``, the maximum of its box, is its first maximum.

    Row-major ties: an earlier pixel of the box equal to ``v`` wins (the rule of
    :func:`_is_box_maximum`, given that no pixel of the box exceeds ``v``).
    """
    for dy in range(-r, 0):
        for dx in range(-r, r + 1):
            if frame[y + dy, x + dx] >= v:
                return False
    for dx in range(-r, 0):
        if frame[y, x + dx] >= v:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _box_rows_maximum(frame, r, y0, x0, y1, n_columns, out):
    """``out[y - y0, c]``: maximum of ``frame[y, x0 + c : x0 + c + 2r + 1]`` (NaN ignored)."""
    for y in range(y0, y1):
        row = frame[y]
        line = out[y - y0]
        for c in range(n_columns):
            line[c] = -np.inf
        for dx in range(2 * r + 1):
            for c in range(n_columns):
                w = row[x0 + c + dx]
                if w > line[c]:
                    line[c] = w


@numba.njit(cache=True, nogil=True)
def _frame_candidates(frame, r, rm, min_net_gradient, y0, x0, y1, x1, uy, ux, ys, xs, ngs):
    """Candidates of one frame into ``ys, xs, ngs``; their number.

    ``r``: half the box side; ``rm`` (<= r): half the side of the neighbourhood whose
    maximum a candidate is. One pass: the neighbourhood maximum of every pixel, separably
    (rows, then columns of row maxima, kept in cache), then the first-maximum check and
    the net gradient only at the pixels equal to their neighbourhood maximum.
    """
    n_columns = x1 - x0 - 2 * r
    if n_columns <= 0 or y1 - y0 - 2 * r <= 0:
        return 0
    capacity = len(ys)
    height, width = frame.shape
    rows_max = np.empty((y1 - y0, n_columns), dtype=frame.dtype)
    _box_rows_maximum(frame, rm, y0, x0 + r - rm, y1, n_columns, rows_max)
    box_max = np.empty(n_columns, dtype=frame.dtype)
    n = 0
    for y in range(y0 + r, y1 - r):
        for c in range(n_columns):
            box_max[c] = -np.inf
        for dy in range(2 * rm + 1):
            line = rows_max[y - rm - y0 + dy]
            for c in range(n_columns):
                if line[c] > box_max[c]:
                    box_max[c] = line[c]
        row = frame[y]
        for c in range(n_columns):
            x = x0 + r + c
            v = row[x]
            if v == box_max[c] and _first_of_box_maximum(frame, y, x, rm, v):
                if r < y < height - 1 - r and r < x < width - 1 - r:
                    ng = _net_gradient_inside(frame, y, x, r, uy, ux)
                else:
                    ng = _net_gradient(frame, y, x, r, uy, ux)
                if ng > min_net_gradient and n < capacity:
                    ys[n] = y
                    xs[n] = x
                    ngs[n] = ng
                    n += 1
    return n


@numba.njit(parallel=True, cache=True, nogil=True)
def _identify_frames(frames, box, rm, min_net_gradient, y0, x0, y1, x1, uy, ux):
    n_frames, height, width = frames.shape
    r = box // 2
    capacity = _capacity_per_frame(y1 - y0, x1 - x0, rm)
    ys = np.empty((n_frames, capacity), dtype=np.int32)
    xs = np.empty((n_frames, capacity), dtype=np.int32)
    ngs = np.empty((n_frames, capacity), dtype=np.float32)
    counts = np.zeros(n_frames, dtype=np.int64)
    for f in prange(n_frames):
        counts[f] = _frame_candidates(frames[f], r, rm, min_net_gradient, y0, x0, y1, x1, uy, ux, ys[f], xs[f], ngs[f])
    return compact_candidates(counts, ys, xs, ngs)


@numba.njit(cache=True, nogil=True)
def compact_candidates(counts, ys, xs, scores):
    """Flatten per-frame candidate buffers (``counts[f]`` valid entries in row ``f``).

    Returns frame index (int64), y, x (int32) and score (float32), in frame order.
    """
    total = 0
    for f in range(len(counts)):
        total += counts[f]
    out_frame = np.empty(total, dtype=np.int64)
    out_y = np.empty(total, dtype=np.int32)
    out_x = np.empty(total, dtype=np.int32)
    out_score = np.empty(total, dtype=np.float32)
    i = 0
    for f in range(len(counts)):
        for k in range(counts[f]):
            out_frame[i] = f
            out_y[i] = ys[f, k]
            out_x[i] = xs[f, k]
            out_score[i] = scores[f, k]
            i += 1
    return out_frame, out_y, out_x, out_score


def identify(frames, min_net_gradient, box=7, roi=None, *, maximum_radius_px=None):
    """Identify spots in a stack of frames.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n_frames, height, width)`` or ``(height, width)`` camera counts.
    min_net_gradient : float
        Keep candidates whose net gradient exceeds this (Picasso's scale).
    box : int
        Odd box side in pixels.
    roi : tuple of int, optional
        ``(y0, x0, y1, x1)`` in camera pixels (end exclusive); the whole box of a spot
        lies inside it.
    maximum_radius_px : int, optional
        A candidate is the maximum of the ``(2 r + 1)^2`` neighbourhood centred on it;
        default ``box // 2`` (the box itself, Picasso's rule). Smaller values (1 or more)
        give spots close to a brighter one a box of their own (multi-emitter fits).

    Returns
    -------
    frame_index, y_px, x_px : numpy.ndarray
        Frame index within ``frames`` (int64) and box centre (int32) of each spot, sorted
        by frame, then row, then column.
    net_gradient : numpy.ndarray of float32
    """
    check_box(box)
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    frames = np.ascontiguousarray(frames, dtype=np.float32)
    _, height, width = frames.shape
    y0, x0, y1, x1 = roi if roi is not None else (0, 0, height, width)
    uy, ux = unit_vectors_to_centre(box)
    rm = maximum_radius(box, maximum_radius_px)
    return _identify_frames(
        frames, int(box), rm, np.float32(min_net_gradient), int(y0), int(x0), int(y1), int(x1), uy, ux
    )


def maximum_radius(box, maximum_radius_px=None):
    """The radius of the neighbourhood a candidate is the maximum of: ``box // 2`` by
    default, else ``maximum_radius_px`` (1 to ``box // 2``; ``ValueError`` otherwise)."""
    if maximum_radius_px is None:
        return int(box) // 2
    if int(maximum_radius_px) != maximum_radius_px or not 1 <= maximum_radius_px <= int(box) // 2:
        raise ValueError(f"maximum_radius_px must be a whole number from 1 to {int(box) // 2}; got {maximum_radius_px}")
    return int(maximum_radius_px)


def gaussian_smooth(frames, sigma_px):
    """Frames ``(n, h, w)`` smoothed by a normalised Gaussian (separable, edges repeated).

    Examples
    --------
    >>> out = gaussian_smooth(np.ones((1, 5, 5), np.float32), 1.0)
    >>> bool(np.allclose(out, 1.0))
    True
    """
    frames = np.asarray(frames, dtype=np.float32)
    radius = max(1, int(np.ceil(3 * sigma_px)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_px) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    out = frames
    for axis in (-2, -1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="edge")
        n = out.shape[axis]
        acc = np.zeros_like(out)
        for k, w in enumerate(taps):
            acc += w * np.take(padded, np.arange(k, k + n), axis=axis)
        out = acc
    return np.ascontiguousarray(out)
