"""Joint maximum-likelihood fit of one emitter seen in both channels of an image splitter.

Each spot is a pair of ``box x box`` windows of photons: channel 0 centred on the
candidate, channel 1 centred on the candidate's image through the channel map. The
model shares the position and gives each channel its photons, background and width:

    mu0_k = N0 * dEx_k(x, s0) * dEy_k(y, s0) + b0
    mu1_k = N1 * dEx_k(u, s1) * dEy_k(v, s1) + b1,   (u, v) = o + J (x, y)

where ``(x, y)`` is the position in channel-0 px from the channel-0 box centre, ``o`` the
channel-1 position of the box centre relative to the channel-1 box centre and ``J`` the
local derivative of the channel-0 -> channel-1 map (the map is smooth: over a box its
second-order term moves a position by ~1e-5 px). Eight parameters
``x, y, N0, N1, b0, b1, s0, s1``; Levenberg-Marquardt with Fisher scoring on the summed
Poisson log-likelihood of both windows, as :mod:`~napari_picasso.core.gaussfit` does for
one; the Cramer-Rao bounds come from the joint Fisher matrix.
"""

import math

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401
from .gaussfit import _axis_terms, _initial_theta, damped_solve, inverse_diagonal

N_PARAMS = 8
NAMES = ("x", "y", "photons_0", "photons_1", "bg_0", "bg_1", "s_0", "s_1")
_MU_MIN = 1e-9
_BG_MIN = 1e-3
_SIGMA_MIN_PX = 0.2


@numba.njit(cache=True, nogil=True)
def _evaluate(spot, box, theta, offset, jac, work, d, grad, curv, variance):
    for a in range(N_PARAMS):
        grad[a] = 0.0
        for b in range(N_PARAMS):
            curv[a, b] = 0.0
    x = theta[0]
    y = theta[1]
    u = offset[0] + jac[0, 0] * x + jac[0, 1] * y
    v = offset[1] + jac[1, 0] * x + jac[1, 1] * y
    _axis_terms(box, x, theta[6], work[0], work[1], work[2])
    _axis_terms(box, y, theta[6], work[3], work[4], work[5])
    _axis_terms(box, u, theta[7], work[6], work[7], work[8])
    _axis_terms(box, v, theta[7], work[9], work[10], work[11])
    objective = 0.0
    for c in range(2):
        base = 6 * c
        N = theta[2 + c]
        bg = theta[4 + c]
        for j in range(box):
            ey = work[base + 3, j]
            dey = work[base + 4, j]
            dsy = work[base + 5, j]
            for i in range(box):
                ex = work[base, i]
                g = ex * ey
                # Read noise as a Poisson-like variance added to model and data (Huang 2013).
                mu = N * g + bg + variance
                if mu < _MU_MIN:
                    mu = _MU_MIN
                k = spot[c, j, i] + variance
                objective += k * math.log(mu) - mu
                w = 1.0 / mu
                r = k * w - 1.0
                for a in range(N_PARAMS):
                    d[a] = 0.0
                dmx = N * work[base + 1, i] * ey
                dmy = N * ex * dey
                if c == 0:
                    d[0] = dmx
                    d[1] = dmy
                else:
                    d[0] = dmx * jac[0, 0] + dmy * jac[1, 0]
                    d[1] = dmx * jac[0, 1] + dmy * jac[1, 1]
                d[2 + c] = g
                d[4 + c] = 1.0
                d[6 + c] = N * (work[base + 2, i] * ey + ex * dsy)
                for a in range(N_PARAMS):
                    if d[a] != 0.0:
                        grad[a] += r * d[a]
                        wa = w * d[a]
                        for b in range(a, N_PARAMS):
                            curv[a, b] += wa * d[b]
    for a in range(N_PARAMS):
        for b in range(a):
            curv[a, b] = curv[b, a]
    return objective


@numba.njit(cache=True, nogil=True)
def _constrain(theta, box):
    limit = box // 2 + 0.5
    for a in range(2):
        theta[a] = min(max(theta[a], -limit), limit)
    for a in range(2, 4):
        theta[a] = max(theta[a], 1e-3)
    for a in range(4, 6):
        theta[a] = max(theta[a], _BG_MIN)
    for a in range(6, 8):
        theta[a] = min(max(theta[a], _SIGMA_MIN_PX), box)


