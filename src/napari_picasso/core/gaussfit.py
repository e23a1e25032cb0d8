"""Batched Gaussian fitters: maximum likelihood (``mle``) and least squares (``lq``).

Both fit the pixel-integrated Gaussian PSF (Smith et al. 2010)

    mu_k = N * dEx_k * dEy_k + bg,

where dEx_k, dEy_k integrate a unit Gaussian of width sx, sy over pixel k (differences of
erf at the pixel edges), to every ``box x box`` spot of photons. Parameters are
``x, y`` (px, relative to the box centre), ``N`` (photons), ``bg`` (photons per pixel)
and ``sx, sy`` (px), or one shared sigma.

One Levenberg-Marquardt kernel serves both: ``mle`` maximises the Poisson
log-likelihood with Fisher scoring (curvature = Fisher information, sum J J^T / mu);
``lq`` minimises the sum of squared residuals (curvature J^T J). A step is accepted when
it improves the objective, otherwise the damping grows. Iteration stops when an
accepted step moves x and y by less than ``tolerance_px`` or after ``max_iterations``.
Spots are fitted in parallel (numba ``prange``).

sCMOS (Huang et al. 2013): ``fit_mle(..., extra_variance=v)`` takes a per-pixel variance
``v`` (photons^2) of noise outside the Poisson model (readout variance / gain^2) and adds
it to both model and data, mu_k + v_k against d_k + v_k, so that noisy pixels weigh
less; the Fisher information (and so the CRLB) uses mu_k + v_k. Without it the kernel
runs the plain path.
"""

import math

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SIGMA_MIN_PX = 0.2
_MU_MIN = 1e-9
_BG_MIN_MLE = 1e-3


@numba.njit(cache=True, nogil=True, inline="always")
def _axis_terms(box, mu, sigma, E, dE_dmu, dE_dsigma):
    """Pixel integrals of a unit Gaussian along one axis and their derivatives."""
    r = box // 2
    inv = _INV_SQRT2 / sigma
    two_var = 2.0 * sigma * sigma
    u_prev = -r - 0.5 - mu
    erf_prev = math.erf(u_prev * inv)
    exp_prev = math.exp(-u_prev * u_prev / two_var)
    c_mu = -_INV_SQRT_2PI / sigma
    c_sigma = -_INV_SQRT_2PI / (sigma * sigma)
    for i in range(box):
        u = i - r + 0.5 - mu
        erf_u = math.erf(u * inv)
        exp_u = math.exp(-u * u / two_var)
        E[i] = 0.5 * (erf_u - erf_prev)
        dE_dmu[i] = c_mu * (exp_u - exp_prev)
        dE_dsigma[i] = c_sigma * (u * exp_u - u_prev * exp_prev)
        u_prev = u
        erf_prev = erf_u
        exp_prev = exp_u


@numba.njit(cache=True, nogil=True)
def _evaluate(spot, box, theta, n_params, poisson, work, grad, curv, extra, has_extra):
    """Objective at theta (log-likelihood or minus the squared residuals).

    Fills ``grad`` (ascent direction) and ``curv`` (Fisher information or J^T J).
    """
    Ex = work[0]
    dEx = work[1]
    dSx = work[2]
    Ey = work[3]
    dEy = work[4]
    dSy = work[5]
    J = work[6]
    x = theta[0]
    y = theta[1]
    N = theta[2]
    bg = theta[3]
    sx = theta[4]
    sy = theta[4] if n_params == 5 else theta[5]
    _axis_terms(box, x, sx, Ex, dEx, dSx)
    _axis_terms(box, y, sy, Ey, dEy, dSy)
    for a in range(n_params):
        grad[a] = 0.0
        for b in range(n_params):
            curv[a, b] = 0.0
    objective = 0.0
    for j in range(box):
        for i in range(box):
            g = Ex[i] * Ey[j]
            mu = N * g + bg
            d = spot[j, i]
            if has_extra:
                mu += extra[j, i]
                d += extra[j, i]
            if poisson:
                if mu < _MU_MIN:
                    mu = _MU_MIN
                objective += d * math.log(mu) - mu
                weight = 1.0 / mu
                residual = d / mu - 1.0
            else:
                res = d - mu
                objective -= res * res
                weight = 1.0
                residual = res
            J[0] = N * dEx[i] * Ey[j]
            J[1] = N * Ex[i] * dEy[j]
            J[2] = g
            J[3] = 1.0
            if n_params == 5:
                J[4] = N * (dSx[i] * Ey[j] + Ex[i] * dSy[j])
            else:
                J[4] = N * dSx[i] * Ey[j]
                J[5] = N * Ex[i] * dSy[j]
            for a in range(n_params):
                grad[a] += residual * J[a]
                wa = weight * J[a]
                for b in range(a, n_params):
                    curv[a, b] += wa * J[b]
    for a in range(n_params):
        for b in range(a):
            curv[a, b] = curv[b, a]
    return objective


