"""Cubic-spline PSF models (Li et al. 2018, Nature Methods): coefficients, evaluation, fits.

A PSF volume sampled on the integer grid (x columns, y rows, z slices) is represented by
the tensor product of 1-D natural cubic interpolating splines: 64 coefficients per voxel
interval, ``f(i + u, j + v, k + w) = sum c[k, j, i, p, q, r] w^p v^q u^r``. The array
``coeff`` here is ``(niz, niy, nix, 4, 4, 4)`` (z, y, x powers), which is exactly the C-order
buffer of Picasso 0.11's ``coefficients`` dataset (nominal shape ``(64, nix, niy, niz)``).
A 2-D model is a 3-D one with one z interval whose z powers above 0 are zero.

The model of a spot (``box x box`` pixels, pixel ``(j, i)``) is

    mu = photons / photon_scale * f(i - x + c, j - y + c, z) + bg,

with ``x, y`` the emitter's offset from the box centre (px), ``c = (box - 1) / 2`` the
template's centre and ``z`` the spline's native axial coordinate (slice index). The fit
maximises the Poisson likelihood (MLE) or minimises the squared residuals (LQ) by
Levenberg-Marquardt with the Fisher information as the curvature; sCMOS readout variance
``v`` enters as ``data + v ~ Poisson(mu + v)`` (Huang et al. 2013). Starts: x, y at the
spot's centroid; z from a comparison of the spot with every slice of the template at the
centroid's whole-pixel shift (linear fit of amplitude and background, cheap: the
template's values at the knots are the data themselves); a fit is started at each of the
best local minima of that profile (at most ``N_STARTS``, ``MIN_START_SEPARATION`` knots
apart, within ``START_CHI2_FACTOR`` of the best) and the highest likelihood wins.
The Cramer-Rao bound is the inverse Fisher matrix at the estimate.
"""

import math

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401
from .gaussfit import damped_solve, inverse_diagonal

N_STARTS = 2
MIN_START_SEPARATION = 10
"""Knots between z starts: nearby local minima of the profile are noise, not the other side of focus."""
START_CHI2_FACTOR = 1.5
"""A further start only where its profile value is within this factor of the best one."""
"""Fits started per spot at the best local minima of the slice-matching profile."""

_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
_MU_MIN = 1e-6


def natural_spline_operator(n):
    """``(n - 1, 4, n)`` operator: data on ``0..n-1`` -> ascending-power coefficients per interval.

    Examples
    --------
    >>> op = natural_spline_operator(3)
    >>> np.allclose(op @ np.array([0.0, 1.0, 2.0]), [[0, 1, 0, 0], [1, 1, 0, 0]])
    True
    """
    if n < 2:
        raise ValueError("a spline needs at least 2 points per axis")
    # second derivatives M (natural: M_0 = M_{n-1} = 0): M_{i-1} + 4 M_i + M_{i+1} = 6 (second difference)
    second = np.zeros((n, n))
    if n > 2:
        a = np.diag(np.full(n - 2, 4.0)) + np.diag(np.ones(n - 3), 1) + np.diag(np.ones(n - 3), -1)
        diff2 = np.zeros((n - 2, n))
        for i in range(n - 2):
            diff2[i, i : i + 3] = (6.0, -12.0, 6.0)
        second[1:-1] = np.linalg.solve(a, diff2)
    eye = np.eye(n)
    op = np.empty((n - 1, 4, n))
    op[:, 0] = eye[:-1]
    op[:, 1] = eye[1:] - eye[:-1] - (2.0 * second[:-1] + second[1:]) / 6.0
    op[:, 2] = second[:-1] / 2.0
    op[:, 3] = (second[1:] - second[:-1]) / 6.0
    return op


