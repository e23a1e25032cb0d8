"""Multi-emitter maximum-likelihood fit of box windows (``mle-multi``).

Every window is first fitted with one integrated Gaussian exactly as ``mle`` does
(:mod:`napari_picasso.core.gaussfit`). Where that fit is poor, its Pearson statistic

    X^2 = sum_k (d_k - mu_k)^2 / mu_k

(chi-square distributed under the Poisson model for counts of a few photons and more)
with data and model plus the extra variance of the Huang et al. 2013 sCMOS / read-noise
term, above the chi-square critical value of ``box^2 - parameters`` degrees of freedom, or where
its sx and sy differ by more than :data:`ELONGATION_Z` standard errors (free widths absorb
a pair along an axis), the window goes on with joint models of one PSF width whose aspect
ratio sy / sx is the PSF's (:func:`estimate_psf_aspect`, from the chunk's windows): the single
emitter refitted with it first, then an emitter added at the peak of the residual (3x3
sums; for an elongated fit the X^2 test accepts, instead the single emitter split in two
along its long axis) and all emitters refitted jointly: one background, one width and x, y,
N of each, Levenberg-Marquardt with Fisher scoring on the Poisson log-likelihood. One width
is what resolves close pairs: free widths let one emitter stretch over two (at 1.5 sigma
apart, 48 % of pairs split with free widths, 98 % with one); the kept aspect ratio keeps a
slightly elliptical PSF from passing for a pair. The larger model is kept
when the likelihood-ratio statistic 2 (log L_k - log L_(k-1)) beats the chi-square critical
value of 3 degrees of freedom at the p-value divided by the box's pixels (the new
emitter's position is searched over them); adding stops at the first rejected emitter, at a
fit the X^2 test accepts, or at ``max_emitters``. Both statistics are divided by the EM
excess-noise factor (the variance of an EMCCD's data is twice the Poisson one).

Uncertainties are the Cramer-Rao bounds of the joint model (the diagonal of the inverse
Fisher information): a close pair reports the larger uncertainty it really has. An
emitter of a joint model is flagged for dropping when it leaves the window (its position
at the window's edge) or its photons are below :data:`PHOTON_SIGNIFICANCE` times their
own bound. A window the X^2 test accepts with one emitter returns the ``mle`` result
unchanged (bit for bit).

Windows are fitted in parallel (numba ``prange``).
"""

import math

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401
from .gaussfit import _BG_MIN_MLE, _MU_MIN, _SIGMA_MIN_PX, _axis_terms, _fit_into, damped_solve, inverse_diagonal

# A joint model's emitter is kept when photons >= PHOTON_SIGNIFICANCE * sqrt(CRLB(photons)).
PHOTON_SIGNIFICANCE = 3.0
MAX_EMITTERS = 10
# A single fit whose sx and sy differ by more than this many standard errors is tried with
# more emitters even when the X^2 test accepts it: free widths absorb a pair along an axis.
ELONGATION_Z = 2.5
# Such a fit is also split in two along its long axis (a second start of the two-emitter fit)
# when the pair it suggests is this close (px, half the separation); wider elongations are a
# neighbour's tail at the box edge, which the residual peak finds.
_SPLIT_MAX_PX = 1.25
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
_LL_TOLERANCE = 1e-4
_WINDOWS_PER_BLOCK = 16


