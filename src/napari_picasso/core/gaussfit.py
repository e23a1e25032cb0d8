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
# Contraction (FMA) and re-association of the per-pixel sums; NaN/inf semantics are kept
# (no 'nnan'/'ninf') so that invalid fits stay detectable.
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


@numba.njit(cache=True, nogil=True, inline="always", fastmath=_FASTMATH)
def _erf_given_exp(z, exp_minus_z2):
    """erf(z) from exp(-z^2), which the derivatives need anyway.

    Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, i.e. below 2e-4 photons per pixel for
    a 1500-photon spot, far under its shot noise, at a fraction of the cost of erf.
    """
    a = abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    value = 1.0 - poly * exp_minus_z2
    return value if z >= 0 else -value


@numba.njit(cache=True, nogil=True, inline="always", fastmath=_FASTMATH)
def _axis_terms(box, mu, sigma, E, dE_dmu, dE_dsigma):
    """Pixel integrals of a unit Gaussian along one axis and their derivatives."""
    r = box // 2
    inv = _INV_SQRT2 / sigma
    u_prev = -r - 0.5 - mu
    z = u_prev * inv
    exp_prev = math.exp(-z * z)
    erf_prev = _erf_given_exp(z, exp_prev)
    c_mu = -_INV_SQRT_2PI / sigma
    c_sigma = -_INV_SQRT_2PI / (sigma * sigma)
    for i in range(box):
        u = i - r + 0.5 - mu
        z = u * inv
        exp_u = math.exp(-z * z)
        erf_u = _erf_given_exp(z, exp_u)
        E[i] = 0.5 * (erf_u - erf_prev)
        dE_dmu[i] = c_mu * (exp_u - exp_prev)
        dE_dsigma[i] = c_sigma * (u * exp_u - u_prev * exp_prev)
        u_prev = u
        erf_prev = erf_u
        exp_prev = exp_u


@numba.njit(cache=True, nogil=True, inline="always", fastmath=_FASTMATH)
def _model_terms(box, theta, n_params, work):
    """Fill ``work`` rows with Ex, dEx/dx, dEx/dsx, Ey, dEy/dy, dEy/dsy at ``theta``."""
    sx = theta[4]
    sy = theta[4] if n_params == 5 else theta[5]
    _axis_terms(box, theta[0], sx, work[0], work[1], work[2])
    _axis_terms(box, theta[1], sy, work[3], work[4], work[5])