@numba.njit(cache=True, nogil=True)
def _cholesky(A, n, L):
    for j in range(n):
        s = A[j, j]
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if not s > 0.0:
            return False
        L[j, j] = math.sqrt(s)
        for i in range(j + 1, n):
            t = A[i, j]
            for k in range(j):
                t -= L[i, k] * L[j, k]
            L[i, j] = t / L[j, j]
    return True


@numba.njit(cache=True, nogil=True)
def _cholesky_solve(L, n, b, out):
    for i in range(n):
        t = b[i]
        for k in range(i):
            t -= L[i, k] * out[k]
        out[i] = t / L[i, i]
    for i in range(n - 1, -1, -1):
        t = out[i]
        for k in range(i + 1, n):
            t -= L[k, i] * out[k]
        out[i] = t / L[i, i]


@numba.njit(cache=True, nogil=True)
def _initial_theta(spot, box, theta, n_params):
    """Start: background from the dimmest 3x3 mean, centroid, second moments."""
    r = box // 2
    bg = 1e30
    for j in range(1, box - 1):
        for i in range(1, box - 1):
            s = 0.0
            for dj in range(-1, 2):
                for di in range(-1, 2):
                    s += spot[j + dj, i + di]
            if s / 9.0 < bg:
                bg = s / 9.0
    total = 0.0
    mx = 0.0
    my = 0.0
    for j in range(box):
        for i in range(box):
            w = spot[j, i] - bg
            if w > 0:
                total += w
                mx += w * (i - r)
                my += w * (j - r)
    if total <= 0:
        total = 1.0
        mx = 0.0
        my = 0.0
    mx /= total
    my /= total
    vx = 0.0
    vy = 0.0
    for j in range(box):
        for i in range(box):
            w = spot[j, i] - bg
            if w > 0:
                vx += w * (i - r - mx) ** 2
                vy += w * (j - r - my) ** 2
    sx = math.sqrt(vx / total) if vx > 0 else 1.0
    sy = math.sqrt(vy / total) if vy > 0 else 1.0
    upper = max(0.6, r / 1.5)
    sx = min(max(sx, 0.6), upper)
    sy = min(max(sy, 0.6), upper)
    theta[0] = mx
    theta[1] = my
    theta[2] = max(total, 1.0)
    theta[3] = max(bg, _BG_MIN_MLE)
    if n_params == 5:
        theta[4] = math.sqrt(sx * sy)
    else:
        theta[4] = sx
        theta[5] = sy


@numba.njit(cache=True, nogil=True)
def _constrain(theta, n_params, box, poisson, bg_min):
    limit = box // 2 + 0.5
    for a in range(2):
        if theta[a] < -limit:
            theta[a] = -limit
        elif theta[a] > limit:
            theta[a] = limit
    if theta[2] < 1e-3:
        theta[2] = 1e-3
    if poisson and theta[3] < bg_min:
        theta[3] = bg_min
    for a in range(4, n_params):
        if theta[a] < _SIGMA_MIN_PX:
            theta[a] = _SIGMA_MIN_PX
        elif theta[a] > box:
            theta[a] = box