def coefficients(volume_zyx):
    """Spline coefficients ``(niz, niy, nix, 4, 4, 4)`` of a ``(nz, ny, nx)`` volume (or ``(ny, nx)``).

    Examples
    --------
    >>> c = coefficients(np.ones((4, 5, 5)))
    >>> c.shape, float(c[..., 0, 0, 0].min())
    ((3, 4, 4, 4, 4, 4), 1.0)
    """
    volume = np.asarray(volume_zyx, dtype=np.float64)
    if volume.ndim == 2:
        ops = [natural_spline_operator(n) for n in volume.shape]
        c2 = np.einsum("jqb,ira,ba->jiqr", ops[0], ops[1], volume, optimize=True)
        out = np.zeros((1, *c2.shape[:2], 4, 4, 4))
        out[0, :, :, 0] = c2
        return out
    oz, oy, ox = (natural_spline_operator(n) for n in volume.shape)
    return np.einsum("kpc,jqb,ira,cba->kjipqr", oz, oy, ox, volume, optimize=True)


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _powers(pos, n_intervals, out):
    """Interval index and ``(u^r, d u^r / du)`` for r = 0..3 (clamped index: extrapolation)."""
    i = int(math.floor(pos))
    if i < 0:
        i = 0
    elif i > n_intervals - 1:
        i = n_intervals - 1
    u = pos - i
    out[0, 0] = 1.0
    out[0, 1] = u
    out[0, 2] = u * u
    out[0, 3] = u * u * u
    out[1, 0] = 0.0
    out[1, 1] = 1.0
    out[1, 2] = 2.0 * u
    out[1, 3] = 3.0 * u * u
    return i


@numba.njit(cache=True, nogil=True)
def evaluate(coeff, box, x, y, z, phi, dx, dy, dz):
    """Template value and derivatives (w.r.t. x, y, z of the emitter) on a ``box x box`` window.

    Examples
    --------
    >>> c = coefficients(np.ones((3, 5, 5)))
    >>> phi, dx, dy, dz = np.empty((4, 3, 3))
    >>> evaluate(c, 3, 0.0, 0.0, 1.0, phi, dx, dy, dz)
    >>> round(float(phi.min()), 9), round(float(abs(dx).max()), 9)
    (1.0, 0.0)
    """
    powers = np.empty((3, box, 2, 4))
    index = np.empty((2, box), dtype=np.int64)
    _evaluate_into(coeff, box, x, y, z, phi, dx, dy, dz, powers, index)


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _evaluate_into(coeff, box, x, y, z, phi, dx, dy, dz, powers, index):
    """:func:`evaluate` in scratch the caller provides: ``powers`` ``(3, >= box, 2, 4)``
    (x, y, z powers of each pixel), ``index`` ``(2, >= box)`` int64 (intervals)."""
    niz, niy, nix = coeff.shape[0], coeff.shape[1], coeff.shape[2]
    centre = 0.5 * (nix - 0.0)  # template centre: (n_data - 1) / 2 = n_intervals / 2
    centre_y = 0.5 * niy
    offset_x = centre - 0.5 * (box - 1)
    offset_y = centre_y - 0.5 * (box - 1)
    pw_z = powers[2, 0]
    zi = _powers(z, niz, pw_z)
    pw_x = powers[0]
    xi = index[0]
    pw_y = powers[1]
    yi = index[1]
    for i in range(box):
        xi[i] = _powers(i - x + offset_x, nix, pw_x[i])
        yi[i] = _powers(i - y + offset_y, niy, pw_y[i])
    for j in range(box):
        for i in range(box):
            c = coeff[zi, yi[j], xi[i]]
            v = 0.0
            vx = 0.0
            vy = 0.0
            vz = 0.0
            for p in range(4):
                sv = 0.0
                sx = 0.0
                sy = 0.0
                for q in range(4):
                    r0 = 0.0
                    r1 = 0.0
                    for r in range(4):
                        r0 += c[p, q, r] * pw_x[i, 0, r]
                        r1 += c[p, q, r] * pw_x[i, 1, r]
                    sv += r0 * pw_y[j, 0, q]
                    sx += r1 * pw_y[j, 0, q]
                    sy += r0 * pw_y[j, 1, q]
                v += sv * pw_z[0, p]
                vx += sx * pw_z[0, p]
                vy += sy * pw_z[0, p]
                vz += sv * pw_z[1, p]
            phi[j, i] = v
            dx[j, i] = -vx  # the template moves with the emitter
            dy[j, i] = -vy
            dz[j, i] = vz


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _terms(spot, extra, coeff, theta, n_params, scale, poisson, work, grad, fisher, jac, powers, index):
    """Objective (log-likelihood or -chi^2, up to constants), gradient and Fisher information.

    Scratch: ``work`` ``(4, box, box)``, ``jac`` (5), ``powers`` and ``index`` (:func:`_evaluate_into`).
    """
    box = spot.shape[0]
    phi = work[0]
    _evaluate_into(coeff, box, theta[0], theta[1], theta[2], phi, work[1], work[2], work[3], powers, index)
    amp = theta[3] / scale
    for a in range(n_params):
        grad[a] = 0.0
        for b in range(n_params):
            fisher[a, b] = 0.0
    objective = 0.0
    for j in range(box):
        for i in range(box):
            mu = amp * phi[j, i] + theta[4]
            jac[0] = amp * work[1, j, i]
            jac[1] = amp * work[2, j, i]
            jac[2] = amp * work[3, j, i]
            jac[3] = phi[j, i] / scale
            jac[4] = 1.0
            if n_params == 4:  # 2-D: x, y, photons, bg
                jac[2] = jac[3]
                jac[3] = 1.0
            if poisson:
                m = mu + extra[j, i]
                if m < _MU_MIN:
                    m = _MU_MIN
                d = spot[j, i] + extra[j, i]
                objective += d * math.log(m) - m if d > 0 else -m
                w = d / m - 1.0
                inv = 1.0 / m
            else:
                w = spot[j, i] - mu
                objective -= w * w
                inv = 1.0
            for a in range(n_params):
                grad[a] += w * jac[a]
                for b in range(a + 1):
                    fisher[a, b] += jac[a] * jac[b] * inv
    for a in range(n_params):
        for b in range(a):
            fisher[b, a] = fisher[a, b]
    return objective