@numba.njit(cache=True, nogil=True, inline="always", fastmath=_FASTMATH)
def _emitter_terms(box, theta, k, ns, aspect, work):
    """``work[e]``: the axis integrals and derivatives of emitter ``e`` (layout of ``theta``:
    background, sx[, sy], then x, y, N per emitter; with one width, sy = aspect * sx)."""
    off = 1 + ns
    sx = theta[1]
    sy = aspect * theta[1] if ns == 1 else theta[2]
    for e in range(k):
        _axis_terms(box, theta[off + 3 * e], sx, work[e, 0], work[e, 1], work[e, 2])
        _axis_terms(box, theta[off + 3 * e + 1], sy, work[e, 3], work[e, 4], work[e, 5])


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _multi_evaluate(spot, box, theta, k, ns, aspect, work, jac, grad, curv, extra, has_extra):
    """Log-likelihood (without the data's factorial term) of ``k`` emitters at ``theta``.

    ``theta``: background, sx (and sy when ``ns == 2``), then x, y, N per emitter. Fills
    ``grad`` and the Fisher information ``curv`` (full matrix)."""
    off = 1 + ns
    n_par = off + 3 * k
    _emitter_terms(box, theta, k, ns, aspect, work)
    for a in range(n_par):
        grad[a] = 0.0
        for b in range(n_par):
            curv[a, b] = 0.0
    objective = 0.0
    jac[0] = 1.0
    for j in range(box):
        for i in range(box):
            mu = theta[0]
            jsx = 0.0
            jsy = 0.0
            for e in range(k):
                n_e = theta[off + 3 * e + 2]
                ex = work[e, 0, i]
                ey = work[e, 3, j]
                g = ex * ey
                mu += n_e * g
                jac[off + 3 * e] = n_e * work[e, 1, i] * ey
                jac[off + 3 * e + 1] = n_e * ex * work[e, 4, j]
                jac[off + 3 * e + 2] = g
                jsx += n_e * work[e, 2, i] * ey
                jsy += n_e * ex * work[e, 5, j]
            if ns == 1:
                jac[1] = jsx + aspect * jsy
            else:
                jac[1] = jsx
                jac[2] = jsy
            d = spot[j, i]
            if has_extra:
                mu += extra[j, i]
                d += extra[j, i]
            if mu < _MU_MIN:
                mu = _MU_MIN
            objective += d * math.log(mu) - mu
            w = 1.0 / mu
            r = d * w - 1.0
            for a in range(n_par):
                grad[a] += r * jac[a]
                wa = w * jac[a]
                for b in range(a, n_par):
                    curv[a, b] += wa * jac[b]
    for a in range(n_par):
        for b in range(a + 1, n_par):
            curv[b, a] = curv[a, b]
    return objective


@numba.njit(cache=True, nogil=True)
def _multi_constrain(theta, k, ns, box, bg_min):
    limit = box // 2 + 0.5
    if theta[0] < bg_min:
        theta[0] = bg_min
    for a in range(1, 1 + ns):
        if theta[a] < _SIGMA_MIN_PX:
            theta[a] = _SIGMA_MIN_PX
        elif theta[a] > box:
            theta[a] = box
    off = 1 + ns
    for e in range(k):
        for a in range(2):
            p = off + 3 * e + a
            if theta[p] < -limit:
                theta[p] = -limit
            elif theta[p] > limit:
                theta[p] = limit
        if theta[off + 3 * e + 2] < 1e-3:
            theta[off + 3 * e + 2] = 1e-3


@numba.njit(cache=True, nogil=True)
def _multi_lm(spot, box, theta, k, ns, aspect, max_iterations, tolerance, bg_min, extra, has_extra, scratch):
    """Levenberg-Marquardt on ``k`` emitters from ``theta`` (changed in place).

    Returns (iterations, log-likelihood); ``scratch`` rows hold the work arrays."""
    work, jac, grad, grad_t, curv, curv_t, A, L, delta, trial = scratch
    n_par = 1 + ns + 3 * k
    off = 1 + ns
    objective = _multi_evaluate(spot, box, theta, k, ns, aspect, work, jac, grad, curv, extra, has_extra)
    lam = 1e-3
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        if not damped_solve(curv, grad, n_par, lam, A, L, delta):
            lam *= 10.0
            if lam > 1e12:
                break
            continue
        step = 0.0
        for e in range(k):
            for a in range(2):
                p = off + 3 * e + a
                if delta[p] > 1.0:
                    delta[p] = 1.0
                elif delta[p] < -1.0:
                    delta[p] = -1.0
        for a in range(n_par):
            trial[a] = theta[a] + delta[a]
        _multi_constrain(trial, k, ns, box, bg_min)
        for e in range(k):
            for a in range(2):
                p = off + 3 * e + a
                step = max(step, abs(trial[p] - theta[p]))
        objective_t = _multi_evaluate(spot, box, trial, k, ns, aspect, work, jac, grad_t, curv_t, extra, has_extra)
        if objective_t >= objective:
            # A heavily damped step gains little without being near the optimum.
            gain = objective_t - objective if lam <= 1e-3 else np.inf
            for a in range(n_par):
                theta[a] = trial[a]
                grad[a] = grad_t[a]
                for b in range(n_par):
                    curv[a, b] = curv_t[a, b]
            objective = objective_t
            lam = max(lam * 0.1, 1e-9)
            # An emitter fading to no photons has no position to converge to: stop also when
            # the log-likelihood no longer changes (far below what any test resolves).
            if step < tolerance or gain < _LL_TOLERANCE:
                break
        else:
            lam *= 10.0
            if lam > 1e12:
                break
    return iterations, objective


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _pearson(spot, box, theta, ns, work, extra, has_extra):
    """Pearson's X^2 = sum (d - mu)^2 / mu of the single fit ``theta`` (x, y, N, bg, sx[, sy])."""
    sx = theta[4]
    sy = theta[4] if ns == 1 else theta[5]
    _axis_terms(box, theta[0], sx, work[0], work[1], work[2])
    _axis_terms(box, theta[1], sy, work[3], work[4], work[5])
    total = 0.0
    for j in range(box):
        ey = theta[2] * work[3, j]
        for i in range(box):
            mu = ey * work[0, i] + theta[3]
            d = spot[j, i]
            if has_extra:
                mu += extra[j, i]
                d += extra[j, i]
            if mu < _MU_MIN:
                mu = _MU_MIN
            total += (d - mu) * (d - mu) / mu
    return total


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _joint_pearson(spot, box, theta, k, ns, aspect, work, extra, has_extra):
    """Pearson's X^2 of the joint model of ``k`` emitters."""
    off = 1 + ns
    _emitter_terms(box, theta, k, ns, aspect, work)
    total = 0.0
    for j in range(box):
        for i in range(box):
            mu = theta[0]
            for e in range(k):
                mu += theta[off + 3 * e + 2] * work[e, 0, i] * work[e, 3, j]
            d = spot[j, i]
            if has_extra:
                mu += extra[j, i]
                d += extra[j, i]
            if mu < _MU_MIN:
                mu = _MU_MIN
            total += (d - mu) * (d - mu) / mu
    return total


