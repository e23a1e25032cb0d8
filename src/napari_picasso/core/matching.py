"""Match localizations to ground truth, frame by frame (for accuracy checks)."""

import numba
import numpy as np

from . import _parallel  # noqa: F401


@numba.njit(cache=True, nogil=True)
def _match(frame_a, xa, ya, frame_b, xb, yb, radius):
    # Both inputs are sorted by frame; within a frame, each truth point takes the nearest
    # unmatched localization within the radius (greedy, in truth order).
    match_a = np.full(len(xa), -1, dtype=np.int64)
    match_b = np.full(len(xb), -1, dtype=np.int64)
    r2 = radius * radius
    ia = 0
    ib = 0
    na = len(xa)
    nb = len(xb)
    while ib < nb:
        f = frame_b[ib]
        while ia < na and frame_a[ia] < f:
            ia += 1
        ja = ia
        while ja < na and frame_a[ja] == f:
            ja += 1
        jb = ib
        while jb < nb and frame_b[jb] == f:
            jb += 1
        for b in range(ib, jb):
            best = -1
            best_d2 = r2
            for a in range(ia, ja):
                if match_a[a] >= 0:
                    continue
                d2 = (xa[a] - xb[b]) ** 2 + (ya[a] - yb[b]) ** 2
                if d2 <= best_d2:
                    best_d2 = d2
                    best = a
            if best >= 0:
                match_a[best] = b
                match_b[b] = best
        ib = jb
        ia = ja
    return match_a, match_b


def match_to_truth(locs, truth, radius_px=1.0):
    """Pair localizations with ground-truth emitters of the same frame.

    Parameters
    ----------
    locs, truth : numpy.ndarray
        Structured arrays with ``frame``, ``x``, ``y`` (px).
    radius_px : float
        Largest distance of a pair.

    Returns
    -------
    locs_index, truth_index : numpy.ndarray
        Indices of the matched pairs (same length).
    """
    order_a = np.argsort(locs["frame"], kind="stable")
    order_b = np.argsort(truth["frame"], kind="stable")
    a = locs[order_a]
    b = truth[order_b]
    match_a, _ = _match(
        a["frame"].astype(np.int64),
        a["x"].astype(np.float64),
        a["y"].astype(np.float64),
        b["frame"].astype(np.int64),
        b["x"].astype(np.float64),
        b["y"].astype(np.float64),
        float(radius_px),
    )
    matched = np.flatnonzero(match_a >= 0)
    return order_a[matched], order_b[match_a[matched]]


def detection_scores(locs, truth, radius_px=1.0):
    """Recall, precision and lateral RMSE (px) of localizations against ground truth."""
    li, ti = match_to_truth(locs, truth, radius_px)
    recall = len(ti) / max(1, len(truth))
    precision = len(li) / max(1, len(locs))
    dx = locs["x"][li].astype(float) - truth["x"][ti]
    dy = locs["y"][li].astype(float) - truth["y"][ti]
    rmse_x = float(np.sqrt(np.mean(dx**2))) if len(li) else float("nan")
    rmse_y = float(np.sqrt(np.mean(dy**2))) if len(li) else float("nan")
    return {
        "recall": recall,
        "precision": precision,
        "rmse_x_px": rmse_x,
        "rmse_y_px": rmse_y,
        "n_matched": len(li),
        "locs_index": li,
        "truth_index": ti,
    }