@numba.njit(cache=True, nogil=True)
def _pack(theta5, n_params, out):
    # 2-D fits carry (x, y, photons, bg) in the first four places of their own vector
    if n_params == 5:
        for a in range(5):
            out[a] = theta5[a]
    else:
        out[0] = theta5[0]
        out[1] = theta5[1]
        out[2] = theta5[3]
        out[3] = theta5[4]


@numba.njit(cache=True, nogil=True)
def _unpack(p, n_params, z_fixed, out):
    if n_params == 5:
        for a in range(5):
            out[a] = p[a]
    else:
        out[0] = p[0]
        out[1] = p[1]
        out[2] = z_fixed
        out[3] = p[2]
        out[4] = p[3]


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _fit_from(
    spot, extra, coeff, start, n_params, scale, poisson, max_iterations, tolerance, z_max, bg_min, out,
    work, vectors5, vectors, matrices, powers, index,
):  # fmt: skip
    """One Levenberg-Marquardt fit from ``start`` (x, y, z, photons, bg); returns (objective, iterations).

    Scratch the caller provides (the CUDA kernel's is thread-local): ``work`` ``(4, box,
    box)``, ``vectors5`` ``(>= 3, 5)``, ``vectors`` ``(4, n_params)``, ``matrices`` ``(4,
    n_params, n_params)`` whose last one starts zeroed (its upper triangle is never
    written), ``powers`` and ``index`` (:func:`_evaluate_into`).
    """
    box = spot.shape[0]
    half = 0.5 * box
    theta = vectors5[0]
    trial = vectors5[1]
    jac = vectors5[2]
    for a in range(5):
        theta[a] = start[a]
        trial[a] = start[a]
    p = vectors[0]
    delta = vectors[1]
    grad = vectors[2]
    grad_t = vectors[3]
    fisher = matrices[0]
    fisher_t = matrices[1]
    A = matrices[2]
    L = matrices[3]
    objective = _terms(spot, extra, coeff, theta, n_params, scale, poisson, work, grad, fisher, jac, powers, index)
    lam = 1e-3
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        if not damped_solve(fisher, grad, n_params, lam, A, L, delta):
            lam *= 10.0
            if lam > 1e12:
                break
            continue
        _pack(theta, n_params, p)
        for a in range(n_params):
            step = delta[a]
            if a < 3 and n_params == 5 or a < 2:  # positions: at most a pixel (a slice) per step
                step = min(1.0, max(-1.0, step))
            p[a] += step
        _unpack(p, n_params, theta[2], trial)
        trial[0] = min(half, max(-half, trial[0]))
        trial[1] = min(half, max(-half, trial[1]))
        trial[2] = min(z_max, max(0.0, trial[2]))
        trial[3] = max(trial[3], 1.0)
        trial[4] = max(trial[4], bg_min)
        moved = max(abs(trial[0] - theta[0]), abs(trial[1] - theta[1]), abs(trial[2] - theta[2]))
        objective_t = _terms(
            spot, extra, coeff, trial, n_params, scale, poisson, work, grad_t, fisher_t, jac, powers, index
        )
        if objective_t >= objective:
            for a in range(5):
                theta[a] = trial[a]
            for a in range(n_params):
                grad[a] = grad_t[a]
                for b in range(n_params):
                    fisher[a, b] = fisher_t[a, b]
            objective = objective_t
            lam = max(lam * 0.1, 1e-9)
            if moved < tolerance:
                break
        else:
            lam *= 10.0
            if lam > 1e12:
                break
    for a in range(5):
        out[a] = theta[a]
    return objective, iterations