@numba.njit(cache=True, nogil=True, inline="always")
def _store_normal_equations(g, c, n_params, grad, curv):
    """Write the 6-parameter gradient ``g`` and the upper triangle ``c`` (row-major:
    00, 01 .. 05, 11 .. 55) into ``grad``/``curv``; with a shared sigma (5 parameters)
    the sx and sy columns are summed."""
    g0, g1, g2, g3, g4, g5 = g
    c00, c01, c02, c03, c04, c05, c11, c12, c13, c14, c15, c22, c23, c24, c25, c33, c34, c35, c44, c45, c55 = c
    if n_params == 5:
        g4 += g5
        c04 += c05
        c14 += c15
        c24 += c25
        c34 += c35
        c44 += 2.0 * c45 + c55
    grad[0] = g0
    grad[1] = g1
    grad[2] = g2
    grad[3] = g3
    grad[4] = g4
    curv[0, 0] = c00
    curv[0, 1] = curv[1, 0] = c01
    curv[0, 2] = curv[2, 0] = c02
    curv[0, 3] = curv[3, 0] = c03
    curv[0, 4] = curv[4, 0] = c04
    curv[1, 1] = c11
    curv[1, 2] = curv[2, 1] = c12
    curv[1, 3] = curv[3, 1] = c13
    curv[1, 4] = curv[4, 1] = c14
    curv[2, 2] = c22
    curv[2, 3] = curv[3, 2] = c23
    curv[2, 4] = curv[4, 2] = c24
    curv[3, 3] = c33
    curv[3, 4] = curv[4, 3] = c34
    curv[4, 4] = c44
    if n_params == 6:
        grad[5] = g5
        curv[0, 5] = curv[5, 0] = c05
        curv[1, 5] = curv[5, 1] = c15
        curv[2, 5] = curv[5, 2] = c25
        curv[3, 5] = curv[5, 3] = c35
        curv[4, 5] = curv[5, 4] = c45
        curv[5, 5] = c55


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _evaluate(spot, box, theta, n_params, poisson, work, grad, curv, extra, has_extra):
    """Objective at theta (log-likelihood or minus the squared residuals).

    Fills ``grad`` (ascent direction) and ``curv`` (Fisher information or J^T J). The
    sums run over scalar accumulators (kept in registers) for the six parameters
    x, y, N, bg, sx, sy; a shared sigma is the sum of the sx and sy columns.
    """
    _model_terms(box, theta, n_params, work)
    Ex, dEx, dSx, Ey, dEy, dSy = work[0], work[1], work[2], work[3], work[4], work[5]
    N = theta[2]
    bg = theta[3]
    objective = 0.0
    g0 = g1 = g2 = g3 = g4 = g5 = 0.0
    c00 = c01 = c02 = c03 = c04 = c05 = 0.0
    c11 = c12 = c13 = c14 = c15 = 0.0
    c22 = c23 = c24 = c25 = 0.0
    c33 = c34 = c35 = 0.0
    c44 = c45 = 0.0
    c55 = 0.0
    for j in range(box):
        ey = Ey[j]
        n_ey = N * ey
        n_dey = N * dEy[j]
        n_dsy = N * dSy[j]
        for i in range(box):
            ex = Ex[i]
            g = ex * ey
            mu = N * g + bg
            d = spot[j, i]
            if has_extra:
                mu += extra[j, i]
                d += extra[j, i]
            if poisson:
                if mu < _MU_MIN:
                    mu = _MU_MIN
                objective += d * math.log(mu) - mu
                w = 1.0 / mu
                r = d * w - 1.0
            else:
                res = d - mu
                objective -= res * res
                w = 1.0
                r = res
            j0 = n_ey * dEx[i]
            j1 = n_dey * ex
            j2 = g
            j4 = n_ey * dSx[i]
            j5 = n_dsy * ex
            g0 += r * j0
            g1 += r * j1
            g2 += r * j2
            g3 += r
            g4 += r * j4
            g5 += r * j5
            w0 = w * j0
            w1 = w * j1
            w2 = w * j2
            w4 = w * j4
            c00 += w0 * j0
            c01 += w0 * j1
            c02 += w0 * j2
            c03 += w0
            c04 += w0 * j4
            c05 += w0 * j5
            c11 += w1 * j1
            c12 += w1 * j2
            c13 += w1
            c14 += w1 * j4
            c15 += w1 * j5
            c22 += w2 * j2
            c23 += w2
            c24 += w2 * j4
            c25 += w2 * j5
            c33 += w
            c34 += w4
            c35 += w * j5
            c44 += w4 * j4
            c45 += w4 * j5
            c55 += w * j5 * j5
    _store_normal_equations(
        (g0, g1, g2, g3, g4, g5),
        (c00, c01, c02, c03, c04, c05, c11, c12, c13, c14, c15, c22, c23, c24, c25, c33, c34, c35, c44, c45, c55),
        n_params,
        grad,
        curv,
    )
    return objective


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _evaluate_lsq(spot, box, theta, n_params, work, grad, curv):
    """Least-squares objective, gradient and J^T J using the model's separability.

    Every Jacobian column is a product of an x-function and a y-function, so with unit
    weights each entry of J^T J is a product of two 1-D sums (O(box) instead of
    O(box^2)); only the residual sums need the whole spot.
    """
    _model_terms(box, theta, n_params, work)
    Ex, dEx, dSx, Ey, dEy, dSy = work[0], work[1], work[2], work[3], work[4], work[5]
    N = theta[2]
    bg = theta[3]
    objective = 0.0
    g0 = g1 = g2 = g3 = g4 = g5 = 0.0
    for j in range(box):
        r_dex = 0.0
        r_ex = 0.0
        r_dsx = 0.0
        r_1 = 0.0
        ey = Ey[j]
        for i in range(box):
            r = spot[j, i] - (N * Ex[i] * ey + bg)
            objective -= r * r
            r_dex += r * dEx[i]
            r_ex += r * Ex[i]
            r_dsx += r * dSx[i]
            r_1 += r
        g0 += r_dex * ey
        g1 += r_ex * dEy[j]
        g2 += r_ex * ey
        g3 += r_1
        g4 += r_dsx * ey
        g5 += r_ex * dSy[j]
    g0 *= N
    g1 *= N
    g4 *= N
    g5 *= N
    # 1-D sums of products of the x-functions (a) and of the y-functions (b).
    a_dd = a_de = a_ds = a_d1 = a_ee = a_es = a_e1 = a_ss = a_s1 = 0.0
    b_dd = b_de = b_ds = b_d1 = b_ee = b_es = b_e1 = b_ss = b_s1 = 0.0
    for k in range(box):
        a_dd += dEx[k] * dEx[k]
        a_de += dEx[k] * Ex[k]
        a_ds += dEx[k] * dSx[k]
        a_d1 += dEx[k]
        a_ee += Ex[k] * Ex[k]
        a_es += Ex[k] * dSx[k]
        a_e1 += Ex[k]
        a_ss += dSx[k] * dSx[k]
        a_s1 += dSx[k]
        b_dd += dEy[k] * dEy[k]
        b_de += dEy[k] * Ey[k]
        b_ds += dEy[k] * dSy[k]
        b_d1 += dEy[k]
        b_ee += Ey[k] * Ey[k]
        b_es += Ey[k] * dSy[k]
        b_e1 += Ey[k]
        b_ss += dSy[k] * dSy[k]
        b_s1 += dSy[k]
    n2 = N * N
    # Columns: x = N dEx Ey, y = N Ex dEy, N = Ex Ey, bg = 1, sx = N dSx Ey, sy = N Ex dSy.
    c00 = n2 * a_dd * b_ee
    c01 = n2 * a_de * b_de
    c02 = N * a_de * b_ee
    c03 = N * a_d1 * b_e1
    c04 = n2 * a_ds * b_ee
    c05 = n2 * a_de * b_es
    c11 = n2 * a_ee * b_dd
    c12 = N * a_ee * b_de
    c13 = N * a_e1 * b_d1
    c14 = n2 * a_es * b_de
    c15 = n2 * a_ee * b_ds
    c22 = a_ee * b_ee
    c23 = a_e1 * b_e1
    c24 = N * a_es * b_ee
    c25 = N * a_ee * b_es
    c33 = float(box * box)
    c34 = N * a_s1 * b_e1
    c35 = N * a_e1 * b_s1
    c44 = n2 * a_ss * b_ee
    c45 = n2 * a_es * b_es
    c55 = n2 * a_ee * b_ss
    _store_normal_equations(
        (g0, g1, g2, g3, g4, g5),
        (c00, c01, c02, c03, c04, c05, c11, c12, c13, c14, c15, c22, c23, c24, c25, c33, c34, c35, c44, c45, c55),
        n_params,
        grad,
        curv,
    )
    return objective


