"""Background of each frame estimated from a range of frames around it.

The range is given relative to the current frame, as the offsets of a Python slice:
``start, stop, step`` (``start < stop``, ``step >= 1``). For frame ``i`` the background
is the per-pixel mean or median of frames ``i + start, i + start + step, ... < i + stop``;
``(-30, 0, 1)`` means the 30 frames before the current one, ``(-15, 16, 1)`` the 31
frames centred on it. Near the movie's ends a window that would reach outside the movie
is shifted, keeping its length, until it lies inside (so the first frames of ``-30:0``
use frames 0..29). Parsing the user's text (``"-30:0"``) happens outside ``core``.

Blinking emitters are on in few frames of the window, so the median (default) follows
the background and ignores them; the mean is faster and smoother but biased by them.
"""

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401

STATISTICS = ("median", "mean")


def window_length(start, stop, step=1):
    """Number of frames in the window ``start:stop:step``."""
    return len(range(int(start), int(stop), int(step)))


def check_window(start, stop, step, n_frames):
    """Raise ``ValueError`` unless the window is non-empty and fits in ``n_frames`` frames."""
    if step < 1:
        raise ValueError(f"the background range's step must be >= 1 (got {step}).")
    k = window_length(start, stop, step)
    if k == 0:
        raise ValueError(
            f"the background range {start}:{stop} is empty; write start:stop with start < stop, "
            "e.g. -30:0 for the 30 frames before each frame."
        )
    span = (k - 1) * step + 1
    if span > n_frames:
        raise ValueError(
            f"the background range {start}:{stop}:{step} spans {span} frames but the movie has only "
            f"{n_frames}; use a shorter range."
        )
    if start <= -n_frames or stop > n_frames:
        raise ValueError(
            f"the background range {start}:{stop} reaches beyond a movie of {n_frames} frames "
            f"from any frame; keep -{n_frames} < start and stop <= {n_frames}."
        )


def window_first(frame, start, stop, step, n_frames):
    """Movie index of the first frame of ``frame``'s window (after shifting it inside)."""
    k = window_length(start, stop, step)
    first = int(frame) + int(start)
    last = first + (k - 1) * int(step)
    if first < 0:
        first = 0
    elif last > n_frames - 1:
        first = n_frames - 1 - (k - 1) * int(step)
    return first


def frames_needed(first_target, stop_target, start, stop, step, n_frames):
    """``(lo, hi)``: the movie frames the windows of targets ``first..stop-1`` read."""
    k = window_length(start, stop, step)
    lo = window_first(first_target, start, stop, step, n_frames)
    hi = window_first(stop_target - 1, start, stop, step, n_frames) + (k - 1) * int(step) + 1
    return lo, hi


@numba.njit(cache=True, nogil=True, inline="always")
def _insert(buffer, n, v):
    i = n
    while i > 0 and buffer[i - 1] > v:
        buffer[i] = buffer[i - 1]
        i -= 1
    buffer[i] = v


@numba.njit(cache=True, nogil=True, inline="always")
def _remove(buffer, n, v):
    i = 0
    while i < n - 1 and buffer[i] != v:
        i += 1
    while i < n - 1:
        buffer[i] = buffer[i + 1]
        i += 1


@numba.njit(parallel=True, cache=True, nogil=True)
def _background(frames, firsts, k, step, use_median):
    n_targets = len(firsts)
    _, height, width = frames.shape
    out = np.empty((n_targets, height, width), dtype=np.float32)
    for y in prange(height):
        # One sorted window (median) or running sum (mean) per pixel of the row; the
        # inner loop runs along x so that frames are read row by row.
        buffers = np.empty((width, k), dtype=np.float32)
        totals = np.zeros(width, dtype=np.float64)
        for t in range(n_targets):
            f0 = firsts[t]
            slide = t > 0 and step == 1 and f0 == firsts[t - 1] + 1
            same = t > 0 and f0 == firsts[t - 1]
            for x in range(width):
                buffer = buffers[x]
                if slide:
                    # Consecutive targets: one frame leaves the window, one enters.
                    old = frames[f0 - 1, y, x]
                    new = frames[f0 + k - 1, y, x]
                    if use_median:
                        _remove(buffer, k, old)
                        _insert(buffer, k - 1, new)
                    else:
                        totals[x] += new - old
                elif not same:
                    total = 0.0
                    for j in range(k):
                        v = frames[f0 + j * step, y, x]
                        if use_median:
                            _insert(buffer, j, v)
                        else:
                            total += v
                    totals[x] = total
                if use_median:
                    if k % 2 == 1:
                        out[t, y, x] = buffer[k // 2]
                    else:
                        out[t, y, x] = 0.5 * (buffer[k // 2 - 1] + buffer[k // 2])
                else:
                    out[t, y, x] = totals[x] / k
    return out


def estimate_background(frames, frames_first, targets, start, stop, step=1, n_frames=None, statistic="median"):
    """Per-pixel background of target frames from their windows.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(m, height, width)``: movie frames ``frames_first .. frames_first + m - 1``,
        which must hold every target's window (see :func:`frames_needed`).
    frames_first : int
        Movie index of ``frames[0]``.
    targets : array_like of int
        Movie indices of the frames whose background is wanted.
    start, stop, step : int
        The window, relative to each target (see the module docstring).
    n_frames : int
        Frames in the whole movie (windows are shifted to lie inside it).
    statistic : str
        ``"median"`` or ``"mean"``.

    Returns
    -------
    numpy.ndarray
        ``(len(targets), height, width)`` float32, in the units of ``frames``.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"unknown background statistic {statistic!r}; choose one of {', '.join(STATISTICS)}")
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    if n_frames is None:
        n_frames = frames_first + len(frames)
    check_window(start, stop, step, n_frames)
    k = window_length(start, stop, step)
    firsts = np.array(
        [window_first(t, start, stop, step, n_frames) for t in np.asarray(targets).ravel()], dtype=np.int64
    ) - int(frames_first)
    if len(firsts) and (firsts.min() < 0 or firsts.max() + (k - 1) * step >= len(frames)):
        raise ValueError(
            f"frames {frames_first}..{frames_first + len(frames) - 1} do not hold the background windows "
            "of every target; read the range frames_needed() gives."
        )
    return _background(np.ascontiguousarray(frames, dtype=np.float32), firsts, int(k), int(step), statistic == "median")