@numba.njit(cache=True, nogil=True)
def _crlb(spot, extra, coeff, theta, n_params, scale, out, work, jac, vectors, matrices, powers, index):
    """Diagonal of the inverse Poisson Fisher matrix at ``theta`` (x, y, z, photons, bg order).

    Scratch as :func:`_fit_from`'s (``jac``: 5); the last of ``matrices`` has a zero upper
    triangle.
    """
    grad = vectors[0]
    unit = vectors[1]
    col = vectors[2]
    diag = vectors[3]
    fisher = matrices[0]
    L = matrices[3]
    _terms(spot, extra, coeff, theta, n_params, scale, True, work, grad, fisher, jac, powers, index)
    inverse_diagonal(fisher, n_params, L, unit, col, diag)
    _unpack(diag, n_params, np.nan, out)


@numba.njit(cache=True, nogil=True)
def near(k, starts, found):
    for t in range(found):
        if abs(k - starts[t]) < MIN_START_SEPARATION:
            return True
    return False


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _z_starts(spot, knots, knot_sums, n_starts, starts_z, starts_photons, starts_bg, scale, profile, used):
    """Best local minima of the least-squares match of the spot to each template slice.

    ``knot_sums[k] = (sum t, sum t^2)`` of slice ``k``; the residual of the linear fit
    ``spot ~ a t + b`` is ``S_dd - a S_td - b S_d`` (no second pass over the pixels).
    Scratch: ``profile`` ``(3, >= nz)``, ``used`` (bool, ``>= nz``).
    """
    nz, box, _ = knots.shape
    n = box * box
    sd = 0.0
    sdd = 0.0
    for j in range(box):
        for i in range(box):
            sd += spot[j, i]
            sdd += spot[j, i] * spot[j, i]
    chi = profile[0]
    amps = profile[1]
    offs = profile[2]
    for k in range(nz):
        used[k] = False
        std = 0.0
        for j in range(box):
            for i in range(box):
                std += knots[k, j, i] * spot[j, i]
        st = knot_sums[k, 0]
        det = n * knot_sums[k, 1] - st * st
        a = (n * std - st * sd) / det if det > 0 else 0.0
        if a < 0:
            a = 0.0
        b = (sd - a * st) / n
        chi[k] = sdd - 2.0 * a * std - 2.0 * b * sd + a * a * knot_sums[k, 1] + 2.0 * a * b * st + n * b * b
        amps[k] = a
        offs[k] = b
    found = 0
    while found < n_starts:
        best = -1
        for k in range(nz):
            if used[k]:
                continue
            left = chi[k - 1] if k > 0 else np.inf
            right = chi[k + 1] if k < nz - 1 else np.inf
            if not (chi[k] <= left and chi[k] <= right):
                continue
            if found > 0 and (chi[k] > START_CHI2_FACTOR * chi[int(starts_z[0])] or near(k, starts_z, found)):
                continue
            if best < 0 or chi[k] < chi[best]:
                best = k
        if best < 0:
            break
        used[best] = True
        starts_z[found] = best
        starts_photons[found] = max(amps[best] * scale, 1.0)
        starts_bg[found] = offs[best]
        found += 1
    if found == 0:
        starts_z[0] = nz // 2
        starts_photons[0] = max(sd, 1.0)
        starts_bg[0] = 0.0
        found = 1
    return found


