"""Quality figures of a localization table, as stored by the experiment database.

:func:`quality_metrics` returns a flat ``dict[str, float]``; its key names are a stable
interface (the database builds its columns from them). See its docstring for the list.
"""

import math

import numba
import numpy as np

from . import _parallel  # noqa: F401
from .drift import rcc_drift
from .link import link
from .nena import nena

METRIC_KEYS = (
    "n_locs",
    "n_frames",
    "width",
    "height",
    "pixelsize_nm",
    "locs_per_frame",
    "n_locs_used",
    "nena_px",
    "nena_nm",
    "drift_x_range_px",
    "drift_x_range_nm",
    "drift_y_range_px",
    "drift_y_range_nm",
    "drift_x_std_px",
    "drift_x_std_nm",
    "drift_y_std_px",
    "drift_y_std_nm",
    "drift_residual_px",
    "drift_residual_nm",
    "link_n_events",
    "link_bright_time_frames",
    "link_locs_per_event",
)
"""Keys :func:`quality_metrics` always returns (besides ``mean_<field>``/``std_<field>``)."""

N_SUBSET_BLOCKS = 20
DRIFT_SEGMENTS = 10
DRIFT_MIN_LOCS_PER_SEGMENT = 200
DRIFT_RENDER_PX = 512
LINK_DARK_FRAMES = 1
LINK_MAX_DISTANCE_PX = 1.0


def metrics_subset(locs, max_locs=1_000_000, n_blocks=N_SUBSET_BLOCKS):
    """The deterministic subset of a large table that the slow metrics use.

    With ``len(locs) <= max_locs`` all rows are used. Otherwise the table (sorted by
    frame) is cut into ``n_blocks`` blocks of about ``max_locs / n_blocks`` rows whose
    starts are spread evenly over the rows, each block extended or trimmed to whole frames
    (a block keeps every localization of the frames it covers, so next-frame neighbours
    and binding events inside it are intact, and the blocks span the whole acquisition
    for the drift). No randomness is involved.

    Returns
    -------
    numpy.ndarray
        Indices of the rows used (sorted by frame).
    """
    n = len(locs)
    if n <= max_locs:
        return np.arange(n)
    frame = np.asarray(locs["frame"])
    if np.any(frame[1:] < frame[:-1]):
        order = np.argsort(frame, kind="stable")
    else:
        order = None
    sorted_frame = frame if order is None else frame[order]
    ranges = subset_ranges(sorted_frame, max_locs, n_blocks)
    rows = np.concatenate([np.arange(start, stop) for start, stop in ranges])
    return rows if order is None else order[rows]


