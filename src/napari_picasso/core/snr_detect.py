"""Spot detection by a signal-to-noise threshold (PYME's way), beside the net gradient.

Each frame is converted to photons pixel by pixel, ``p = (counts - offset) *
photons_per_count``. The local signal is a difference of uniform filters,
``f = mean_small(p) - mean_large(p)`` (``small_px`` and ``large_px`` square windows
centred on the pixel; the large one is clipped at the frame's border), which keeps a
spot and removes a background that varies slowly in space. When a background estimate
from other frames is given (:mod:`~napari_picasso.core.background`) it replaces the
large filter: ``f = mean_small(p - b)``, which also removes structure the spatial
filter cannot.

Each pixel's variance (photons^2) comes from the camera model,

    v_k = read_variance_k + excess * b_k,

with ``read_variance`` the readout variance in photons^2 (sCMOS variance map /
(gain * em_gain)^2, or (read noise / em_gain)^2 for a uniform camera), ``excess`` the
excess-noise factor of the EM register (2 with EM gain, else 1) and ``b`` the background
in photons (the background estimate when given, else ``mean_large(p)`` clipped at zero).
The standard deviation of ``f`` follows exactly from the filter weights,
``sd_f^2 = sum_k w_k^2 v_k``, so a hot pixel raises the threshold wherever it is in the
window. The noise is ``SIGMAS_PER_FACTOR`` (5) times ``sd_f``.

A pixel is a candidate when ``f > threshold_factor * noise``, ``f`` is the maximum of
its 3 x 3 neighbourhood (ties: the first in row-major order wins) and the fitting box
centred on it lies inside the region of interest: ``threshold_factor = 1`` asks for five
standard deviations of the filtered noise on any camera, whatever its gain, offset or
read noise. Debounce: of two candidates closer than ``debounce_px`` (Euclidean), the one
with the larger ``f`` is kept.

The score returned is ``f / noise`` (in units of the threshold factor).
"""

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401
from .identify import _net_gradient, check_box, compact_candidates, unit_vectors_to_centre

# Standard deviations of the filtered noise that threshold factor 1 asks for.
SIGMAS_PER_FACTOR = 5.0


@numba.njit(cache=True, nogil=True)
def _integral(image):
    height, width = image.shape
    out = np.zeros((height + 1, width + 1), dtype=np.float64)
    for y in range(height):
        row = 0.0
        for x in range(width):
            row += image[y, x]
            out[y + 1, x + 1] = out[y, x + 1] + row
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _window_sum(integral, y, x, r, height, width):
    ya = max(0, y - r)
    yb = min(height, y + r + 1)
    xa = max(0, x - r)
    xb = min(width, x + r + 1)
    total = integral[yb, xb] - integral[ya, xb] - integral[yb, xa] + integral[ya, xa]
    return total, (yb - ya) * (xb - xa)