@numba.njit(cache=True, nogil=True)
def _centroid(spot):
    """Intensity centroid (x, y) from the box centre above the mean of the border pixels."""
    box = spot.shape[0]
    border = 0.0
    for i in range(box):
        border += spot[0, i] + spot[box - 1, i] + spot[i, 0] + spot[i, box - 1]
    bg = border / (4 * box)
    c = 0.5 * (box - 1)
    total = 0.0
    sx = 0.0
    sy = 0.0
    for j in range(box):
        for i in range(box):
            w = spot[j, i] - bg
            if w > 0:
                total += w
                sx += w * (i - c)
                sy += w * (j - c)
    if total <= 0:
        return 0.0, 0.0
    return sx / total, sy / total


@numba.njit(cache=True, nogil=True)
def _knot_sums(knots, box):
    """``(sum t, sum t^2)`` of each slice's box-sized window, for every whole-pixel shift:
    ``(shifts, shifts, nz, 2)``."""
    nz = knots.shape[0]
    shifts = knots.shape[1] - box + 1
    knot_sums = np.empty((shifts, shifts, nz, 2))
    for a in range(shifts):
        for b in range(shifts):
            for k in range(nz):
                window = knots[k, a : a + box, b : b + box]
                knot_sums[a, b, k, 0] = window.sum()
                knot_sums[a, b, k, 1] = (window * window).sum()
    return knot_sums


@numba.njit(cache=True, nogil=True)
def _fit_spot(
    spot, extra, bg_min, coeff, knots, knot_sums, scale, z_focus, n_params, poisson, max_iterations, tolerance,
    theta_out, crlb_out, starts, profile, used, work, vectors5, vectors, matrices, powers, index,
):  # fmt: skip
    """One spot: z starts, a fit from each, the best one's parameters and CRLB into
    ``theta_out``, ``crlb_out``; returns (objective, iterations of all starts).

    Scratch the caller provides (the CUDA kernel's is thread-local): ``starts`` ``(3,
    N_STARTS)``, ``profile`` and ``used`` (:func:`_z_starts`), ``vectors5`` ``(5, 5)``, the
    rest as :func:`_fit_from` takes them.
    """
    box = spot.shape[0]
    z_max = float(knots.shape[0] - 1)
    margin = (knots.shape[1] - box) // 2
    sz = starts[0]
    sp = starts[1]
    sb = starts[2]
    # lateral start: the centroid; the slice match at its whole-pixel shift (within the
    # template's margin beyond the box)
    cx, cy = _centroid(spot)
    ix = min(margin, max(-margin, int(round(cx))))
    iy = min(margin, max(-margin, int(round(cy))))
    a = margin - iy
    b = margin - ix
    window = knots[:, a : a + box, b : b + box]
    if n_params == 5:
        found = _z_starts(spot, window, knot_sums[a, b], N_STARTS, sz, sp, sb, scale, profile, used)
    else:
        found = _z_starts(
            spot, window[z_focus : z_focus + 1], knot_sums[a, b, z_focus : z_focus + 1], 1, sz, sp, sb, scale,
            profile, used,
        )  # fmt: skip
        sz[0] = z_focus
    start = vectors5[3]
    result = vectors5[4]
    best = -np.inf
    total = 0
    half = 0.5 * box - 1.0
    for t in range(found):
        start[0] = min(half, max(-half, cx))
        start[1] = min(half, max(-half, cy))
        start[2] = sz[t]
        start[3] = sp[t]
        start[4] = max(sb[t], bg_min)
        obj, it = _fit_from(
            spot, extra, coeff, start, n_params, scale, poisson, max_iterations, tolerance, z_max, bg_min, result,
            work, vectors5, vectors, matrices, powers, index,
        )  # fmt: skip
        total += it
        if obj > best or t == 0:
            best = obj
            for c in range(5):
                theta_out[c] = result[c]
    _crlb(spot, extra, coeff, theta_out, n_params, scale, crlb_out, work, vectors5[2], vectors, matrices, powers, index)
    return best, total