@numba.njit(cache=True, nogil=True)
def _start(spot, box, offset, jac, theta, one):
    """Start of the joint fit from each channel's Gaussian start (``one``: scratch of 5)."""
    _initial_theta(spot[0], box, one, 5)
    theta[0] = one[0]
    theta[1] = one[1]
    theta[2] = one[2]
    theta[4] = one[3]
    theta[6] = one[4]
    _initial_theta(spot[1], box, one, 5)
    theta[3] = one[2]
    theta[5] = one[3]
    theta[7] = one[4]
    if theta[3] > theta[2]:  # position from the brighter channel: (x, y) = J^-1 ((u, v) - o)
        det = jac[0, 0] * jac[1, 1] - jac[0, 1] * jac[1, 0]
        du = one[0] - offset[0]
        dv = one[1] - offset[1]
        theta[0] = (jac[1, 1] * du - jac[0, 1] * dv) / det
        theta[1] = (-jac[1, 0] * du + jac[0, 0] * dv) / det
    _constrain(theta, box)


@numba.njit(cache=True, nogil=True)
def _fit_into(spot, box, offset, jac, max_iterations, tolerance, theta, crlb_out, variance, work, vectors, matrices):
    """One spot pair's fit in scratch the caller provides (the CUDA kernel's is thread-local):
    ``work`` ``(12, box)``, ``vectors`` ``(6, N_PARAMS)``, ``matrices`` ``(4, N_PARAMS,
    N_PARAMS)`` whose last one starts zeroed (its upper triangle is never written).
    Returns (iterations, objective)."""
    n = N_PARAMS
    d = vectors[0]
    trial = vectors[1]
    grad = vectors[2]
    grad_t = vectors[3]
    delta = vectors[4]
    curv = matrices[0]
    curv_t = matrices[1]
    A = matrices[2]
    L = matrices[3]
    _start(spot, box, offset, jac, theta, vectors[5])
    objective = _evaluate(spot, box, theta, offset, jac, work, d, grad, curv, variance)
    lam = 1e-3
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        if not damped_solve(curv, grad, n, lam, A, L, delta):
            lam *= 10.0
            if lam > 1e12:
                break
            continue
        for a in range(2):
            delta[a] = min(max(delta[a], -1.0), 1.0)
        for a in range(n):
            trial[a] = theta[a] + delta[a]
        _constrain(trial, box)
        objective_t = _evaluate(spot, box, trial, offset, jac, work, d, grad_t, curv_t, variance)
        if objective_t >= objective:
            step = max(abs(trial[0] - theta[0]), abs(trial[1] - theta[1]))
            for a in range(n):
                theta[a] = trial[a]
                grad[a] = grad_t[a]
                for b in range(n):
                    curv[a, b] = curv_t[a, b]
            objective = objective_t
            lam = max(lam * 0.1, 1e-9)
            if step < tolerance:
                break
        else:
            lam *= 10.0
            if lam > 1e12:
                break
    inverse_diagonal(curv, n, L, grad_t, delta, crlb_out)
    return iterations, objective


@numba.njit(parallel=True, cache=True, nogil=True)
def _fit_all(spots, offsets, jacs, max_iterations, tolerance, variance):
    n = spots.shape[0]
    box = spots.shape[2]
    theta = np.empty((n, N_PARAMS))
    crlb = np.empty((n, N_PARAMS))
    iterations = np.empty(n, dtype=np.int32)
    objective = np.empty(n)
    for s in prange(n):
        # the pair's scratch: allocated here once, the inner functions only fill it
        it, obj = _fit_into(
            spots[s], box, offsets[s], jacs[s], max_iterations, tolerance, theta[s], crlb[s], variance,
            np.empty((12, box)), np.empty((6, N_PARAMS)), np.zeros((4, N_PARAMS, N_PARAMS)),
        )  # fmt: skip
        iterations[s] = it
        objective[s] = obj
    return theta, crlb, iterations, objective


