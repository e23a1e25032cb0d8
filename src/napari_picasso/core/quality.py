"""Quality figures of a localization table, as stored by the experiment database.

:func:`quality_metrics` returns a flat ``dict[str, float]``; its key names are a stable
interface (the database builds its columns from them). See its docstring for the list.
"""

import math

import numpy as np

from . import _parallel  # noqa: F401
from .nena import nena

N_SUBSET_BLOCKS = 20


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
        pieces.append(np.arange(start, stop))
        last_stop = stop
    rows = np.concatenate(pieces) if pieces else np.arange(min(n, max_locs))
    return rows if order is None else order[rows]


def field_statistics(locs):
    """``mean_<field>`` and ``std_<field>`` of every numeric field (finite values only)."""
    out = {}
    for name in locs.dtype.names or ():
        if locs.dtype[name].kind not in "fiub":
            continue
        values = np.asarray(locs[name])
        if values.dtype.kind == "f":
            finite = np.isfinite(values)
            if not finite.all():
                values = values[finite]
        if len(values) == 0:
            out[f"mean_{name}"] = math.nan
            out[f"std_{name}"] = math.nan
            continue
        values = values.astype(np.float64)
        out[f"mean_{name}"] = float(values.mean())
        out[f"std_{name}"] = float(values.std())
    return out


def quality_metrics(locs, width, height, pixelsize_nm, n_frames, max_locs=1_000_000, seed=0):
    """All quality figures of one localization file.

    Parameters
    ----------
    locs : numpy.ndarray
        The localization table (structured, ``frame``, ``x``, ``y`` and other fields).
    width, height : int
        Camera frame size, px.
    pixelsize_nm : float
        Camera pixel size, nm.
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
            The inputs, for reference.
        ``locs_per_frame``
            ``n_locs / n_frames``.
        ``nena_px``, ``nena_nm``
            NeNA localization precision (:func:`napari_picasso.core.nena.nena`).
        ``mean_<field>``, ``std_<field>``
            Mean and standard deviation of every numeric field of the table (e.g.
            ``mean_photons``, ``std_photons``, ``mean_lpx``, ``mean_frame``); the set
            depends on the table's fields.
    """
    del seed  # the subset is deterministic without it
    n = len(locs)
    out = {
        "n_locs": float(n),
        "n_frames": float(n_frames),
        "width": float(width),
        "height": float(height),
        "pixelsize_nm": float(pixelsize_nm),
        "locs_per_frame": n / n_frames if n_frames else math.nan,
    }
    rows = metrics_subset(locs, max_locs)
    sub = locs[rows] if len(rows) != n else locs
    out["n_locs_used"] = float(len(sub))
    result = nena(sub, pixelsize_nm)
    out["nena_px"] = float(result.s_px)
    out["nena_nm"] = float(result.s_nm)
    out.update(field_statistics(locs))
    return out
