"""Linking of localizations in consecutive frames into binding events.

Frames are processed in order; a localization joins the event whose last localization
is nearest to it within ``max_distance_px`` and lies at most ``max_dark_frames`` frames
before it (the most recent frame is searched first, and an event takes at most one
localization per frame); otherwise it starts a new event. Within a frame, localizations
are visited in raster order of radius-sized cells. The search of every localization's
candidate runs in parallel; the sequential pass then only resolves the rare conflicts
(two localizations wanting the same event), with the same result as a purely sequential
search. Each event becomes one row:
position and precision weighted by inverse variance, photons summed, the other float
fields averaged, and the locs LINK fields ``len`` (frames from first to last
localization), ``n`` (localizations merged) and ``photon_rate`` (photons per
localization).
"""

import dataclasses
import math

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401
from ._grid import FrameGrid, cell_of, row_range
from .localizations import LINK_FIELDS


@numba.njit(cache=True, nogil=True)
def _nearest_before(i, keys, starts, frame, x, y, x0, y0, cell, n_x, n_cells, r2, max_dark, taken):
    # Nearest localization within the radius in the most recent of the frames
    # f-1 .. f-1-max_dark that has one (skipping rows already continued, when given).
    f = frame[i]
    cx, cy = cell_of(x[i], y[i], x0, y0, cell, n_x)
    best = -1
    for g in range(f - 1, max(f - 2 - max_dark, -1), -1):
        best_d2 = r2
        for dy in range(-1, 2):
            lo, hi = row_range(keys, starts, g, cx, cy + dy, n_x, n_cells)
            for j in range(lo, hi):
                if len(taken) and taken[j]:
                    continue
                d2 = (x[j] - x[i]) ** 2 + (y[j] - y[i]) ** 2
                if d2 <= best_d2:
                    best_d2 = d2
                    best = j
        if best >= 0:
            return best
    return -1


@numba.njit(parallel=True, cache=True, nogil=True)
def _candidates(keys, starts, frame, x, y, x0, y0, cell, n_x, n_cells, r2, max_dark):
    # The predecessor each localization would take if nothing were taken yet
    # (independent per row: parallel).
    n = len(x)
    candidate = np.empty(n, dtype=np.int64)
    none = np.zeros(0, dtype=np.bool_)
    for i in prange(n):
        candidate[i] = _nearest_before(i, keys, starts, frame, x, y, x0, y0, cell, n_x, n_cells, r2, max_dark, none)
    return candidate


@numba.njit(cache=True, nogil=True)
def _link(keys, starts, frame, x, y, x0, y0, cell, n_x, n_cells, r2, max_dark, candidate):
    # Rows sorted by (frame, cell), i.e. frame first: one pass in frame order. A row
    # continues the event of its candidate unless another row took that candidate
    # first; then (rarely) it searches again among the rows still free, which is what
    # the plain sequential search would have found.
    n = len(x)
    event = np.empty(n, dtype=np.int64)
    taken = np.zeros(n, dtype=np.bool_)
    n_events = 0
    for i in range(n):
        best = candidate[i]
        if best >= 0 and taken[best]:
            best = _nearest_before(i, keys, starts, frame, x, y, x0, y0, cell, n_x, n_cells, r2, max_dark, taken)
        if best >= 0:
            taken[best] = True
            event[i] = event[best]
        else:
            event[i] = n_events
            n_events += 1
    return event, n_events


@numba.njit(cache=True, nogil=True)
def _event_starts(event, n_events):
    # Rows of each event, grouped: counting sort by event id (events numbered in frame order).
    counts = np.zeros(n_events + 1, dtype=np.int64)
    for i in range(len(event)):
        counts[event[i] + 1] += 1
    starts = np.cumsum(counts)
    members = np.empty(len(event), dtype=np.int64)
    fill = starts[:-1].copy()
    for i in range(len(event)):
        e = event[i]
        members[fill[e]] = i
        fill[e] += 1
    return starts, members


@numba.njit(parallel=True, cache=True, nogil=True)
def _weighted_mean(values, weights, starts, members, out_mean, out_precision):
    for e in prange(len(starts) - 1):
        sw = 0.0
        swv = 0.0
        for k in range(starts[e], starts[e + 1]):
            i = members[k]
            w = weights[i]
            sw += w
            swv += w * values[i]
        if sw > 0 and math.isfinite(sw):
            out_mean[e] = swv / sw
            out_precision[e] = 1.0 / math.sqrt(sw)
        else:
            # no usable precision: plain mean
            s = 0.0
            for k in range(starts[e], starts[e + 1]):
                s += values[members[k]]
            out_mean[e] = s / (starts[e + 1] - starts[e])
            out_precision[e] = math.nan


@numba.njit(parallel=True, cache=True, nogil=True)
def _reduce(values, starts, members, mode, out):
    # mode 0: mean, 1: sum, 2: first, 3: min, 4: max; in float64 (exact for uint32).
    # values may be a strided field of the record array (no copy).
    for e in prange(len(starts) - 1):
        a = starts[e]
        b = starts[e + 1]
        if mode == 2:
            out[e] = float(values[members[a]])
            continue
        acc = float(values[members[a]])
        for k in range(a + 1, b):
            v = float(values[members[k]])
            if mode == 3:
                acc = min(acc, v)
            elif mode == 4:
                acc = max(acc, v)
            else:
                acc += v
        out[e] = acc / (b - a) if mode == 0 else acc


