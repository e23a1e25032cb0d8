"""Super-resolution rendering of localizations (histogram or Gaussian blobs).

One set of render functions serves the napari layers, the drift correction (RCC renders
time segments), the explorer and the browser app.
"""

import math

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401


@numba.njit(cache=True, nogil=True)
def _histogram(x, y, weights, oversampling, x0, y0, out_height, out_width):
    image = np.zeros((out_height, out_width), dtype=np.float32)
    for k in range(len(x)):
        i = int(math.floor((x[k] - x0) * oversampling))
        j = int(math.floor((y[k] - y0) * oversampling))
        if 0 <= i < out_width and 0 <= j < out_height:
            image[j, i] += weights[k]
    return image


@numba.njit(parallel=True, cache=True, nogil=True)
def _gaussian(x, y, sx, sy, weights, oversampling, x0, y0, out_height, out_width, n_bands):
    # Rows are split into bands, each thread owns a band (no write races); a blob is drawn
    # by every band it overlaps.
    image = np.zeros((out_height, out_width), dtype=np.float32)
    band = (out_height + n_bands - 1) // n_bands
    for b in prange(n_bands):
        row0 = b * band
        row1 = min(out_height, row0 + band)
        for k in range(len(x)):
            cx = (x[k] - x0) * oversampling
            cy = (y[k] - y0) * oversampling
            gx = max(sx[k] * oversampling, 0.5)
            gy = max(sy[k] * oversampling, 0.5)
            rx = int(math.ceil(3.0 * gx))
            ry = int(math.ceil(3.0 * gy))
            jc = int(math.floor(cy))
            j_lo = max(row0, jc - ry)
            j_hi = min(row1, jc + ry + 1)
            if j_lo >= j_hi:
                continue
            ic = int(math.floor(cx))
            i_lo = max(0, ic - rx)
            i_hi = min(out_width, ic + rx + 1)
            if i_lo >= i_hi:
                continue
            norm = weights[k] / (2.0 * math.pi * gx * gy)
            for j in range(j_lo, j_hi):
                dy = (j + 0.5 - cy) / gy
                for i in range(i_lo, i_hi):
                    dx = (i + 0.5 - cx) / gx
                    image[j, i] += norm * math.exp(-0.5 * (dx * dx + dy * dy))
    return image


def render(locs, oversampling=10.0, viewport=None, blur="gaussian", min_blur_px=0.0, weights=None):
    """Render localizations into a super-resolution image.

    Parameters
    ----------
    locs : numpy.ndarray
        Structured array with ``x``, ``y`` (camera px) and, for Gaussian rendering,
        ``lpx``, ``lpy`` (px).
    oversampling : float
        Output pixels per camera pixel.
    viewport : tuple of float, optional
        ``(y0, x0, y1, x1)`` in camera px; default: from 0 to the largest coordinate.
    blur : {"gaussian", "histogram"}
        ``gaussian`` draws each localization as a normalised Gaussian of its precision
        (``lpx``, ``lpy``, at least ``min_blur_px``); ``histogram`` counts localizations
        per output pixel.
    min_blur_px : float
        Lower bound of the Gaussian width, camera px.
    weights : array_like, optional
        Per-localization weights (default 1).

    Returns
    -------
    image : numpy.ndarray of float32
        ``(round((y1 - y0) * oversampling), round((x1 - x0) * oversampling))``.
    viewport : tuple of float
        The viewport used; output pixel (j, i) covers camera
        ``(y0 + j / oversampling, x0 + i / oversampling)`` onwards.
    """
    # The stored float32 fields are used as they are: a float64 copy of a 10-million-row
    # table would double the memory a render needs.
    x = np.ascontiguousarray(locs["x"], dtype=np.float32)
    y = np.ascontiguousarray(locs["y"], dtype=np.float32)
    if viewport is None:
        y1 = float(np.ceil(y.max() + 1)) if len(y) else 1.0
        x1 = float(np.ceil(x.max() + 1)) if len(x) else 1.0
        viewport = (0.0, 0.0, y1, x1)
    y0, x0, y1, x1 = (float(v) for v in viewport)
    out_height = max(1, int(round((y1 - y0) * oversampling)))
    out_width = max(1, int(round((x1 - x0) * oversampling)))
    w = np.ones(len(x), dtype=np.float32) if weights is None else np.ascontiguousarray(weights, dtype=np.float32)
    if blur == "histogram":
        image = _histogram(x, y, w, float(oversampling), x0, y0, out_height, out_width)
    elif blur == "gaussian":
        sx = np.maximum(np.asarray(locs["lpx"], dtype=np.float32), np.float32(min_blur_px))
        sy = np.maximum(np.asarray(locs["lpy"], dtype=np.float32), np.float32(min_blur_px))
        n_bands = max(1, min(out_height, 4 * numba.get_num_threads()))
        image = _gaussian(x, y, sx, sy, w, float(oversampling), x0, y0, out_height, out_width, n_bands)
    else:
        raise ValueError(f"blur must be 'gaussian' or 'histogram', got {blur!r}")
    return image, (y0, x0, y1, x1)