@numba.njit(cache=True, nogil=True)
def _fit_one(spot, box, n_params, poisson, max_iterations, tolerance, theta_out, crlb_out, extra, has_extra):
    work = np.empty((7, box), dtype=np.float64)
    theta = np.empty(n_params, dtype=np.float64)
    trial = np.empty(n_params, dtype=np.float64)
    grad = np.empty(n_params, dtype=np.float64)
    grad_t = np.empty(n_params, dtype=np.float64)
    curv = np.empty((n_params, n_params), dtype=np.float64)
    curv_t = np.empty((n_params, n_params), dtype=np.float64)
    A = np.empty((n_params, n_params), dtype=np.float64)
    L = np.zeros((n_params, n_params), dtype=np.float64)
    delta = np.empty(n_params, dtype=np.float64)
    _initial_theta(spot, box, theta, n_params)
    bg_min = _BG_MIN_MLE
    if has_extra:
        # mu + extra must stay positive, not bg itself: a subtracted background or
        # readout variance lets the fitted background go below zero.
        bg_min = _BG_MIN_MLE - extra.min()
        if theta[3] < bg_min:
            theta[3] = bg_min
    objective = _evaluate(spot, box, theta, n_params, poisson, work, grad, curv, extra, has_extra)
    lam = 1e-3
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        for a in range(n_params):
            for b in range(n_params):
                A[a, b] = curv[a, b]
            A[a, a] *= 1.0 + lam
        if not _cholesky(A, n_params, L):
            lam *= 10.0
            if lam > 1e12:
                break
            continue
        _cholesky_solve(L, n_params, grad, delta)
        for a in range(2):  # no jump by more than a pixel per step
            if delta[a] > 1.0:
                delta[a] = 1.0
            elif delta[a] < -1.0:
                delta[a] = -1.0
        for a in range(n_params):
            trial[a] = theta[a] + delta[a]
        _constrain(trial, n_params, box, poisson, bg_min)
        objective_t = _evaluate(spot, box, trial, n_params, poisson, work, grad_t, curv_t, extra, has_extra)
        if objective_t >= objective:
            step_x = abs(trial[0] - theta[0])
            step_y = abs(trial[1] - theta[1])
            for a in range(n_params):
                theta[a] = trial[a]
                grad[a] = grad_t[a]
                for b in range(n_params):
                    curv[a, b] = curv_t[a, b]
            objective = objective_t
            lam = max(lam * 0.1, 1e-9)
            if step_x < tolerance and step_y < tolerance:
                break
        else:
            lam *= 10.0
            if lam > 1e12:
                break
    for a in range(n_params):
        theta_out[a] = theta[a]
    # CRLB: diagonal of the inverse of the curvature at the optimum. For the Poisson
    # objective the curvature is the Fisher information, so these are the MLE's CRLB.
    if _cholesky(curv, n_params, L):
        for k in range(n_params):
            for a in range(n_params):
                grad_t[a] = 1.0 if a == k else 0.0
            _cholesky_solve(L, n_params, grad_t, delta)
            crlb_out[k] = delta[k]
    else:
        for k in range(n_params):
            crlb_out[k] = np.nan
    return iterations, objective


@numba.njit(parallel=True, cache=True, nogil=True)
def _fit_spots(spots, n_params, poisson, max_iterations, tolerance, extras, has_extra):
    n, box, _ = spots.shape
    theta = np.empty((n, n_params), dtype=np.float64)
    crlb = np.empty((n, n_params), dtype=np.float64)
    iterations = np.empty(n, dtype=np.int32)
    objective = np.empty(n, dtype=np.float64)
    for s in prange(n):
        extra = extras[s] if has_extra else extras[0]
        it, obj = _fit_one(
            spots[s], box, n_params, poisson, max_iterations, tolerance, theta[s], crlb[s], extra, has_extra
        )
        iterations[s] = it
        objective[s] = obj
    return theta, crlb, iterations, objective


@numba.njit(parallel=True, cache=True, nogil=True)
def _log_factorial_sums(spots, extras, has_extra):
    n, box, _ = spots.shape
    out = np.empty(n, dtype=np.float64)
    for s in prange(n):
        t = 0.0
        for j in range(box):
            for i in range(box):
                v = spots[s, j, i]
                if has_extra:
                    v += extras[s, j, i]
                if v > 0:
                    t += math.lgamma(v + 1.0)
        out[s] = t
    return out