@numba.njit(parallel=True, cache=True, nogil=True)
def _snr_frames(
    frames,
    offset,
    photons_per_count,
    read_integral,
    excess,
    background,
    has_background,
    threshold_factor,
    r_small,
    r_large,
    debounce_px,
    box,
    y0,
    x0,
    y1,
    x1,
    sigmas,
):
    n_frames, height, width = frames.shape
    r_box = box // 2
    capacity = ((height // 2) + 1) * ((width // 2) + 1)
    ys = np.empty((n_frames, capacity), dtype=np.int32)
    xs = np.empty((n_frames, capacity), dtype=np.int32)
    scores = np.empty((n_frames, capacity), dtype=np.float32)
    counts = np.zeros(n_frames, dtype=np.int64)
    debounce2 = debounce_px * debounce_px
    # The filter needs pixels up to r_large outside the candidate region.
    ya = max(0, y0 + r_box - 1 - r_large)
    yb = min(height, y1 - r_box + 1 + r_large)
    xa = max(0, x0 + r_box - 1 - r_large)
    xb = min(width, x1 - r_box + 1 + r_large)
    for f in prange(n_frames):
        photons = np.zeros((height, width), dtype=np.float64)
        local_bg = np.zeros((height, width), dtype=np.float64)
        for y in range(ya, yb):
            for x in range(xa, xb):
                p = (frames[f, y, x] - offset[y, x]) * photons_per_count[y, x]
                if has_background:
                    b = (background[f, y, x] - offset[y, x]) * photons_per_count[y, x]
                    p -= b
                    local_bg[y, x] = b if b > 0.0 else 0.0
                photons[y, x] = p
        integral = _integral(photons)
        bg_integral = _integral(local_bg)
        signal = np.full((height, width), -np.inf, dtype=np.float64)
        noise = np.ones((height, width), dtype=np.float64)
        # Signal on the candidate region grown by one pixel (for the 3x3 maximum test).
        cy0 = max(0, y0 + r_box - 1)
        cy1 = min(height, y1 - r_box + 1)
        cx0 = max(0, x0 + r_box - 1)
        cx1 = min(width, x1 - r_box + 1)
        for y in range(cy0, cy1):
            for x in range(cx0, cx1):
                sum_s, n_s = _window_sum(integral, y, x, r_small, height, width)
                var_s, _ = _window_sum(read_integral, y, x, r_small, height, width)
                if has_background:
                    # The estimate is the local background: no spatial filter, which
                    # would turn a site that is on in the background frames but off
                    # now (a dip) into a ring of false candidates.
                    signal[y, x] = sum_s / n_s
                    b_s, _ = _window_sum(bg_integral, y, x, r_small, height, width)
                    var = (var_s + excess * b_s) / (n_s * n_s)
                else:
                    sum_l, n_l = _window_sum(integral, y, x, r_large, height, width)
                    large = sum_l / n_l
                    signal[y, x] = sum_s / n_s - large
                    # Variance of the filter output: sum of weight^2 * pixel variance,
                    # weight 1/n_s - 1/n_l inside the small window, -1/n_l outside it.
                    var_l, _ = _window_sum(read_integral, y, x, r_large, height, width)
                    b = large if large > 0.0 else 0.0
                    var_s += excess * b * n_s
                    var_l += excess * b * n_l
                    w_in = 1.0 / n_s - 1.0 / n_l
                    var = w_in * w_in * var_s + (var_l - var_s) / (n_l * n_l)
                noise[y, x] = sigmas * np.sqrt(var) if var > 0.0 else 1e-12
        n = 0
        for y in range(y0 + r_box, y1 - r_box):
            for x in range(x0 + r_box, x1 - r_box):
                v = signal[y, x]
                if not v > threshold_factor * noise[y, x]:
                    continue
                is_max = True
                for dy in range(-1, 2):
                    for dx in range(-1, 2):
                        if dy == 0 and dx == 0:
                            continue
                        w = signal[y + dy, x + dx]
                        before = dy < 0 or (dy == 0 and dx < 0)
                        if (before and w >= v) or ((not before) and w > v):
                            is_max = False
                if is_max and n < capacity:
                    ys[f, n] = y
                    xs[f, n] = x
                    scores[f, n] = v
                    n += 1
        if debounce_px > 0.0 and n > 1:
            order = np.argsort(-scores[f, :n], kind="mergesort")
            keep = np.zeros(n, dtype=np.bool_)
            for a in range(n):
                i = order[a]
                ok = True
                for b in range(a):
                    j = order[b]
                    if keep[j]:
                        d2 = (ys[f, i] - ys[f, j]) ** 2 + (xs[f, i] - xs[f, j]) ** 2
                        if d2 < debounce2:
                            ok = False
                            break
                keep[i] = ok
            m = 0
            for i in range(n):
                if keep[i]:
                    ys[f, m] = ys[f, i]
                    xs[f, m] = xs[f, i]
                    scores[f, m] = scores[f, i]
                    m += 1
            n = m
        for i in range(n):
            scores[f, i] = scores[f, i] / noise[ys[f, i], xs[f, i]]
        counts[f] = n
    return compact_candidates(counts, ys, xs, scores)


def _as_map(value, shape, name):
    array = np.asarray(value, dtype=np.float32)
    if array.ndim == 0:
        return np.full(shape, array, dtype=np.float32)
    if array.shape != shape:
        raise ValueError(f"{name} map is {array.shape}, frames are {shape}")
    return np.ascontiguousarray(array)


def snr_identify(
    frames,
    threshold_factor=1.0,
    offset=100.0,
    photons_per_count=1.0,
    read_variance=1.0,
    excess=1.0,
    background=None,
    debounce_px=4.0,
    box=7,
    roi=None,
    small_px=3,
    large_px=None,
):
    """Identify spots where the filtered signal exceeds ``threshold_factor`` times the noise.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n_frames, height, width)`` or ``(height, width)`` camera counts.
    threshold_factor : float
        Multiple of the per-pixel noise the filtered signal must exceed (about 1).
    offset : float or numpy.ndarray
        Camera offset, counts (scalar or ``(height, width)`` map).
    photons_per_count : float or numpy.ndarray
        Conversion to photons (``sensitivity / em_gain``, or ``1 / (gain * em_gain)``
        with an sCMOS gain map in counts per electron).
    read_variance : float or numpy.ndarray
        Readout variance, photons^2 (scalar or map).
    excess : float
        Excess-noise factor (2 with EM gain, else 1).
    background : numpy.ndarray, optional
        Background of each frame in counts, shaped like ``frames``.
    debounce_px : float
        Of two candidates closer than this, the one with the stronger signal is kept.
    box : int
        Odd box side of the fit: candidates keep their whole box inside the ROI.
    roi : tuple of int, optional
        ``(y0, x0, y1, x1)`` camera pixels, end exclusive.
    small_px, large_px : int
        Odd sides of the signal and local-background windows (``large_px`` defaults to
        ``2 * box - 1``).

    Returns
    -------
    frame_index, y_px, x_px : numpy.ndarray
        As :func:`~napari_picasso.core.identify.identify`: frame index within ``frames``
        (int64), box centre (int32), sorted by frame, row, column.
    snr : numpy.ndarray of float32
        Filtered signal over noise of each candidate.
    """
    check_box(box)
    if not threshold_factor >= 0:
        raise ValueError(f"the SNR threshold factor must be >= 0 (got {threshold_factor})")
    if not debounce_px >= 0:
        raise ValueError(f"the debounce radius must be >= 0 px (got {debounce_px})")
    large_px = 2 * box - 1 if large_px is None else large_px
    for name, side in (("small", small_px), ("large", large_px)):
        if int(side) != side or side < 1 or side % 2 == 0:
            raise ValueError(f"the {name} filter side must be an odd integer >= 1 (got {side})")
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    frames = np.ascontiguousarray(frames, dtype=np.float32)
    _, height, width = frames.shape
    shape = (height, width)
    offset = _as_map(offset, shape, "offset")
    photons_per_count = _as_map(photons_per_count, shape, "photons-per-count")
    read_variance = _as_map(read_variance, shape, "read variance")
    if background is None:
        has_background = False
        background = np.zeros((1, 1, 1), dtype=np.float32)
    else:
        has_background = True
        background = np.ascontiguousarray(background, dtype=np.float32)
        if background.ndim == 2:
            background = background[np.newaxis]
        if background.shape != frames.shape:
            raise ValueError(f"background is {background.shape}, frames are {frames.shape}")
    y0, x0, y1, x1 = roi if roi is not None else (0, 0, height, width)
    return _snr_frames(
        frames,
        offset,
        photons_per_count,
        _integral(read_variance.astype(np.float64)),
        float(excess),
        background,
        has_background,
        float(threshold_factor),
        int(small_px) // 2,
        int(large_px) // 2,
        float(debounce_px),
        int(box),
        int(y0),
        int(x0),
        int(y1),
        int(x1),
        float(SIGMAS_PER_FACTOR),
    )


@numba.njit(parallel=True, cache=True, nogil=True)
def _net_gradients(frames, frame_index, ys, xs, r, uy, ux):
    out = np.empty(len(ys), dtype=np.float32)
    for i in prange(len(ys)):
        out[i] = _net_gradient(frames[frame_index[i]], ys[i], xs[i], r, uy, ux)
    return out


def net_gradients(frames, frame_index, y_px, x_px, box=7):
    """Picasso's net gradient of given candidates (to fill the locs' ``net_gradient``).

    Lets any detector's localizations carry the same ``net_gradient`` column.
    """
    check_box(box)
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    uy, ux = unit_vectors_to_centre(box)
    return _net_gradients(
        np.ascontiguousarray(frames, dtype=np.float32),
        np.asarray(frame_index, dtype=np.int64),
        np.asarray(y_px, dtype=np.int32),
        np.asarray(x_px, dtype=np.int32),
        int(box) // 2,
        uy,
        ux,
    )
