"""Spot identification by net gradient, on the scale Picasso uses.

Works on raw camera counts so that a lab's ``min_net_gradient`` carries over from
Picasso. A pixel is a candidate when it is the maximum of the ``box x box``
neighbourhood centred on it (ties: the first maximum in row-major order wins) and the
box lies inside the region of interest. Its score is the net gradient: over every box
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
def _capacity_per_frame(height, width, r):
    # Two maxima are more than r apart (Chebyshev), which bounds their number.
    return ((height // (r + 1)) + 1) * ((width // (r + 1)) + 1)


@numba.njit(parallel=True, cache=True, nogil=True)
def _identify_frames(frames, box, min_net_gradient, y0, x0, y1, x1, uy, ux):
    n_frames, height, width = frames.shape
    r = box // 2
    capacity = _capacity_per_frame(y1 - y0, x1 - x0, r)
    ys = np.empty((n_frames, capacity), dtype=np.int32)
    xs = np.empty((n_frames, capacity), dtype=np.int32)
    ngs = np.empty((n_frames, capacity), dtype=np.float32)
    counts = np.zeros(n_frames, dtype=np.int64)
    for f in prange(n_frames):
        frame = frames[f]
        n = 0
        for y in range(y0 + r, y1 - r):
            for x in range(x0 + r, x1 - r):
                if _is_box_maximum(frame, y, x, r):
                    ng = _net_gradient(frame, y, x, r, uy, ux)
                    if ng > min_net_gradient and n < capacity:
                        ys[f, n] = y
                        xs[f, n] = x
                        ngs[f, n] = ng
                        n += 1
        counts[f] = n
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


def identify(frames, min_net_gradient, box=7, roi=None):
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
    return _identify_frames(frames, int(box), np.float32(min_net_gradient), int(y0), int(x0), int(y1), int(x1), uy, ux)


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