@numba.njit(parallel=True, cache=True, nogil=True)
def _fit_spots(spots, extras, has_extra, coeff, knots, scale, z_focus, n_params, poisson, max_iterations, tolerance):
    n, box, _ = spots.shape
    theta = np.empty((n, 5))
    crlb = np.empty((n, 5))
    objective = np.empty(n)
    iterations = np.empty(n, dtype=np.int32)
    nz = knots.shape[0]
    knot_sums = _knot_sums(knots, box)
    for s in prange(n):
        extra = extras[s] if has_extra else extras[0]
        bg_min = 1e-3 - extra.min() if has_extra else 1e-3
        # the spot's scratch: allocated here once, the inner functions only fill it
        best, total = _fit_spot(
            spots[s], extra, bg_min, coeff, knots, knot_sums, scale, z_focus, n_params, poisson, max_iterations,
            tolerance, theta[s], crlb[s], np.empty((3, N_STARTS)), np.empty((3, nz)), np.empty(nz, dtype=np.bool_),
            np.empty((4, box, box)), np.empty((5, 5)), np.empty((4, n_params)),
            np.zeros((4, n_params, n_params)), np.empty((3, box, 2, 4)), np.empty((2, box), dtype=np.int64),
        )  # fmt: skip
        objective[s] = best
        iterations[s] = total
    return theta, crlb, objective, iterations


@numba.njit(parallel=True, cache=True, nogil=True)
def _log_factorials(spots, extras, has_extra):
    n, box, _ = spots.shape
    out = np.zeros(n)
    for s in prange(n):
        for j in range(box):
            for i in range(box):
                v = spots[s, j, i] + (extras[s, j, i] if has_extra else 0.0)
                if v > 0:
                    out[s] += math.lgamma(v + 1.0)
    return out


def knot_values(coeff):
    """The template at its knots, ``(nz, ny, nx)``: the data the spline interpolates.

    Examples
    --------
    >>> vol = np.arange(27.0).reshape(3, 3, 3)
    >>> bool(np.allclose(knot_values(coefficients(vol)), vol))
    True
    """
    c = np.asarray(coeff, dtype=np.float64)
    weights, index = [], []
    for n in c.shape[:3]:
        i = np.minimum(np.arange(n + 1), n - 1)
        u = np.arange(n + 1) - i  # 0 inside, 1 at the far end
        weights.append(u[:, None] ** np.arange(4)[None, :] if n else None)
        index.append(i)
    block = c[index[0]][:, index[1]][:, :, index[2]]
    return np.einsum("kjipqr,kp,jq,ir->kji", block, *weights, optimize=True)