@numba.njit(parallel=True, cache=True, nogil=True)
def _expected(theta, offsets, jacs, box):
    n = theta.shape[0]
    out = np.empty((n, 2, box, box))
    for s in prange(n):
        work = np.empty((12, box))
        x = theta[s, 0]
        y = theta[s, 1]
        u = offsets[s, 0] + jacs[s, 0, 0] * x + jacs[s, 0, 1] * y
        v = offsets[s, 1] + jacs[s, 1, 0] * x + jacs[s, 1, 1] * y
        _axis_terms(box, x, theta[s, 6], work[0], work[1], work[2])
        _axis_terms(box, y, theta[s, 6], work[3], work[4], work[5])
        _axis_terms(box, u, theta[s, 7], work[6], work[7], work[8])
        _axis_terms(box, v, theta[s, 7], work[9], work[10], work[11])
        for c in range(2):
            for j in range(box):
                for i in range(box):
                    out[s, c, j, i] = theta[s, 2 + c] * work[6 * c, i] * work[6 * c + 3, j] + theta[s, 4 + c]
    return out


def _geometry(n, offsets, jacobians):
    offsets = np.ascontiguousarray(np.broadcast_to(np.asarray(offsets, np.float64), (n, 2)))
    jacobians = np.ascontiguousarray(np.broadcast_to(np.asarray(jacobians, np.float64), (n, 2, 2)))
    return offsets, jacobians


def fit_two_channels(spots, offsets, jacobians, *, max_iterations=100, tolerance_px=1e-3, read_variance=0.0):
    """Joint MLE of ``(n, 2, box, box)`` photon spot pairs with a shared position.

    Parameters
    ----------
    spots : numpy.ndarray
        ``(n, 2, box, box)`` photons: channel 0, channel 1.
    offsets : numpy.ndarray
        ``(n, 2)`` channel-1 ``(u, v)`` of the channel-0 box centre, px from the channel-1
        box centre.
    jacobians : numpy.ndarray
        ``(n, 2, 2)`` ``[[du/dx, du/dy], [dv/dx, dv/dy]]`` of the channel-0 -> channel-1 map.
    max_iterations, tolerance_px
        As in :func:`~napari_picasso.core.gaussfit.fit_mle`.
    read_variance : float
        The camera's read-noise variance in photons^2 per pixel (read noise / EM gain)^2,
        added to model and data as the plain MLE does; 0 for the Poisson-only fit.

    Returns
    -------
    dict of numpy.ndarray
        :data:`NAMES` (``x, y`` in channel-0 px from the box centre), ``crlb_<name>``
        (variances from the joint Fisher matrix), ``log_likelihood`` (without the
        data's factorial term) and ``iterations``.

    Examples
    --------
    >>> theta = np.array([[0.2, -0.1, 1500.0, 500.0, 20.0, 20.0, 1.0, 1.0]])
    >>> o, J = np.zeros((1, 2)), np.eye(2)[None]
    >>> spots = expected_spots(theta, o, J, 9)
    >>> fit = fit_two_channels(spots, o, J)
    >>> np.round([fit["x"][0], fit["y"][0], fit["photons_1"][0]], [3, 3, 0][0]).tolist()[:2]
    [0.2, -0.1]
    """
    return fit_two_channels_with(
        _fit_all, spots, offsets, jacobians, max_iterations=max_iterations, tolerance_px=tolerance_px,
        read_variance=read_variance,
    )  # fmt: skip