def subset_ranges(sorted_frame, max_locs=1_000_000, n_blocks=N_SUBSET_BLOCKS):
    """The blocks of :func:`metrics_subset` as ``[(start, stop), ...]`` row ranges.

    Parameters
    ----------
    sorted_frame : numpy.ndarray
        The frame column of the table, sorted (a reader of a frame-sorted file can then
        read just these row ranges).
    """
    n = len(sorted_frame)
    if n <= max_locs:
        return [(0, n)]
    block = max(1, max_locs // n_blocks)
    pieces = []
    last_stop = 0
    for b in range(n_blocks):
        start = (b * (n - block)) // max(1, n_blocks - 1)
        stop = start + block
        # whole frames: start at the first row of its frame, stop at a frame boundary
        start = int(np.searchsorted(sorted_frame, sorted_frame[start], side="left"))
        stop = int(np.searchsorted(sorted_frame, sorted_frame[min(stop, n - 1)], side="left")) if stop < n else n
        start = max(start, last_stop)
        if stop <= start:
            continue
        pieces.append((start, stop))
        last_stop = stop
    return pieces or [(0, min(n, max_locs))]


@numba.njit(cache=True, nogil=True)
def _accumulate(values, shift, sums):
    # sums: count, sum and sum of squares of (value - shift) over finite values
    for i in range(len(values)):
        v = float(values[i])
        if math.isfinite(v):
            d = v - shift
            sums[0] += 1.0
            sums[1] += d
            sums[2] += d * d


STATS_CHUNK_ROWS = 1 << 15


def field_statistics(locs):
    """``mean_<field>`` and ``std_<field>`` of every numeric field (finite values only).

    Rows are visited in chunks that stay in cache while every field of the chunk is
    summed (a field of a record array is strided: field by field over the whole table
    would read it from memory once per field). Sums are in float64, shifted by the
    field's first value so that the variance stays accurate.
    """
    statistics = FieldStatistics(locs.dtype)
    statistics.add(locs)
    return statistics.result()


class FieldStatistics:
    """:func:`field_statistics` accumulated over consecutive pieces of a table.

    ``add`` the table's rows in order, in pieces of any size (a reader streaming a
    file); ``result()`` is then identical, bit for bit, to ``field_statistics`` of the
    whole table: the sums run over the values in the same order with the same shift.
    """

    def __init__(self, dtype):
        self.names = [name for name in dtype.names or () if dtype[name].kind in "fiu" and not dtype[name].shape]
        self.sums = {name: np.zeros(3) for name in self.names}
        self.shifts = {}

    def add(self, locs):
        for start in range(0, len(locs), STATS_CHUNK_ROWS):
            chunk = locs[start : start + STATS_CHUNK_ROWS]
            for name in self.names:
                values = chunk[name]
                if name not in self.shifts:
                    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
                    if len(finite) == 0:
                        continue
                    self.shifts[name] = float(finite[0])
                _accumulate(values, self.shifts[name], self.sums[name])

    def result(self):
        out = {}
        for name in self.names:
            count, total, total2 = self.sums[name]
            if count == 0:
                out[f"mean_{name}"] = out[f"std_{name}"] = math.nan
                continue
            mean = total / count
            out[f"mean_{name}"] = float(self.shifts[name] + mean)
            out[f"std_{name}"] = float(math.sqrt(max(total2 / count - mean * mean, 0.0)))
        return out


def quality_metrics(locs, width, height, pixelsize_nm, n_frames, max_locs=1_000_000, seed=0):
    """All quality figures of one localization file.

    Parameters
    ----------
    locs : numpy.ndarray
        The localization table (structured, ``frame``, ``x``, ``y`` and other fields).
    width, height : int
        Camera frame size, px.
    pixelsize_nm : float or None
        Camera pixel size, nm; None when unknown: every ``_nm`` figure is then NaN (the
        ``_px`` ones are computed).
    n_frames : int
        Frames of the movie (not only those with localizations).
    max_locs : int
        The slow metrics (NeNA, drift, linking) use at most about this many rows: the
        deterministic block subset of :func:`metrics_subset`. Counts and per-field
        statistics always use every row.
    seed : int
        Accepted for interface stability; the subset involves no randomness.

    Returns
    -------
    dict of str to float
        Stable keys (NaN where a figure cannot be computed):

        ``n_locs``
            Localizations in the table.
        ``n_locs_used``
            Rows the slow metrics used.
        ``n_frames``, ``width``, ``height``, ``pixelsize_nm``
            The inputs, for reference (``pixelsize_nm`` NaN when unknown).
        ``locs_per_frame``
            ``n_locs / n_frames``.
        ``nena_px``, ``nena_nm``
            NeNA localization precision (:func:`napari_picasso.core.nena.nena`).
        ``drift_x_range_px``, ``drift_y_range_px``, ``drift_x_std_px``, ``drift_y_std_px``,
        ``drift_residual_px`` and the same with ``_nm``
            RCC drift (:func:`napari_picasso.core.drift.rcc_drift`) with
            ``DRIFT_SEGMENTS`` segments of ``n_frames / DRIFT_SEGMENTS`` frames (render
            at most ``DRIFT_RENDER_PX`` px a side): range (max - min) and standard
            deviation of the per-frame drift, and the RMS residual of the pairwise shifts.
            NaN with fewer than ``DRIFT_MIN_LOCS_PER_SEGMENT`` rows per segment.
        ``link_n_events``, ``link_bright_time_frames``, ``link_locs_per_event``
            Linking (:func:`napari_picasso.core.link.link`) of the rows used, with
            ``max_dark_frames = LINK_DARK_FRAMES`` and a radius of 5 x NeNA, at most
            ``LINK_MAX_DISTANCE_PX`` (that radius when NeNA failed): binding events,
            their mean length (mean bright time, frames) and mean localizations per
            event.
        ``mean_<field>``, ``std_<field>``
            Mean and standard deviation of every numeric field of the table (e.g.
            ``mean_photons``, ``std_photons``, ``mean_lpx``, ``mean_frame``); the set
            depends on the table's fields. No other key starts with ``mean_`` or
            ``std_``; the other keys are always present (``METRIC_KEYS``).
    """
    del seed  # the subset is deterministic without it
    rows = metrics_subset(locs, max_locs)
    sub = locs[rows] if len(rows) != len(locs) else locs
    return subset_metrics(sub, len(locs), field_statistics(locs), width, height, pixelsize_nm, n_frames)


def subset_metrics(sub, n_locs, field_stats, width, height, pixelsize_nm, n_frames):
    """:func:`quality_metrics` from its parts, for a reader that never holds the whole table.

    Parameters
    ----------
    sub : numpy.ndarray
        The rows of :func:`metrics_subset` (for a frame-sorted table: the row ranges of
        :func:`subset_ranges`, concatenated), or the whole table when it is small.
    n_locs : int
        Rows in the whole table.
    field_stats : dict
        :func:`field_statistics` of the whole table (or :class:`FieldStatistics` fed with
        all of it).
    width, height, pixelsize_nm, n_frames
        As for :func:`quality_metrics`.
    """
    n = int(n_locs)
    out = {
        "n_locs": float(n),
        "n_frames": float(n_frames),
        "width": float(width),
        "height": float(height),
        "pixelsize_nm": float(pixelsize_nm) if pixelsize_nm is not None else math.nan,
        "locs_per_frame": n / n_frames if n_frames else math.nan,
    }
    out["n_locs_used"] = float(len(sub))
    result = nena(sub, pixelsize_nm)
    out["nena_px"] = float(result.s_px)
    out["nena_nm"] = float(result.s_nm)
    out.update(_drift_figures(sub, n_frames, pixelsize_nm, (0.0, 0.0, float(height), float(width))))
    radius = LINK_MAX_DISTANCE_PX
    if math.isfinite(result.s_px):
        radius = min(LINK_MAX_DISTANCE_PX, 5.0 * result.s_px)
    linked = link(sub, max_distance_px=radius, max_dark_frames=LINK_DARK_FRAMES)
    out["link_n_events"] = float(linked.n_events)
    out["link_bright_time_frames"] = float(linked.mean_bright_time_frames)
    out["link_locs_per_event"] = len(sub) / linked.n_events if linked.n_events else math.nan
    out.update(field_stats)
    return out


DRIFT_KEYS = ("drift_x_range", "drift_y_range", "drift_x_std", "drift_y_std", "drift_residual")


def _drift_figures(locs, n_frames, pixelsize_nm, viewport):
    nan = {f"{key}_{unit}": math.nan for key in DRIFT_KEYS for unit in ("px", "nm")}
    segment_frames = int(n_frames) // DRIFT_SEGMENTS
    if segment_frames < 1 or len(locs) < DRIFT_SEGMENTS * DRIFT_MIN_LOCS_PER_SEGMENT:
        return nan
    counts = np.bincount(
        np.minimum(np.asarray(locs["frame"], dtype=np.int64) // segment_frames, DRIFT_SEGMENTS - 1),
        minlength=DRIFT_SEGMENTS,
    )
    if counts.min() < DRIFT_MIN_LOCS_PER_SEGMENT:
        return nan
    result = rcc_drift(locs, n_frames, segment_frames=segment_frames, max_render_px=DRIFT_RENDER_PX, viewport=viewport)
    return {**nan, **result.summary(pixelsize_nm)}