def _as_full_theta(theta):
    """Expand a shared-sigma parameter table (5 columns) to x, y, N, bg, sx, sy."""
    if theta.shape[1] == 6:
        return theta
    return np.column_stack([theta, theta[:, 4]])


def fit_mle(spots, max_iterations=100, tolerance_px=1e-3, shared_sigma=False, extra_variance=None):
    """Maximum-likelihood fit of the integrated Gaussian under Poisson noise.

    Parameters
    ----------
    spots : numpy.ndarray
        ``(n, box, box)`` photons.
    max_iterations : int
        Iteration limit per spot.
    tolerance_px : float
        Converged when an accepted step moves x and y by less than this (px).
    shared_sigma : bool
        Fit one sigma for both axes instead of free sx, sy.
    extra_variance : numpy.ndarray, optional
        ``(n, box, box)`` per-pixel variance (photons^2) added to model and data (sCMOS
        readout variance / gain^2; a subtracted background's photons): see the module
        docstring. Non-negative; ``None`` for the plain Poisson fit.

    Returns
    -------
    dict of numpy.ndarray
        ``x, y`` (px, relative to the box centre), ``photons``, ``bg`` (photons/px),
        ``sx, sy`` (px), their Cramer-Rao bounds ``crlb_x, crlb_y, crlb_photons,
        crlb_bg, crlb_sx, crlb_sy`` (variances), ``log_likelihood`` (full Poisson
        log-likelihood at the optimum, data clipped at zero for the factorial term) and
        ``iterations``.
    """
    return _fit(spots, max_iterations, tolerance_px, shared_sigma, poisson=True, extra_variance=extra_variance)


def fit_lq(spots, max_iterations=100, tolerance_px=1e-3, shared_sigma=False):
    """Least-squares fit of the integrated Gaussian (Levenberg-Marquardt, in numba).

    Same parameters and parameter outputs as :func:`fit_mle`; no CRLB or likelihood
    (least squares reports the Mortensen precision instead, see
    :func:`~napari_picasso.core.precision.mortensen_lq_variance`).
    """
    return _fit(spots, max_iterations, tolerance_px, shared_sigma, poisson=False)


def _fit(spots, max_iterations, tolerance_px, shared_sigma, poisson, extra_variance=None):
    spots = np.ascontiguousarray(spots, dtype=np.float32)
    if spots.ndim != 3 or spots.shape[1] != spots.shape[2]:
        raise ValueError(f"spots must be (n, box, box); got {spots.shape}")
    has_extra = extra_variance is not None
    if has_extra:
        extras = np.ascontiguousarray(extra_variance, dtype=np.float32)
        if extras.shape != spots.shape:
            raise ValueError(f"extra_variance must be shaped like the spots {spots.shape}; got {extras.shape}")
        if not np.all(extras >= 0):
            raise ValueError("extra_variance must be finite and non-negative (photons^2)")
    else:
        extras = np.zeros((1, spots.shape[1], spots.shape[2]), dtype=np.float32)
    n_params = 5 if shared_sigma else 6
    if len(spots) == 0:
        theta = np.zeros((0, n_params))
        crlb = np.zeros((0, n_params))
        iterations = np.zeros(0, np.int32)
        objective = np.zeros(0)
    else:
        theta, crlb, iterations, objective = _fit_spots(
            spots, n_params, poisson, int(max_iterations), float(tolerance_px), extras, has_extra
        )
    theta = _as_full_theta(theta)
    crlb = _as_full_theta(crlb)
    names = ("x", "y", "photons", "bg", "sx", "sy")
    out = {name: theta[:, i] for i, name in enumerate(names)}
    out["iterations"] = iterations
    if poisson:
        for i, name in enumerate(names):
            out["crlb_" + name] = crlb[:, i]
        logfact = _log_factorial_sums(spots, extras, has_extra) if len(spots) else np.zeros(0)
        out["log_likelihood"] = objective - logfact
    return out