def fit_spline(
    spots,
    coeff,
    *,
    photon_scale=1.0,
    z_focus=0,
    three_d=True,
    mle=True,
    max_iterations=100,
    tolerance=1e-3,
    extra_variance=None,
    knots=None,
):
    """Fit spots with a cubic-spline PSF: x, y (px from the box centre), z (slice), photons, bg.

    Parameters
    ----------
    spots : numpy.ndarray
        ``(n, box, box)`` photons; the template is as wide or wider (by an even number of
        pixels: then emitters off the box centre meet template data, not extrapolation).
    coeff : numpy.ndarray
        ``(niz, niy, nix, 4, 4, 4)`` coefficients (:func:`coefficients`).
    photon_scale : float
        Photons per unit amplitude of the template (sum of its in-focus slice).
    z_focus : int
        Slice of the in-focus template (the fixed z of 2-D fits).
    three_d, mle : bool
        Fit z (else x, y, photons, bg at ``z_focus``); Poisson likelihood (else least squares).
    extra_variance : numpy.ndarray, optional
        ``(n, box, box)`` readout variance (photons^2), sCMOS.
    knots : numpy.ndarray, optional
        :func:`knot_values` of ``coeff`` (computed when not given; pass it to reuse).

    Returns
    -------
    dict
        ``x, y, z, photons, bg``, their CRLB variances ``crlb_*`` (px^2, slices^2,
        photons^2), ``log_likelihood`` (full Poisson) and ``iterations``.

    Examples
    --------
    >>> yy, xx = np.mgrid[-3:4, -3:4]
    >>> vol = np.stack([np.exp(-(xx**2 + yy**2 * w) / 2) for w in (0.5, 0.7, 1.0, 1.4, 2.0)])
    >>> spot = 1000 * vol[2] / vol[2].sum() + 10
    >>> out = fit_spline(spot[None], coefficients(vol), photon_scale=vol[2].sum())
    >>> round(float(out["z"][0]), 3), round(float(out["photons"][0]))
    (2.0, 1000)
    """
    return fit_spline_with(
        _fit_spots,
        spots,
        coeff,
        photon_scale=photon_scale,
        z_focus=z_focus,
        three_d=three_d,
        mle=mle,
        max_iterations=max_iterations,
        tolerance=tolerance,
        extra_variance=extra_variance,
        knots=knots,
    )


def fit_spline_with(
    fit_spots,
    spots,
    coeff,
    *,
    photon_scale=1.0,
    z_focus=0,
    three_d=True,
    mle=True,
    max_iterations=100,
    tolerance=1e-3,
    extra_variance=None,
    knots=None,
):
    """:func:`fit_spline` with the kernel ``fit_spots`` (this module's or the GPU's).

    ``fit_spots(spots, extras, has_extra, coeff, knots, scale, z_focus, n_params, poisson,
    max_iterations, tolerance) -> (theta, crlb, objective, iterations)`` fits the checked
    float64 arrays; this function checks the inputs and names the outputs.

    Examples
    --------
    >>> vol = np.ones((3, 5, 5))
    >>> out = fit_spline_with(_fit_spots, np.zeros((0, 5, 5)), coefficients(vol))
    >>> len(out["x"])
    0
    """
    spots = np.ascontiguousarray(spots, dtype=np.float64)
    if spots.ndim != 3 or spots.shape[1] != spots.shape[2]:
        raise ValueError("spots must be (n, box, box)")
    coeff = np.ascontiguousarray(coeff, dtype=np.float64)
    box = spots.shape[1]
    size = coeff.shape[2] + 1
    if coeff.shape[1] != coeff.shape[2] or size < box or (size - box) % 2:
        raise ValueError(f"the spline's box is {size} px, the spots' {box} px")
    if knots is None:
        knots = knot_values(coeff)
    knots = np.ascontiguousarray(knots, dtype=np.float64)
    has_extra = extra_variance is not None
    if has_extra:
        extras = np.ascontiguousarray(np.broadcast_to(extra_variance, spots.shape), dtype=np.float64)
    else:
        extras = np.zeros((1, box, box))
    n_params = 5 if three_d else 4
    if len(spots) == 0:
        theta = np.empty((0, 5))
        crlb = np.empty((0, 5))
        objective = np.empty(0)
        iterations = np.empty(0, dtype=np.int32)
    else:
        theta, crlb, objective, iterations = fit_spots(
            spots,
            extras,
            has_extra,
            coeff,
            knots,
            float(photon_scale),
            int(z_focus),
            n_params,
            bool(mle),
            int(max_iterations),
            float(tolerance),
        )
    out = {key: theta[:, a] for a, key in enumerate(("x", "y", "z", "photons", "bg"))}
    out.update({f"crlb_{key}": crlb[:, a] for a, key in enumerate(("x", "y", "z", "photons", "bg"))})
    if mle and len(spots):
        objective = objective - _log_factorials(spots, extras, has_extra)
    out["log_likelihood"] = objective
    out["iterations"] = iterations
    return out