@numba.njit(cache=True, nogil=True)
def _add_at_residual_peak(spot, box, theta, k, ns, aspect, work, residual):
    """Append an emitter (x, y, N) at the peak of the 3x3 sums of data - model (``residual``:
    scratch of at least ``(box, box)``)."""
    off = 1 + ns
    r = box // 2
    sx = theta[1]
    sy = aspect * theta[1] if ns == 1 else theta[2]
    _emitter_terms(box, theta, k, ns, aspect, work)
    for j in range(box):
        for i in range(box):
            mu = theta[0]
            for e in range(k):
                mu += theta[off + 3 * e + 2] * work[e, 0, i] * work[e, 3, j]
            residual[j, i] = spot[j, i] - mu
    best = -1e300
    bj = r
    bi = r
    for j in range(box):
        for i in range(box):
            s = 0.0
            for dj in range(max(0, j - 1), min(box, j + 2)):
                for di in range(max(0, i - 1), min(box, i + 2)):
                    s += residual[dj, di]
            if s > best:
                best = s
                bj = j
                bi = i
    # Photons of a Gaussian inside a 3x3 square at its centre.
    fraction = math.erf(1.5 / (math.sqrt(2.0) * sx)) * math.erf(1.5 / (math.sqrt(2.0) * sy))
    p = off + 3 * k
    theta[p] = bi - r
    theta[p + 1] = bj - r
    theta[p + 2] = max(best / max(fraction, 0.1), 1.0)


@numba.njit(cache=True, nogil=True)
def _split_distance(sx, sy):
    """Half the separation of the pair an elongated single fit (widths sx, sy) suggests."""
    short = min(sx, sy)
    return math.sqrt(max(max(sx, sy) ** 2 - short * short, 0.0))


@numba.njit(cache=True, nogil=True)
def _split_along_long_axis(single, aspect, out):
    """Two emitters of the joint layout (bg, sigma with sy = aspect * sigma, then x, y, N
    each) from the elongated single fit ``single`` (x, y, N, bg, sx, sy): half the photons
    each, +-d along the long axis with d^2 = long^2 - short^2 in units where the PSF is
    round, the width the short one."""
    sx = single[4]
    sy = single[5] / aspect
    long_axis = 0 if sx >= sy else 1
    d = _split_distance(sx, sy)
    if long_axis == 1:
        d *= aspect
    out[0] = single[3]
    out[1] = min(sx, sy)
    for e in range(2):
        out[2 + 3 * e] = single[0]
        out[2 + 3 * e + 1] = single[1]
        out[2 + 3 * e + long_axis] += d if e == 0 else -d
        out[2 + 3 * e + 2] = 0.5 * single[2]


