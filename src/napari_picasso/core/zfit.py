"""3D astigmatic localization: calibration from a bead z-stack and the z fit.

A cylindrical lens makes the PSF's widths sx, sy depend on the emitter's focal offset z
(Huang et al. 2008). The calibration measures mean sx(z), sy(z) on a bead z-stack and
fits a degree-6 polynomial to each; z = 0 is placed where the two curves cross. A
localization's z then minimises

    D(z)^2 = (sqrt(sx) - sqrt(wx(z)))^2 + (sqrt(sy) - sqrt(wy(z)))^2

over the calibrated range; ``d_zcalib = D(z)`` at the optimum. The calibration's z axis
is the stage coordinate (nm); reported ``z`` is that times the magnification factor
(refractive-index mismatch between immersion and sample, 0.79 by default).

The calibration is a plain dict with Picasso's keys (``X Coefficients`` and
``Y Coefficients``: 7 numbers each, highest power first as ``numpy.polyfit`` gives them,
z in stage nm and widths in camera px; ``Number of frames``, ``Step size in nm``,
``Magnification factor``, ``Path``, ``Frame bounds``), so files pass between the two
programs unchanged. We add ``Calibrated range (nm)``; Picasso ignores it.

z precision (``lpz``)
---------------------
We propagate the fitted widths' uncertainties (``sx_unc``, ``sy_unc``: the square roots
of the CRLB of sx and sy, from the Fisher information of the 2D fit at its optimum)
through the linearised estimator. With ``r(z) = sqrt(w(z))`` and the tangent
``t = dr/dz``, the minimiser of D moves by ``(tx * ex + ty * ey) / (tx^2 + ty^2)`` for
errors ``ex``, ``ey`` of ``sqrt(sx)``, ``sqrt(sy)``, whose standard deviations are
``sx_unc / (2 sqrt(sx))`` and ``sy_unc / (2 sqrt(sy))``. So

    lpz = sqrt(tx^2 ex^2 + ty^2 ey^2) / (tx^2 + ty^2)   (times the magnification).

This is the standard deviation of *this* estimator (not the 3D-model CRLB, which a
weighted distance would approach): the number users filter on then means what the z
fit achieves. The tests compare the estimator's RMSE with the 3D-model CRLB.
"""

import math

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401
from .gaussfit import _axis_terms, _cholesky, _cholesky_solve

DEGREE = 6
DEFAULT_MAGNIFICATION = 0.79
# Picasso fits z in [-1000, 1000] stage nm when the calibration does not say more.
DEFAULT_RANGE_NM = (-1000.0, 1000.0)
GRID_STEP_NM = 20.0
_W_MIN = 1e-6

CALIBRATION_KEYS = (
    "X Coefficients",
    "Y Coefficients",
    "Number of frames",
    "Step size in nm",
    "Magnification factor",
    "Path",
    "Frame bounds",
)
RANGE_KEY = "Calibrated range (nm)"


# -- calibration -----------------------------------------------------------------------
def frame_positions_nm(n_frames, step_nm):
    """Stage z of each frame of a z-stack: ``span / 2 - i * step_nm`` (first frames positive)."""
    span = (n_frames - 1) * step_nm
    return span / 2.0 - np.arange(n_frames, dtype=np.float64) * step_nm


