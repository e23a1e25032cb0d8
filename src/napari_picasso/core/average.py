"""Average of ROI: background-corrected photon sum and centroid of each spot.

Not a fit: a fast estimate (Picasso's "average of ROI") for previews and bright spots.
"""

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401


@numba.njit(parallel=True, cache=True, nogil=True)
def _average(spots):
    n, box, _ = spots.shape
    r = box // 2
    out = np.empty((n, 6), dtype=np.float64)
    for s in prange(n):
        spot = spots[s]
        perimeter = 0.0
        for k in range(box):
            perimeter += spot[0, k] + spot[box - 1, k]
        for k in range(1, box - 1):
            perimeter += spot[k, 0] + spot[k, box - 1]
        bg = perimeter / (4 * box - 4)
        total = 0.0
        weight = 0.0
        mx = 0.0
        my = 0.0
        for j in range(box):
            for i in range(box):
                v = spot[j, i] - bg
                total += v
                if v > 0:
                    weight += v
                    mx += v * (i - r)
                    my += v * (j - r)
        if weight > 0:
            mx /= weight
            my /= weight
        vx = 0.0
        vy = 0.0
        for j in range(box):
            for i in range(box):
                v = spot[j, i] - bg
                if v > 0:
                    vx += v * (i - r - mx) ** 2
                    vy += v * (j - r - my) ** 2
        out[s, 0] = mx
        out[s, 1] = my
        out[s, 2] = total
        out[s, 3] = bg
        out[s, 4] = np.sqrt(vx / weight) if weight > 0 else np.nan
        out[s, 5] = np.sqrt(vy / weight) if weight > 0 else np.nan
    return out


def average_of_roi(spots):
    """Background-corrected photon sum and centroid of each ``box x box`` spot.

    The background is the mean of the box's border pixels; the position is the centroid
    and sx, sy the square roots of the second moments of the positive background-corrected
    pixels.

    Returns
    -------
    dict of numpy.ndarray
        ``x, y`` (px, relative to the box centre), ``photons``, ``bg``, ``sx``, ``sy``.
    """
    spots = np.ascontiguousarray(spots, dtype=np.float32)
    values = _average(spots) if len(spots) else np.zeros((0, 6))
    names = ("x", "y", "photons", "bg", "sx", "sy")
    return {name: values[:, i] for i, name in enumerate(names)}