@numba.njit(cache=True, nogil=True)
def _fit_window(
    spot,
    box,
    ns,
    aspect,
    max_emitters,
    max_iterations,
    tolerance,
    gof_limits,
    lrt_limit,
    excess,
    extra,
    has_extra,
    extra_min,
    emitters_out,
    crlb_out,
    common_out,
    crlb_common_out,
    keep_out,
    scratch,
    vectors,
    residual,
):
    """Fit one window; returns (emitters, iterations, log-likelihood without factorials).

    The caller allocates every scratch array (the CUDA kernel's are local): ``scratch``
    as :func:`_multi_lm` takes it, sized for ``max_emitters``, ``L`` zeroed; ``vectors``
    (theta1, crlb1, current, candidate, alternative, variances) of at least
    ``1 + ns + 3 * max_emitters``; ``residual`` at least ``(box, box)``. ``extra_min``:
    the smallest of ``extra`` (0 without).
    """
    n_single = 4 + ns
    theta1, crlb1, current, candidate, alternative, variances = vectors
    work, jac, grad, grad_t, curv, curv_t, A, L, delta, trial = scratch
    # The single fit, in the joint fit's scratch (``current`` as its working theta).
    iterations, objective = _fit_into(
        spot, box, n_single, True, max_iterations, tolerance, theta1, crlb1, extra, has_extra, extra_min,
        work[0], current, trial, grad, grad_t, curv, curv_t, A, L, delta,
    )  # fmt: skip
    # The single fit, as mle reports it.
    emitters_out[0, 0] = theta1[0]
    emitters_out[0, 1] = theta1[1]
    emitters_out[0, 2] = theta1[2]
    crlb_out[0, 0] = crlb1[0]
    crlb_out[0, 1] = crlb1[1]
    crlb_out[0, 2] = crlb1[2]
    common_out[0] = theta1[3]
    crlb_common_out[0] = crlb1[3]
    common_out[1] = theta1[4]
    crlb_common_out[1] = crlb1[4]
    common_out[2] = theta1[4] if ns == 1 else theta1[5]
    crlb_common_out[2] = crlb1[4] if ns == 1 else crlb1[5]
    keep_out[0] = True
    if max_emitters == 1:
        return 1, iterations, objective
    elongated = False
    if ns == 2:
        # Elongated beyond the PSF's own aspect ratio (sy / sx of the chunk's fits).
        deviation = theta1[5] - aspect * theta1[4]
        elongated = abs(deviation) > ELONGATION_Z * math.sqrt(crlb1[5] + aspect * aspect * crlb1[4])
    split = elongated and _split_distance(theta1[4], theta1[5] / aspect) <= _SPLIT_MAX_PX
    poor = _pearson(spot, box, theta1, ns, work[0], extra, has_extra) / excess > gof_limits[1]
    if not poor and not elongated:
        return 1, iterations, objective
    # The joint models have one PSF width (sy = aspect * sx): free widths would let one
    # emitter stretch over a close pair (the single fit above keeps mle's widths).
    nj = 1
    bg_min = _BG_MIN_MLE
    if has_extra:
        bg_min = _BG_MIN_MLE - extra_min
    current[0] = theta1[3]
    current[1] = math.sqrt(theta1[4] * theta1[4 + ns - 1] / aspect)
    off = 1 + nj
    current[off] = theta1[0]
    current[off + 1] = theta1[1]
    current[off + 2] = theta1[2]
    # The likelihood ratios compare one-width models: the single emitter refitted first.
    it, best_objective = _multi_lm(
        spot, box, current, 1, nj, aspect, max_iterations, tolerance, bg_min, extra, has_extra, scratch
    )
    iterations += it
    k = 1
    while k < max_emitters:
        obj = -np.inf
        if k > 1 or poor or not split:
            for a in range(off + 3 * k):
                candidate[a] = current[a]
            _add_at_residual_peak(spot, box, candidate, k, nj, aspect, work, residual)
            it, obj = _multi_lm(
                spot, box, candidate, k + 1, nj, aspect, max_iterations, tolerance, bg_min, extra, has_extra, scratch
            )
            iterations += it
        if k == 1 and split:
            # The single emitter split in two along its long axis (the only start for a fit
            # the X^2 test accepts: its elongation is the one sign of a pair); the better wins.
            _split_along_long_axis(theta1, aspect, alternative)
            it, obj_split = _multi_lm(
                spot, box, alternative, 2, nj, aspect, max_iterations, tolerance, bg_min, extra, has_extra, scratch
            )
            iterations += it
            if obj_split > obj:
                obj = obj_split
                for a in range(off + 6):
                    candidate[a] = alternative[a]
        if not 2.0 * (obj - best_objective) / excess > lrt_limit:
            break
        k += 1
        best_objective = obj
        for a in range(off + 3 * k):
            current[a] = candidate[a]
        if _joint_pearson(spot, box, current, k, nj, aspect, work, extra, has_extra) / excess <= gof_limits[k]:
            break
    if k == 1:
        return 1, iterations, objective
    # The joint model's bounds: the inverse of its Fisher information.
    work_, jac, grad, grad_unused, curv, curv_unused, a_unused, L, delta, unit = scratch
    _multi_evaluate(spot, box, current, k, nj, aspect, work_, jac, grad, curv, extra, has_extra)
    n_par = off + 3 * k
    inverse_diagonal(curv, n_par, L, unit, delta, variances)
    common_out[0] = current[0]
    crlb_common_out[0] = variances[0]
    common_out[1] = current[1]
    crlb_common_out[1] = variances[1]
    common_out[2] = aspect * current[1]
    crlb_common_out[2] = aspect * aspect * variances[1]
    edge = box // 2 + 0.5 - 1e-6
    for e in range(k):
        for c in range(3):
            emitters_out[e, c] = current[off + 3 * e + c]
            crlb_out[e, c] = variances[off + 3 * e + c]
        inside = abs(emitters_out[e, 0]) < edge and abs(emitters_out[e, 1]) < edge
        significant = emitters_out[e, 2] >= PHOTON_SIGNIFICANCE * math.sqrt(max(crlb_out[e, 2], 0.0))
        keep_out[e] = inside and significant
    return k, iterations, best_objective