def _group_mean_var(index, values, n):
    count = np.bincount(index, minlength=n).astype(np.float64)
    total = np.bincount(index, weights=values, minlength=n)
    total2 = np.bincount(index, weights=values * values, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        var = np.maximum(total2 / count - mean * mean, 0.0)
    return mean, var, count


def calibrate(frame, sx, sy, n_frames, step_nm, magnification=DEFAULT_MAGNIFICATION, frame_bounds=None, path=None):
    """Astigmatism calibration from the localizations of a bead z-stack.

    Parameters
    ----------
    frame, sx, sy : array_like
        Frame index and fitted widths (px, free sx and sy) of every localization.
    n_frames : int
        Frames of the z-stack (one frame per z step).
    step_nm : float
        Stage step between frames, nm.
    magnification : float
        Magnification factor stored with the calibration (applied by the z fit).
    frame_bounds : tuple of int, optional
        ``(first, last)`` frames to use, both inclusive (Picasso's meaning).
    path : str, optional
        Where the calibration is saved (recorded under ``Path``).

    Returns
    -------
    calibration : dict
        Picasso's keys (see the module docstring) plus ``Calibrated range (nm)``.
    curves : dict of numpy.ndarray
        Per frame used: ``z_nm`` (stage, relative to the crossing), ``mean_sx``,
        ``mean_sy``, ``std_sx``, ``std_sy`` (px, after the one-sigma selection) and
        ``n_locs``; what the calibration plot shows.

    Raises
    ------
    ValueError
        Fewer than 7 frames with localizations, or curves that do not cross.
    """
    if step_nm <= 0:
        raise ValueError(f"the z step must be positive; got {step_nm} nm")
    frame = np.asarray(frame, dtype=np.int64)
    sx = np.asarray(sx, dtype=np.float64)
    sy = np.asarray(sy, dtype=np.float64)
    n_frames = int(n_frames)
    z_of_frame = frame_positions_nm(n_frames, float(step_nm))
    first, last = (0, n_frames - 1) if frame_bounds is None else (int(frame_bounds[0]), int(frame_bounds[1]))
    keep = (frame >= first) & (frame <= last) & (frame < n_frames) & np.isfinite(sx) & np.isfinite(sy)
    frame, sx, sy = frame[keep], sx[keep], sy[keep]
    # One-sigma selection per frame: drops beads out of focus of the stack, aggregates
    # and fits that caught a neighbour.
    mean_x, var_x, _ = _group_mean_var(frame, sx, n_frames)
    mean_y, var_y, _ = _group_mean_var(frame, sy, n_frames)
    inside = ((sx - mean_x[frame]) ** 2 <= var_x[frame]) & ((sy - mean_y[frame]) ** 2 <= var_y[frame])
    frame, sx, sy = frame[inside], sx[inside], sy[inside]
    mean_x, var_x, count = _group_mean_var(frame, sx, n_frames)
    mean_y, var_y, _ = _group_mean_var(frame, sy, n_frames)
    used = count > 0
    used[:first] = False
    used[last + 1 :] = False
    if used.sum() < DEGREE + 1:
        raise ValueError(
            f"only {int(used.sum())} frames of the z-stack have localizations; the degree-6 "
            "calibration needs at least 7 (lower the minimum net gradient or check the frame bounds)"
        )
    z = z_of_frame[used]
    mx, my = mean_x[used], mean_y[used]
    cx = np.polyfit(z, mx, DEGREE)
    cy = np.polyfit(z, my, DEGREE)
    z_zero = _crossing(cx, cy, z.min(), z.max())
    z = z - z_zero
    cx = np.polyfit(z, mx, DEGREE)
    cy = np.polyfit(z, my, DEGREE)
    calibration = {
        "X Coefficients": [float(c) for c in cx],
        "Y Coefficients": [float(c) for c in cy],
        "Number of frames": n_frames,
        "Step size in nm": float(step_nm),
        "Magnification factor": float(magnification),
        "Path": str(path) if path is not None else "N/A",
        "Frame bounds": None if frame_bounds is None else [first, last],
        RANGE_KEY: [float(z.min()), float(z.max())],
    }
    curves = {
        "z_nm": z,
        "mean_sx": mx,
        "mean_sy": my,
        "std_sx": np.sqrt(var_x[used]),
        "std_sy": np.sqrt(var_y[used]),
        "n_locs": count[used].astype(np.int64),
    }
    return calibration, curves


def _crossing(cx, cy, z_min, z_max):
    """The crossing of the two width polynomials nearest the stack's centre."""
    z = np.linspace(z_min, z_max, 10001)
    diff = np.polyval(cx, z) - np.polyval(cy, z)
    change = np.flatnonzero(np.sign(diff[:-1]) * np.sign(diff[1:]) <= 0)
    if len(change) == 0:
        raise ValueError(
            "the fitted sx(z) and sy(z) curves do not cross within the z-stack; scan a range "
            "that covers both foci (is a cylindrical lens in the beam path?)"
        )
    centre = 0.5 * (z_min + z_max)
    k = change[np.argmin(np.abs(z[change] - centre))]
    d0, d1 = diff[k], diff[k + 1]
    t = 0.5 if d0 == d1 else d0 / (d0 - d1)
    return float(z[k] + t * (z[k + 1] - z[k]))


def coefficients(calibration):
    """``(cx, cy)`` float64 arrays of 7 coefficients, highest power first."""
    try:
        cx = np.asarray(calibration["X Coefficients"], dtype=np.float64)
        cy = np.asarray(calibration["Y Coefficients"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"the z calibration needs X and Y Coefficients ({error})") from None
    if cx.shape != (DEGREE + 1,) or cy.shape != (DEGREE + 1,):
        raise ValueError(f"X and Y Coefficients must hold {DEGREE + 1} numbers each; got {cx.size} and {cy.size}")
    return cx, cy


def calibrated_range(calibration):
    """Stage z range (nm) the z fit searches: the calibrated one, else Picasso's +-1000 nm."""
    value = calibration.get(RANGE_KEY)
    if value is not None and len(value) == 2 and value[0] < value[1]:
        return float(value[0]), float(value[1])
    return DEFAULT_RANGE_NM


def magnification_of(calibration):
    return float(calibration.get("Magnification factor", DEFAULT_MAGNIFICATION))


def calibration_widths(calibration, z_stage_nm):
    """Calibrated ``(wx, wy)`` (px) at stage positions ``z_stage_nm``."""
    cx, cy = coefficients(calibration)
    return np.polyval(cx, z_stage_nm), np.polyval(cy, z_stage_nm)


# -- z fit -----------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, inline="always")
def _root_width(c, z):
    """sqrt(w(z)) and its first two derivatives, w a degree-6 polynomial (Horner)."""
    w = c[0]
    d1 = 0.0
    d2 = 0.0
    for k in range(1, c.shape[0]):
        d2 = d2 * z + 2.0 * d1
        d1 = d1 * z + w
        w = w * z + c[k]
    if w < _W_MIN:
        w = _W_MIN
    r = math.sqrt(w)
    r1 = d1 / (2.0 * r)
    r2 = d2 / (2.0 * r) - d1 * d1 / (4.0 * w * r)
    return r, r1, r2


@numba.njit(cache=True, nogil=True, inline="always")
def _slope(a, b, cx, cy, z):
    """D^2 and its first two derivatives at z for a = sqrt(sx), b = sqrt(sy)."""
    rx, rx1, rx2 = _root_width(cx, z)
    ry, ry1, ry2 = _root_width(cy, z)
    ex = a - rx
    ey = b - ry
    f = ex * ex + ey * ey
    f1 = -2.0 * (ex * rx1 + ey * ry1)
    f2 = 2.0 * (rx1 * rx1 - ex * rx2 + ry1 * ry1 - ey * ry2)
    return f, f1, f2


@numba.njit(cache=True, nogil=True)
def _golden(a, b, cx, cy, lo, hi):
    ratio = 0.6180339887498949
    x1 = hi - ratio * (hi - lo)
    x2 = lo + ratio * (hi - lo)
    f1 = _slope(a, b, cx, cy, x1)[0]
    f2 = _slope(a, b, cx, cy, x2)[0]
    while hi - lo > 1e-3:
        if f1 < f2:
            hi = x2
            x2 = x1
            f2 = f1
            x1 = hi - ratio * (hi - lo)
            f1 = _slope(a, b, cx, cy, x1)[0]
        else:
            lo = x1
            x1 = x2
            f1 = f2
            x2 = lo + ratio * (hi - lo)
            f2 = _slope(a, b, cx, cy, x2)[0]
    return 0.5 * (lo + hi)


@numba.njit(parallel=True, cache=True, nogil=True)
def _fit_z_kernel(sx, sy, sx_unc, sy_unc, with_lpz, cx, cy, grid_z, grid_rx, grid_ry, z_out, d_out, lpz_out):
    n = sx.shape[0]
    g = grid_z.shape[0]
    lo_range = grid_z[0]
    hi_range = grid_z[g - 1]
    h = grid_z[1] - grid_z[0]
    for i in prange(n):
        if not (sx[i] > 0.0 and sy[i] > 0.0):
            z_out[i] = np.nan
            d_out[i] = np.nan
            lpz_out[i] = np.nan
            continue
        a = math.sqrt(sx[i])
        b = math.sqrt(sy[i])
        # Coarse search on the precomputed curve: finds the global minimum's basin.
        best = 0
        best_f = 1e300
        for k in range(g):
            ex = a - grid_rx[k]
            ey = b - grid_ry[k]
            f = ex * ex + ey * ey
            if f < best_f:
                best_f = f
                best = k
        z = grid_z[best]
        lo = max(lo_range, z - h)
        hi = min(hi_range, z + h)
        f_lo, f1_lo, _ = _slope(a, b, cx, cy, lo)
        f_hi, f1_hi, _ = _slope(a, b, cx, cy, hi)
        if f1_lo >= 0.0 and lo == lo_range:
            z = lo
        elif f1_hi <= 0.0 and hi == hi_range:
            z = hi
        elif f1_lo < 0.0 and f1_hi > 0.0:
            # Safeguarded Newton on dD^2/dz inside the bracket [lo, hi].
            for _ in range(40):
                f, f1, f2 = _slope(a, b, cx, cy, z)
                if f1 < 0.0:
                    lo = z
                else:
                    hi = z
                if f2 > 0.0:
                    z_new = z - f1 / f2
                    if not (lo < z_new < hi):
                        z_new = 0.5 * (lo + hi)
                else:
                    z_new = 0.5 * (lo + hi)
                step = abs(z_new - z)
                z = z_new
                if step < 1e-4:
                    break
        else:
            # No sign change of the slope across the bracket (a non-convex stretch):
            # golden-section search of D^2 itself.
            z = _golden(a, b, cx, cy, lo, hi)
        f, _, _ = _slope(a, b, cx, cy, z)
        z_out[i] = z
        d_out[i] = math.sqrt(max(f, 0.0))
        if with_lpz:
            # error propagation of the widths' uncertainties (module docstring)
            _, tx, _ = _root_width(cx, z)
            _, ty, _ = _root_width(cy, z)
            ex = sx_unc[i] / (2.0 * a)
            ey = sy_unc[i] / (2.0 * b)
            lpz_out[i] = math.sqrt(tx * tx * ex * ex + ty * ty * ey * ey) / (tx * tx + ty * ty)


def fit_z(sx, sy, calibration, z_range_nm=None, grid_step_nm=GRID_STEP_NM):
    """z of localizations from their widths and a calibration.

    Parameters
    ----------
    sx, sy : array_like
        Fitted widths, px.
    calibration : dict
        With ``X Coefficients``, ``Y Coefficients`` and ``Magnification factor``.
    z_range_nm : tuple of float, optional
        Stage range searched; default :func:`calibrated_range`.
    grid_step_nm : float
        Spacing of the coarse search before the Newton refinement.

    Returns
    -------
    z_nm : numpy.ndarray
        Sample z (stage z times the magnification factor), nm; NaN for invalid widths.
    d_zcalib : numpy.ndarray
        Distance to the calibration curve, in sqrt(px).
    z_stage_nm : numpy.ndarray
        The minimiser on the calibration's own axis.
    """
    z, d, _ = _fit(sx, sy, None, None, calibration, z_range_nm, grid_step_nm)
    return z * magnification_of(calibration), d, z


def _fit(sx, sy, sx_unc, sy_unc, calibration, z_range_nm=None, grid_step_nm=GRID_STEP_NM):
    """Stage z, d_zcalib and (with uncertainties) stage lpz, in one parallel kernel."""
    cx, cy = coefficients(calibration)
    lo, hi = z_range_nm if z_range_nm is not None else calibrated_range(calibration)
    n_grid = max(3, int(math.ceil((hi - lo) / grid_step_nm)) + 1)
    grid_z = np.linspace(lo, hi, n_grid)
    wx = np.maximum(np.polyval(cx, grid_z), _W_MIN)
    wy = np.maximum(np.polyval(cy, grid_z), _W_MIN)
    sx = np.ascontiguousarray(sx, dtype=np.float64).ravel()
    sy = np.ascontiguousarray(sy, dtype=np.float64).ravel()
    with_lpz = sx_unc is not None
    if with_lpz:
        sx_unc = np.ascontiguousarray(np.broadcast_to(sx_unc, sx.shape), dtype=np.float64)
        sy_unc = np.ascontiguousarray(np.broadcast_to(sy_unc, sy.shape), dtype=np.float64)
    else:
        sx_unc = sy_unc = sx
    z = np.empty(len(sx))
    d = np.empty(len(sx))
    lpz = np.full(len(sx), np.nan)
    if len(sx):
        _fit_z_kernel(sx, sy, sx_unc, sy_unc, with_lpz, cx, cy, grid_z, np.sqrt(wx), np.sqrt(wy), z, d, lpz)
    return z, d, lpz


def z_precision(z_stage_nm, sx, sy, sx_unc, sy_unc, calibration):
    """lpz (nm, sample) by error propagation of the width uncertainties (module docstring)."""
    cx, cy = coefficients(calibration)
    z = np.asarray(z_stage_nm, dtype=np.float64)
    sx = np.asarray(sx, dtype=np.float64)
    sy = np.asarray(sy, dtype=np.float64)
    wx = np.maximum(np.polyval(cx, z), _W_MIN)
    wy = np.maximum(np.polyval(cy, z), _W_MIN)
    tx = np.polyval(np.polyder(cx), z) / (2 * np.sqrt(wx))
    ty = np.polyval(np.polyder(cy), z) / (2 * np.sqrt(wy))
    with np.errstate(invalid="ignore", divide="ignore"):
        ex = np.asarray(sx_unc, dtype=np.float64) / (2 * np.sqrt(sx))
        ey = np.asarray(sy_unc, dtype=np.float64) / (2 * np.sqrt(sy))
        t2 = tx * tx + ty * ty
        lpz = np.sqrt(tx * tx * ex * ex + ty * ty * ey * ey) / t2
    return lpz * magnification_of(calibration)


def add_z(locs, calibration, sx_unc=None, sy_unc=None):
    """Fill ``z``, ``d_zcalib`` and ``lpz`` of a localization table in place.

    ``sx_unc``/``sy_unc`` default to the table's fields of those names (MLE fits).
    Returns ``locs``.
    """
    sx_unc = locs["sx_unc"] if sx_unc is None else sx_unc
    sy_unc = locs["sy_unc"] if sy_unc is None else sy_unc
    z, d, lpz = _fit(locs["sx"], locs["sy"], sx_unc, sy_unc, calibration)
    magnification = magnification_of(calibration)
    locs["z"] = z * magnification
    locs["d_zcalib"] = d
    locs["lpz"] = lpz * magnification
    return locs


def filter_z(locs, max_rms_factor=2.0):
    """Keep localizations with ``d_zcalib <= max_rms_factor * rms(d_zcalib)``.

    Off-curve widths come from overlapping emitters or fits that went astray; Picasso
    applies the same rule after its z fit (factor 2). ``max_rms_factor <= 0`` keeps all.
    """
    if max_rms_factor <= 0 or len(locs) == 0:
        return locs
    d = locs["d_zcalib"].astype(np.float64)
    rms = np.sqrt(np.nanmean(d * d))
    return locs[d <= max_rms_factor * rms]


# -- width uncertainties for fits without a Fisher information (least squares) ------
@numba.njit(cache=True, nogil=True)
def _fisher_2d(theta, box, work, J, info):
    """Poisson Fisher information of the integrated Gaussian (x, y, N, bg, sx, sy)."""
    x, y, N, bg, sx, sy = theta[0], theta[1], theta[2], theta[3], theta[4], theta[5]
    _axis_terms(box, x, sx, work[0], work[1], work[2])
    _axis_terms(box, y, sy, work[3], work[4], work[5])
    for a in range(6):
        for b in range(6):
            info[a, b] = 0.0
    for j in range(box):
        for i in range(box):
            g = work[0, i] * work[3, j]
            mu = max(N * g + bg, 1e-9)
            J[0] = N * work[1, i] * work[3, j]
            J[1] = N * work[0, i] * work[4, j]
            J[2] = g
            J[3] = 1.0
            J[4] = N * work[2, i] * work[3, j]
            J[5] = N * work[0, i] * work[5, j]
            for a in range(6):
                for b in range(a, 6):
                    info[a, b] += J[a] * J[b] / mu
    for a in range(6):
        for b in range(a):
            info[a, b] = info[b, a]


@numba.njit(parallel=True, cache=True, nogil=True)
def _sigma_crlb_kernel(theta, box, out):
    n = theta.shape[0]
    for s in prange(n):
        work = np.empty((6, box), dtype=np.float64)
        J = np.empty(6, dtype=np.float64)
        info = np.empty((6, 6), dtype=np.float64)
        L = np.zeros((6, 6), dtype=np.float64)
        e = np.empty(6, dtype=np.float64)
        x = np.empty(6, dtype=np.float64)
        _fisher_2d(theta[s], box, work, J, info)
        if not _cholesky(info, 6, L):
            out[s, 0] = np.nan
            out[s, 1] = np.nan
            continue
        for k in range(2):
            for a in range(6):
                e[a] = 1.0 if a == 4 + k else 0.0
            _cholesky_solve(L, 6, e, x)
            out[s, k] = x[4 + k]


def sigma_crlb(x, y, photons, bg, sx, sy, box):
    """CRLB variances of sx and sy (px^2) of the integrated Gaussian at given parameters.

    ``x``, ``y`` are relative to the box centre. Used for the z precision of least-squares
    fits, which report no Fisher information: it is the bound a Poisson MLE would reach,
    so lpz of ``lq-3d`` is optimistic by the least-squares inefficiency (15-30 %).
    Returns an ``(n, 2)`` array.
    """
    theta = np.column_stack([np.asarray(v, dtype=np.float64) for v in (x, y, photons, bg, sx, sy)])
    theta[:, 3] = np.maximum(theta[:, 3], 1e-3)
    out = np.empty((len(theta), 2))
    if len(theta):
        _sigma_crlb_kernel(np.ascontiguousarray(theta), int(box), out)
    return out