@numba.njit(cache=True, nogil=True)
def _objective(spot, box, theta, n_params, poisson, work, grad, curv, extra, has_extra):
    if poisson:
        return _evaluate(spot, box, theta, n_params, True, work, grad, curv, extra, has_extra)
    # Least squares is unchanged by an additive variance term (it shifts model and data).
    return _evaluate_lsq(spot, box, theta, n_params, work, grad, curv)


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
def damped_solve(curv, grad, n, lam, A, L, delta):
    """One Levenberg-Marquardt system: ``(C + lam diag C) delta = grad`` for the first ``n``
    parameters, in the scratch ``A``, ``L``; False when it is not positive definite.

    Every fitter of the package (Gaussian, multi-emitter, spline, two-channel) steps with it.
    """
    for a in range(n):
        for b in range(n):
            A[a, b] = curv[a, b]
        A[a, a] *= 1.0 + lam
    if not _cholesky(A, n, L):
        return False
    _cholesky_solve(L, n, grad, delta)
    return True


@numba.njit(cache=True, nogil=True)
def inverse_diagonal(matrix, n, L, unit, column, out):
    """The diagonal of ``matrix^-1`` (the Cramer-Rao bounds of a Fisher matrix) into ``out``;
    NaN where the matrix is not positive definite. ``L``, ``unit``, ``column``: scratch."""
    if _cholesky(matrix, n, L):
        for k in range(n):
            for a in range(n):
                unit[a] = 1.0 if a == k else 0.0
            _cholesky_solve(L, n, unit, column)
            out[k] = column[k]
    else:
        for k in range(n):
            out[k] = math.nan


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
    work = np.empty((6, box), dtype=np.float64)
    theta = np.empty(n_params, dtype=np.float64)
    trial = np.empty(n_params, dtype=np.float64)
    grad = np.empty(n_params, dtype=np.float64)
    grad_t = np.empty(n_params, dtype=np.float64)
    curv = np.empty((n_params, n_params), dtype=np.float64)
    curv_t = np.empty((n_params, n_params), dtype=np.float64)
    A = np.empty((n_params, n_params), dtype=np.float64)
    L = np.zeros((n_params, n_params), dtype=np.float64)
    delta = np.empty(n_params, dtype=np.float64)
    extra_min = extra.min() if has_extra else 0.0
    return _fit_into(
        spot, box, n_params, poisson, max_iterations, tolerance, theta_out, crlb_out, extra, has_extra, extra_min,
        work, theta, trial, grad, grad_t, curv, curv_t, A, L, delta,
    )  # fmt: skip