@numba.njit(parallel=True, cache=True, nogil=True)
def _fit_windows(
    spots, ns, aspect, max_emitters, max_iterations, tolerance, gof_limits, lrt_limit, excess, extras, has_extra
):
    n, box, _ = spots.shape
    emitters = np.full((n, max_emitters, 3), np.nan)
    crlb = np.full((n, max_emitters, 3), np.nan)
    common = np.empty((n, 3))
    crlb_common = np.empty((n, 3))
    keep = np.zeros((n, max_emitters), dtype=np.bool_)
    count = np.empty(n, dtype=np.int32)
    iterations = np.empty(n, dtype=np.int32)
    objective = np.empty(n)
    n_max = 1 + ns + 3 * max_emitters
    n_blocks = (n + _WINDOWS_PER_BLOCK - 1) // _WINDOWS_PER_BLOCK
    for b in prange(n_blocks):
        # The scratch arrays of a block of windows (the CUDA kernel's are local): allocating
        # them per window costs a sparse movie, whose windows are one mle fit each, ~10 %.
        scratch = (
            np.empty((max_emitters, 6, box)),
            np.empty(n_max),
            np.empty(n_max),
            np.empty(n_max),
            np.empty((n_max, n_max)),
            np.empty((n_max, n_max)),
            np.empty((n_max, n_max)),
            np.zeros((n_max, n_max)),
            np.empty(n_max),
            np.empty(n_max),
        )
        vectors = (np.empty(n_max), np.empty(n_max), np.empty(n_max), np.empty(n_max), np.empty(n_max), np.empty(n_max))
        residual = np.empty((box, box))
        for s in range(b * _WINDOWS_PER_BLOCK, min(n, (b + 1) * _WINDOWS_PER_BLOCK)):
            extra = extras[s] if has_extra else extras[0]
            extra_min = extra.min() if has_extra else 0.0
            k, it, obj = _fit_window(
                spots[s],
                box,
                ns,
                aspect,
                max_emitters,
                max_iterations,
                tolerance,
                gof_limits,
                lrt_limit,
                excess,
                extra,
                has_extra,
                extra_min,
                emitters[s],
                crlb[s],
                common[s],
                crlb_common[s],
                keep[s],
                scratch,
                vectors,
                residual,
            )
            count[s] = k
            iterations[s] = it
            objective[s] = obj
    return emitters, crlb, common, crlb_common, keep, count, iterations, objective


@numba.njit(cache=True, nogil=True)
def _owned(frame, x, y, window, cx, cy):
    """Rows (sorted by frame) whose own window centre is the nearest of their frame's."""
    n = len(frame)
    keep = np.ones(n, dtype=np.bool_)
    start = 0
    while start < n:
        stop = start
        while stop < n and frame[stop] == frame[start]:
            stop += 1
        for a in range(start, stop):
            own = (x[a] - cx[a]) ** 2 + (y[a] - cy[a]) ** 2
            for b in range(start, stop):
                if window[b] != window[a] and (x[a] - cx[b]) ** 2 + (y[a] - cy[b]) ** 2 < own:
                    keep[a] = False
                    break
        start = stop
    return keep


def owned_rows(frame, x_px, y_px, window, centre_x_px, centre_y_px):
    """Which rows belong to the window whose centre is nearest to them.

    Neighbouring windows overlap: an emitter near the edge of one window is the central
    emitter of the next; it is kept once, from the window whose centre is nearest.

    Parameters
    ----------
    frame, x_px, y_px : numpy.ndarray
        Rows sorted by frame.
    window : numpy.ndarray
        Window id of each row.
    centre_x_px, centre_y_px : numpy.ndarray
        Centre of each row's window.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the rows to keep.

    Examples
    --------
    >>> import numpy as np
    >>> owned_rows(np.zeros(3, int), np.array([10.0, 13.6, 14.0]), np.zeros(3), np.array([0, 0, 1]),
    ...            np.array([10.0, 10.0, 14.0]), np.zeros(3))
    array([ True, False,  True])
    """
    return _owned(
        np.asarray(frame, np.int64),
        np.asarray(x_px, np.float64),
        np.asarray(y_px, np.float64),
        np.asarray(window, np.int64),
        np.asarray(centre_x_px, np.float64),
        np.asarray(centre_y_px, np.float64),
    )