@dataclasses.dataclass
class LinkResult:
    """Outcome of :func:`link`.

    Attributes
    ----------
    linked : numpy.ndarray
        One row per binding event (the input fields, then ``len``, ``n``,
        ``photon_rate``), sorted by first frame.
    event : numpy.ndarray of int64
        Event index (row of ``linked``) of each input localization.
    mean_bright_time_frames : float
        Mean of ``len`` over the events (NaN without events).
    """

    linked: np.ndarray
    event: np.ndarray
    mean_bright_time_frames: float

    @property
    def n_events(self):
        return len(self.linked)


def linked_dtype(dtype):
    """The input fields (without earlier LINK fields) followed by ``len, n, photon_rate``."""
    link_names = {name for name, _ in LINK_FIELDS}
    fields = [(name, dtype[name]) for name in dtype.names if name not in link_names]
    return np.dtype(fields + LINK_FIELDS)


def _inverse_variance(lp):
    lp = np.asarray(lp, dtype=np.float64)
    with np.errstate(divide="ignore"):
        w = 1.0 / (lp * lp)
    w[~np.isfinite(w)] = 0.0
    return w


def link(locs, max_distance_px=1.0, max_dark_frames=1):
    """Link localizations of consecutive frames into binding events.

    Parameters
    ----------
    locs : numpy.ndarray
        Structured array with ``frame``, ``x``, ``y``; ``lpx``/``lpy`` (px) weight the
        merged position (and ``lpz`` the z) when present.
    max_distance_px : float
        Largest distance from the event's last localization, px.
    max_dark_frames : int
        Frames an event may be off and still continue (0: strictly consecutive frames).

    Returns
    -------
    LinkResult
    """
    if max_distance_px <= 0:
        raise ValueError(f"max_distance_px must be positive, got {max_distance_px}")
    if max_dark_frames < 0:
        raise ValueError(f"max_dark_frames must be >= 0, got {max_dark_frames}")
    out_dtype = linked_dtype(locs.dtype)
    if len(locs) == 0:
        return LinkResult(np.zeros(0, dtype=out_dtype), np.zeros(0, dtype=np.int64), math.nan)
    grid = FrameGrid(locs["frame"], locs["x"], locs["y"], max_distance_px)
    args = (
        grid.keys,
        grid.frame_starts,
        grid.frame,
        grid.x,
        grid.y,
        grid.x0,
        grid.y0,
        grid.cell_px,
        grid.n_cells_x,
        grid.n_cells,
        float(max_distance_px) ** 2,
        int(max_dark_frames),
    )
    event_sorted, n_events = _link(*args, _candidates(*args))
    event = np.empty(len(locs), dtype=np.int64)
    event[grid.order] = event_sorted
    starts, members = _event_starts(event_sorted, n_events)
    members = grid.order[members]  # input rows, in frame order within each event

    linked = np.zeros(n_events, dtype=out_dtype)
    names = set(locs.dtype.names)
    precision_of = {"x": "lpx", "y": "lpy", "z": "lpz"}
    done = set()
    for coord, lp_name in precision_of.items():
        if coord not in names:
            continue
        values = locs[coord]
        weights = _inverse_variance(locs[lp_name]) if lp_name in names else np.ones(len(locs))
        mean = np.empty(n_events)
        precision = np.empty(n_events)
        _weighted_mean(values, weights, starts, members, mean, precision)
        linked[coord] = mean
        done.add(coord)
        if lp_name in names:
            linked[lp_name] = precision
            done.add(lp_name)
    modes = {"frame": 3, "photons": 1, "group": 2}
    for name in locs.dtype.names:
        if name in done or name not in out_dtype.names:
            continue
        kind = locs.dtype[name].kind
        if kind not in "fiub":
            continue
        mode = modes.get(name, 0 if kind == "f" else 2)
        out = np.empty(n_events, dtype=np.float64)
        _reduce(locs[name], starts, members, mode, out)
        linked[name] = out
    if "ellipticity" in names and "sx" in names and "sy" in names:
        sx = linked["sx"].astype(np.float64)
        sy = linked["sy"].astype(np.float64)
        larger = np.maximum(sx, sy)
        with np.errstate(divide="ignore", invalid="ignore"):
            linked["ellipticity"] = np.where(larger > 0, (larger - np.minimum(sx, sy)) / larger, 0.0)
    first = np.empty(n_events)
    last = np.empty(n_events)
    _reduce(locs["frame"], starts, members, 3, first)
    _reduce(locs["frame"], starts, members, 4, last)
    n_merged = np.diff(starts)
    linked["len"] = (last - first + 1).astype(np.int64)
    linked["n"] = n_merged
    if "photons" in names:
        linked["photon_rate"] = linked["photons"].astype(np.float64) / n_merged
    order = np.argsort(linked["frame"], kind="stable")
    if np.any(order != np.arange(n_events)):
        rank = np.empty(n_events, dtype=np.int64)
        rank[order] = np.arange(n_events)
        linked = linked[order]
        event = rank[event]
    return LinkResult(linked, event, float(np.mean(linked["len"])))