@numba.njit(cache=True, nogil=True)
def _fit_into(
    spot, box, n_params, poisson, max_iterations, tolerance, theta_out, crlb_out, extra, has_extra, extra_min,
    work, theta, trial, grad, grad_t, curv, curv_t, A, L, delta,
):  # fmt: skip
    """One spot's fit in scratch arrays the caller provides (the CUDA kernel's are local).

    ``L`` must start zeroed (its upper triangle is never written).
    """
    _initial_theta(spot, box, theta, n_params)
    bg_min = _BG_MIN_MLE
    if has_extra:
        # mu + extra must stay positive, not bg itself: a subtracted background or
        # readout variance lets the fitted background go below zero.
        bg_min = _BG_MIN_MLE - extra_min
        if theta[3] < bg_min:
            theta[3] = bg_min
    objective = _objective(spot, box, theta, n_params, poisson, work, grad, curv, extra, has_extra)
    lam = 1e-3
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        if not damped_solve(curv, grad, n_params, lam, A, L, delta):
            lam *= 10.0
            if lam > 1e12:
                break
            continue
        for a in range(2):  # no jump by more than a pixel per step
            if delta[a] > 1.0:
                delta[a] = 1.0
            elif delta[a] < -1.0:
                delta[a] = -1.0
        for a in range(n_params):
            trial[a] = theta[a] + delta[a]
        _constrain(trial, n_params, box, poisson, bg_min)
        if lam <= 1e-3 and abs(trial[0] - theta[0]) < tolerance and abs(trial[1] - theta[1]) < tolerance:
            # Converged: the step is below tolerance, so the objective and the curvature
            # at the trial point equal the current ones to second order; take the step
            # without another evaluation.
            for a in range(n_params):
                theta[a] = trial[a]
            break
        objective_t = _objective(spot, box, trial, n_params, poisson, work, grad_t, curv_t, extra, has_extra)
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
    inverse_diagonal(curv, n_params, L, grad_t, delta, crlb_out)
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
    return fit_spots_with(
        _fit_spots, spots, max_iterations, tolerance_px, shared_sigma, poisson=poisson, extra_variance=extra_variance
    )


def fit_spots_with(fit_spots, spots, max_iterations, tolerance_px, shared_sigma, *, poisson, extra_variance=None):
    """Check the spots, run ``fit_spots`` (this module's kernel or the GPU's) and name
    its outputs as :func:`fit_mle` / :func:`fit_lq` return them."""
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
        theta, crlb, iterations, objective = fit_spots(
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