def chi2_critical(dof, p_value):
    """Upper ``p_value`` critical value of a chi-square with ``dof`` degrees of freedom.

    Wilson-Hilferty's cube-root normal approximation (within 1 % for 3 or more degrees of
    freedom at the p-values used here).

    Examples
    --------
    >>> round(chi2_critical(3, 0.05), 2)  # exact: 7.81
    7.78
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1.0 - p_value)
    a = 2.0 / (9.0 * dof)
    return float(dof * (1.0 - a + z * math.sqrt(a)) ** 3)


def fit_multi(
    spots,
    *,
    max_emitters=5,
    p_value=0.002,
    max_iterations=100,
    tolerance_px=1e-3,
    shared_sigma=False,
    extra_variance=None,
    excess_noise=1.0,
    psf_aspect=None,
):
    """Multi-emitter MLE of box windows (see the module docstring).

    Parameters
    ----------
    spots : numpy.ndarray
        ``(n, box, box)`` photons.
    max_emitters : int
        Most emitters per window (1 to :data:`MAX_EMITTERS`).
    p_value : float
        Significance of the X^2 and likelihood-ratio tests, in (0, 1).
    max_iterations, tolerance_px, shared_sigma, extra_variance
        As :func:`~napari_picasso.core.gaussfit.fit_mle`.
    excess_noise : float
        EM excess-noise factor (2 with EM gain): divides the test statistics.
    psf_aspect : float, optional
        sy / sx of the PSF, which the joint models keep (one width); default: estimated
        from the windows (:func:`estimate_psf_aspect`), 1 with ``shared_sigma``.

    Returns
    -------
    dict of numpy.ndarray
        One entry per emitter kept, ordered by window: ``spot`` (window index), ``x``,
        ``y`` (px from the window centre), ``photons``, ``bg``, ``sx``, ``sy``, their
        ``crlb_*`` variances, ``n_emitters`` (emitters of the joint model),
        ``log_likelihood`` (of the window's model) and ``iterations`` (of the window).

    Examples
    --------
    >>> import numpy as np
    >>> spots = np.random.default_rng(0).poisson(50.0, (2, 7, 7)).astype(np.float32)
    >>> sorted(fit_multi(spots, max_emitters=2))[:3]
    ['bg', 'crlb_bg', 'crlb_photons']
    """
    return fit_multi_with(
        _fit_windows,
        spots,
        max_emitters=max_emitters,
        p_value=p_value,
        max_iterations=max_iterations,
        tolerance_px=tolerance_px,
        shared_sigma=shared_sigma,
        extra_variance=extra_variance,
        excess_noise=excess_noise,
        psf_aspect=psf_aspect,
    )


def estimate_psf_aspect(spots, *, extra_variance=None, max_windows=256):
    """The PSF's aspect ratio sy / sx: the median over ``mle`` fits of (up to
    ``max_windows``, evenly spaced) windows, rounded to 0.02 (1 with fewer than 16 fits).

    Joint models keep it: a slightly elliptical PSF (aberrations) is then not taken for a
    pair. Pairs in the windows are elongated in every direction alike and leave the median
    alone; the rounding makes chunks of one movie agree.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_picasso.simulate import isolated_spots, render_movie
    >>> truth = isolated_spots(2, 64, 64, spacing_px=12, seed=0)
    >>> truth["sy"] = 1.2
    >>> movie = render_movie(truth, 2, 64, 64, bg_photons=20.0).astype(np.float32) - 100.0
    >>> spots = np.stack([movie[f, int(round(y)) - 3 : int(round(y)) + 4, int(round(x)) - 3 : int(round(x)) + 4]
    ...                   for f, x, y in zip(truth["frame"], truth["x"], truth["y"])])
    >>> estimate_psf_aspect(spots)
    1.2
    """
    from .gaussfit import fit_mle

    n = len(spots)
    pick = np.unique(np.linspace(0, n - 1, min(n, max_windows)).astype(np.int64)) if n else np.zeros(0, np.int64)
    extra = None if extra_variance is None else np.asarray(extra_variance)[pick]
    fit = fit_mle(np.asarray(spots)[pick], extra_variance=extra)
    ratio = fit["sy"] / fit["sx"]
    ratio = ratio[np.isfinite(ratio) & (fit["photons"] > 0)]
    if len(ratio) < 16:
        return 1.0
    return round(round(float(np.median(ratio)) / 0.02) * 0.02, 2)


def fit_multi_with(
    fit_windows,
    spots,
    *,
    max_emitters=5,
    p_value=0.002,
    max_iterations=100,
    tolerance_px=1e-3,
    shared_sigma=False,
    extra_variance=None,
    excess_noise=1.0,
    psf_aspect=None,
):
    """Check the windows, run ``fit_windows`` (this module's kernel or the GPU's, with the
    arguments and results of ``_fit_windows``) and name its outputs as :func:`fit_multi`
    returns them.

    Examples
    --------
    >>> import numpy as np
    >>> spots = np.random.default_rng(0).poisson(50.0, (2, 7, 7)).astype(np.float32)
    >>> fit = fit_multi_with(_fit_windows, spots, max_emitters=2)
    >>> fit.keys() == fit_multi(spots, max_emitters=2).keys()
    True
    """
    from .gaussfit import _log_factorial_sums

    spots = np.ascontiguousarray(spots, dtype=np.float32)
    if spots.ndim != 3 or spots.shape[1] != spots.shape[2]:
        raise ValueError(f"spots must be (n, box, box); got {spots.shape}")
    if not 1 <= int(max_emitters) <= MAX_EMITTERS:
        raise ValueError(f"max_emitters must be 1 to {MAX_EMITTERS}; got {max_emitters}")
    if not 0.0 < float(p_value) < 1.0:
        raise ValueError(f"p_value must lie in (0, 1); got {p_value}")
    n, box, _ = spots.shape
    has_extra = extra_variance is not None
    if has_extra:
        extras = np.ascontiguousarray(extra_variance, dtype=np.float32)
        if extras.shape != spots.shape:
            raise ValueError(f"extra_variance must be shaped like the spots {spots.shape}; got {extras.shape}")
    else:
        extras = np.zeros((1, box, box), dtype=np.float32)
    ns = 1 if shared_sigma else 2
    if psf_aspect is None:
        psf_aspect = 1.0 if shared_sigma else estimate_psf_aspect(spots, extra_variance=extra_variance)
    max_emitters = int(max_emitters)
    # Degrees of freedom: the single fit has mle's widths, the joint models one width.
    gof = [np.inf, chi2_critical(box * box - (1 + ns + 3), p_value)]
    gof += [chi2_critical(max(1, box * box - (2 + 3 * k)), p_value) for k in range(2, MAX_EMITTERS + 1)]
    gof = np.array(gof)
    # The added emitter's position is searched over the box: Bonferroni over its pixels.
    lrt = chi2_critical(3, p_value / (box * box))
    if n == 0:
        emitters = crlb = np.zeros((0, max_emitters, 3))
        common = crlb_common = np.zeros((0, 3))
        keep = np.zeros((0, max_emitters), bool)
        count = iterations = np.zeros(0, np.int32)
        objective = np.zeros(0)
    else:
        emitters, crlb, common, crlb_common, keep, count, iterations, objective = fit_windows(
            spots,
            ns,
            float(psf_aspect),
            max_emitters,
            int(max_iterations),
            float(tolerance_px),
            gof,
            lrt,
            float(excess_noise),
            extras,
            has_extra,
        )
    logfact = _log_factorial_sums(spots, extras, has_extra) if n else np.zeros(0)
    spot, emitter = np.nonzero(keep)
    out = {"spot": spot}
    for c, name in enumerate(("x", "y", "photons")):
        out[name] = emitters[spot, emitter, c]
        out["crlb_" + name] = crlb[spot, emitter, c]
    for c, name in enumerate(("bg", "sx", "sy")):
        out[name] = common[spot, c]
        out["crlb_" + name] = crlb_common[spot, c]
    out["n_emitters"] = count[spot]
    out["log_likelihood"] = (objective - logfact)[spot]
    out["iterations"] = iterations[spot]
    return out


def emitters_crlb(x_px, y_px, photons, *, bg, sx_px, sy_px=None, box=7, extra_variance=0.0):
    """Cramer-Rao bounds of the joint model ``mle-multi`` fits to one box.

    Parameters
    ----------
    x_px, y_px, photons : array_like
        The emitters (positions relative to the box centre).
    bg : float
        Background, photons per pixel.
    sx_px, sy_px : float
        PSF widths; ``sy_px=None`` for a shared sigma (one width fitted).
    box : int
        Box side.
    extra_variance : float
        Uniform extra variance per pixel (read noise^2, photons^2).

    Returns
    -------
    numpy.ndarray
        ``(k, 3)`` variances of x, y (px^2) and photons of each emitter.

    Examples
    --------
    >>> one = emitters_crlb([0.0], [0.0], [1500.0], bg=50.0, sx_px=1.0, sy_px=1.0)
    >>> pair = emitters_crlb([-0.5, 0.5], [0.0, 0.0], [1500.0, 1500.0], bg=50.0, sx_px=1.0, sy_px=1.0)
    >>> bool(pair[0, 0] > 2 * one[0, 0])
    True
    """
    x_px, y_px, photons = (np.atleast_1d(np.asarray(a, np.float64)) for a in (x_px, y_px, photons))
    k = len(x_px)
    ns = 1 if sy_px is None else 2
    theta = np.empty(1 + ns + 3 * k)
    theta[0] = bg
    theta[1] = sx_px
    if ns == 2:
        theta[2] = sy_px
    theta[1 + ns :: 3] = x_px
    theta[2 + ns :: 3] = y_px
    theta[3 + ns :: 3] = photons
    n_par = len(theta)
    curv = np.empty((n_par, n_par))
    extra = np.full((box, box), float(extra_variance), np.float32)
    _multi_evaluate(
        np.zeros((box, box), np.float32),
        box,
        theta,
        k,
        ns,
        1.0,
        np.empty((k, 6, box)),
        np.empty(n_par),
        np.empty(n_par),
        curv,
        extra,
        extra_variance > 0,
    )
    variances = np.diag(np.linalg.inv(curv))
    return variances[1 + ns :].reshape(k, 3)


def neighbourhood_crlb(frame, x_px, y_px, photons, *, bg, sigma_px, box=7):
    """Each emitter's CRLB in the joint model of the emitters around it: the bound ``mle-multi``
    can reach (the benchmarks' and tests' yardstick for dense frames).

    The model is the one the joint fits use: a ``box x box`` window centred on the emitter's
    pixel, one round width, one background, and every emitter of the same frame whose
    centre lies within one pixel of the window (their light falls into it); an emitter
    alone there gets the bound of ``mle``'s model (sx and sy free).

    Parameters
    ----------
    frame, x_px, y_px, photons : array_like
        The true emitters.
    bg : float
        Background, photons per pixel.
    sigma_px : float
        PSF width.
    box : int
        Window side.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` variances of x and y (px^2).

    Examples
    --------
    >>> v = neighbourhood_crlb([0, 0, 1], [10.0, 11.0, 10.0], [10.0, 10.0, 10.0], [1500.0] * 3,
    ...                        bg=50.0, sigma_px=1.0)
    >>> bool(v[0, 0] > 2 * v[2, 0])  # a neighbour 1 px away: a larger bound than alone
    True
    """
    frame = np.asarray(frame)
    x_px, y_px, photons = (np.ascontiguousarray(a, np.float64) for a in (x_px, y_px, photons))
    order = np.argsort(frame, kind="stable")
    starts = np.searchsorted(frame[order], frame[order], side="left")
    stops = np.searchsorted(frame[order], frame[order], side="right")
    return _neighbourhood_crlb(order, starts, stops, x_px, y_px, photons, float(bg), float(sigma_px), int(box))


@numba.njit(parallel=True, cache=True, nogil=True)
def _neighbourhood_crlb(order, starts, stops, x, y, photons, bg, sigma, box):
    reach = box // 2 + 1.5
    out = np.empty((len(x), 2))
    blank = np.zeros((box, box), np.float32)
    for rank in prange(len(order)):
        i = order[rank]
        cx = np.rint(x[i])
        cy = np.rint(y[i])
        group = np.empty(stops[rank] - starts[rank], np.int64)
        group[0] = i
        k = 1
        for other in order[starts[rank] : stops[rank]]:
            if other != i and abs(x[other] - cx) < reach and abs(y[other] - cy) < reach:
                group[k] = other
                k += 1
        ns = 1 if k > 1 else 2  # the joint models' one width; alone, mle's sx and sy
        n_par = 1 + ns + 3 * k
        theta = np.empty(n_par)
        theta[0] = bg
        theta[1] = sigma
        theta[ns] = sigma
        for e in range(k):
            theta[1 + ns + 3 * e] = x[group[e]] - cx
            theta[2 + ns + 3 * e] = y[group[e]] - cy
            theta[3 + ns + 3 * e] = photons[group[e]]
        curv = np.empty((n_par, n_par))
        vector = np.empty(n_par)
        _multi_evaluate(blank, box, theta, k, ns, 1.0, np.empty((k, 6, box)), vector, vector.copy(), curv, blank, False)
        variances = np.empty(n_par)
        inverse_diagonal(curv, n_par, np.zeros((n_par, n_par)), vector, np.empty(n_par), variances)
        out[i, 0] = variances[1 + ns]
        out[i, 1] = variances[2 + ns]
    return out