def fit_two_channels_with(
    fit_all, spots, offsets, jacobians, *, max_iterations=100, tolerance_px=1e-3, read_variance=0.0
):
    """:func:`fit_two_channels` with the kernel ``fit_all`` (this module's or the GPU's).

    ``fit_all(spots, offsets, jacobians, max_iterations, tolerance, variance) -> (theta,
    crlb, iterations, objective)`` fits the checked arrays; this function checks the
    inputs and names the outputs.

    Examples
    --------
    >>> fit = fit_two_channels_with(_fit_all, np.zeros((0, 2, 7, 7)), np.zeros(2), np.eye(2))
    >>> len(fit["x"])
    0
    """
    spots = np.ascontiguousarray(spots, dtype=np.float32)
    if spots.ndim != 4 or spots.shape[1] != 2 or spots.shape[2] != spots.shape[3]:
        raise ValueError(f"spot pairs must be (n, 2, box, box); got {spots.shape}")
    n = len(spots)
    offsets, jacobians = _geometry(n, offsets, jacobians)
    if n == 0:
        theta, crlb = np.zeros((0, N_PARAMS)), np.zeros((0, N_PARAMS))
        iterations, objective = np.zeros(0, np.int32), np.zeros(0)
    else:
        theta, crlb, iterations, objective = fit_all(
            spots, offsets, jacobians, int(max_iterations), float(tolerance_px), float(read_variance)
        )
    out = {name: theta[:, i] for i, name in enumerate(NAMES)}
    out.update({"crlb_" + name: crlb[:, i] for i, name in enumerate(NAMES)})
    out["iterations"] = iterations
    out["log_likelihood"] = objective
    return out


def expected_spots(theta, offsets, jacobians, box):
    """The model's ``(n, 2, box, box)`` photons at parameters ``theta`` (``(n, 8)``, :data:`NAMES`).

    Examples
    --------
    >>> theta = np.array([[0.0, 0.0, 1000.0, 1000.0, 0.0, 0.0, 1.0, 1.0]])
    >>> float(expected_spots(theta, np.zeros((1, 2)), np.eye(2)[None], 11)[0, 1].sum().round(1))
    1000.0
    """
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    offsets, jacobians = _geometry(len(theta), offsets, jacobians)
    return _expected(theta, offsets, jacobians, int(box))


def crlb_two_channels(theta, offsets, jacobians, box, read_variance=0.0):
    """Cramer-Rao bounds (variances, ``(n, 8)``) of the joint model at ``theta``.

    Examples
    --------
    >>> theta = np.array([[0.0, 0.0, 1500.0, 500.0, 20.0, 20.0, 1.0, 1.0]])
    >>> bool(crlb_two_channels(theta, np.zeros((1, 2)), np.eye(2)[None], 9)[0, 0] > 0)
    True
    """
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    offsets, jacobians = _geometry(len(theta), offsets, jacobians)
    return _crlb_all(theta, offsets, jacobians, int(box), float(read_variance))


@numba.njit(parallel=True, cache=True, nogil=True)
def _crlb_all(theta, offsets, jacobians, box, variance):
    n = theta.shape[0]
    out = np.empty((n, N_PARAMS))
    for s in prange(n):
        mu = np.empty((2, box, box), dtype=np.float32)
        work = np.empty((12, box))
        d = np.empty(N_PARAMS)
        grad = np.empty(N_PARAMS)
        curv = np.empty((N_PARAMS, N_PARAMS))
        L = np.zeros((N_PARAMS, N_PARAMS))
        e = np.empty(N_PARAMS)
        sol = np.empty(N_PARAMS)
        # The Fisher matrix does not depend on the data: evaluate at the expectation.
        x = theta[s, 0]
        y = theta[s, 1]
        u = offsets[s, 0] + jacobians[s, 0, 0] * x + jacobians[s, 0, 1] * y
        v = offsets[s, 1] + jacobians[s, 1, 0] * x + jacobians[s, 1, 1] * y
        _axis_terms(box, x, theta[s, 6], work[0], work[1], work[2])
        _axis_terms(box, y, theta[s, 6], work[3], work[4], work[5])
        _axis_terms(box, u, theta[s, 7], work[6], work[7], work[8])
        _axis_terms(box, v, theta[s, 7], work[9], work[10], work[11])
        for c in range(2):
            for j in range(box):
                for i in range(box):
                    mu[c, j, i] = theta[s, 2 + c] * work[6 * c, i] * work[6 * c + 3, j] + theta[s, 4 + c]
        _evaluate(mu, box, theta[s], offsets[s], jacobians[s], work, d, grad, curv, variance)
        inverse_diagonal(curv, N_PARAMS, L, e, sol, out[s])
    return out
