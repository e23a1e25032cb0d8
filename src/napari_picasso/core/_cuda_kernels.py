"""The CUDA kernels of :mod:`napari_picasso.core.gpu` (imported only when a GPU runs).

They live in a module of their own so that ``numba.cuda`` is a global here: the CUDA
simulator swaps that global for its own module when it runs a kernel on the CPU.
"""

import math
import types

from numba import cuda, float64

from . import gaussfit, identify

# Largest box a GPU fit takes: the size of each thread's scratch arrays.
MAX_BOX = 31

_IDENTIFY_FUNCTIONS = ("_is_box_maximum", "_net_gradient")
_FIT_FUNCTIONS = (
    "_erf_given_exp",
    "_axis_terms",
    "_model_terms",
    "_store_normal_equations",
    "_evaluate",
    "_evaluate_lsq",
    "_objective",
    "_cholesky",
    "_cholesky_solve",
    "damped_solve",
    "inverse_diagonal",
    "_initial_theta",
    "_constrain",
    "_fit_into",
)


def _retarget(module, names):
    """Compile ``module``'s numba functions ``names`` again as CUDA device functions.

    Each clone's globals are a copy of the module's namespace in which the names point
    at the clones, so a device function calls device functions.
    """
    namespace = dict(vars(module))
    for name in names:
        function = getattr(module, name).py_func
        clone = types.FunctionType(function.__code__, namespace, name, function.__defaults__, function.__closure__)
        namespace[name] = cuda.jit(clone, device=True)
    return namespace


_ident = _retarget(identify, _IDENTIFY_FUNCTIONS)
_fits = _retarget(gaussfit, _FIT_FUNCTIONS)
_is_box_maximum = _ident["_is_box_maximum"]
_net_gradient = _ident["_net_gradient"]
_fit_into = _fits["_fit_into"]


@cuda.jit
def score_pixels(frames, r, rm, min_net_gradient, y0, x0, y1, x1, uy, ux, out):
    x, y, f = cuda.grid(3)
    if f >= frames.shape[0] or y >= frames.shape[1] or x >= frames.shape[2]:
        return
    score = -math.inf
    if y0 + r <= y < y1 - r and x0 + r <= x < x1 - r:
        frame = frames[f]
        if _is_box_maximum(frame, y, x, rm):
            ng = _net_gradient(frame, y, x, r, uy, ux)
            if ng > min_net_gradient:
                score = ng
    out[f, y, x] = score


@cuda.jit
def fit_spots(spots, n_params, poisson, max_iterations, tolerance, extras, has_extra, theta, crlb, iters, obj):
    s = cuda.grid(1)
    if s >= spots.shape[0]:
        return
    box = spots.shape[1]
    work = cuda.local.array((6, MAX_BOX), float64)
    th = cuda.local.array(6, float64)
    trial = cuda.local.array(6, float64)
    grad = cuda.local.array(6, float64)
    grad_t = cuda.local.array(6, float64)
    delta = cuda.local.array(6, float64)
    curv = cuda.local.array((6, 6), float64)
    curv_t = cuda.local.array((6, 6), float64)
    a = cuda.local.array((6, 6), float64)
    lower = cuda.local.array((6, 6), float64)
    for i in range(6):
        for j in range(6):
            lower[i, j] = 0.0
    extra = extras[s] if has_extra else extras[0]
    extra_min = 0.0
    if has_extra:
        extra_min = math.inf
        for j in range(box):
            for i in range(box):
                extra_min = min(extra_min, extra[j, i])
    it, objective = _fit_into(
        spots[s], box, n_params, poisson, max_iterations, tolerance, theta[s], crlb[s], extra, has_extra,
        extra_min, work, th, trial, grad, grad_t, curv, curv_t, a, lower, delta,
    )  # fmt: skip
    iters[s] = it
    obj[s] = objective


# --- mle-multi (core.multifit): one thread fits one window -----------------------------

from . import multifit  # noqa: E402  (kept in this block: the blocks of the module stay apart)

# Each thread's scratch holds the largest model: background, sx, sy, then x, y, N of
# multifit.MAX_EMITTERS emitters.
MAX_EMITTERS = multifit.MAX_EMITTERS
MAX_MULTI_PARAMS = 3 + 3 * MAX_EMITTERS
_MULTI_FUNCTIONS = (
    "_emitter_terms",
    "_multi_evaluate",
    "_multi_constrain",
    "_multi_lm",
    "_pearson",
    "_joint_pearson",
    "_add_at_residual_peak",
    "_split_distance",
    "_split_along_long_axis",
    "_fit_window",
)
_multi = _retarget(multifit, _MULTI_FUNCTIONS)
# multifit calls gaussfit's functions by the names it imported them under: those names too
# must reach the CUDA versions (the clones look them up when the kernel compiles).
_multi.update({name: _fits[name] for name in ("_axis_terms", "_fit_into", "damped_solve", "inverse_diagonal")})
_fit_window = _multi["_fit_window"]


@cuda.jit
def fit_windows(
    spots, ns, aspect, max_emitters, max_iterations, tolerance, gof_limits, lrt_limit, excess, extras, has_extra,
    emitters, crlb, common, crlb_common, keep, count, iterations, objective,
):  # fmt: skip
    s = cuda.grid(1)
    if s >= spots.shape[0]:
        return
    box = spots.shape[1]
    work = cuda.local.array((MAX_EMITTERS, 6, MAX_BOX), float64)
    jac = cuda.local.array(MAX_MULTI_PARAMS, float64)
    grad = cuda.local.array(MAX_MULTI_PARAMS, float64)
    grad_t = cuda.local.array(MAX_MULTI_PARAMS, float64)
    curv = cuda.local.array((MAX_MULTI_PARAMS, MAX_MULTI_PARAMS), float64)
    curv_t = cuda.local.array((MAX_MULTI_PARAMS, MAX_MULTI_PARAMS), float64)
    a = cuda.local.array((MAX_MULTI_PARAMS, MAX_MULTI_PARAMS), float64)
    lower = cuda.local.array((MAX_MULTI_PARAMS, MAX_MULTI_PARAMS), float64)
    delta = cuda.local.array(MAX_MULTI_PARAMS, float64)
    trial = cuda.local.array(MAX_MULTI_PARAMS, float64)
    theta1 = cuda.local.array(MAX_MULTI_PARAMS, float64)
    crlb1 = cuda.local.array(MAX_MULTI_PARAMS, float64)
    current = cuda.local.array(MAX_MULTI_PARAMS, float64)
    candidate = cuda.local.array(MAX_MULTI_PARAMS, float64)
    alternative = cuda.local.array(MAX_MULTI_PARAMS, float64)
    variances = cuda.local.array(MAX_MULTI_PARAMS, float64)
    residual = cuda.local.array((MAX_BOX, MAX_BOX), float64)
    for i in range(MAX_MULTI_PARAMS):
        for j in range(MAX_MULTI_PARAMS):
            lower[i, j] = 0.0
    # The CPU kernel's outputs start as NaN rows, none kept.
    for e in range(max_emitters):
        for c in range(3):
            emitters[s, e, c] = math.nan
            crlb[s, e, c] = math.nan
        keep[s, e] = False
    extra = extras[s] if has_extra else extras[0]
    extra_min = 0.0
    if has_extra:
        extra_min = math.inf
        for j in range(box):
            for i in range(box):
                extra_min = min(extra_min, extra[j, i])
    k, it, obj = _fit_window(
        spots[s], box, ns, aspect, max_emitters, max_iterations, tolerance, gof_limits, lrt_limit, excess, extra,
        has_extra, extra_min, emitters[s], crlb[s], common[s], crlb_common[s], keep[s],
        (work, jac, grad, grad_t, curv, curv_t, a, lower, delta, trial),
        (theta1, crlb1, current, candidate, alternative, variances),
        residual,
    )  # fmt: skip
    count[s] = k
    iterations[s] = it
    objective[s] = obj


# --- Spline PSF and two-channel (splitter) fits ----------------------------------------
# Kept in a block of its own (below the Gaussian kernels) so that ports of other fitters
# merge beside it.

from numba import boolean, int64  # noqa: E402

from . import channelfit, psf_spline  # noqa: E402
from ._gpu_limits import MAX_SPLINE_BOX, MAX_SPLINE_SLICES  # noqa: E402

# The Gaussian kernel's building blocks that the spline and two-channel fits call.
_SHARED = ("_axis_terms", "_initial_theta", "damped_solve", "inverse_diagonal")
_SPLINE_FUNCTIONS = (
    "_powers",
    "_evaluate_into",
    "_terms",
    "_pack",
    "_unpack",
    "_fit_from",
    "_crlb",
    "near",
    "_z_starts",
    "_centroid",
    "_fit_spot",
)
_CHANNEL_FUNCTIONS = ("_evaluate", "_constrain", "_start", "_fit_into")


def _retarget_onto(module, names, devices):
    """:func:`_retarget` with the names ``devices`` (already device functions) in scope:
    the functions ``module`` imported from :mod:`~napari_picasso.core.gaussfit`."""
    namespace = dict(vars(module))
    namespace.update(devices)
    for name in names:
        function = getattr(module, name).py_func
        clone = types.FunctionType(function.__code__, namespace, name, function.__defaults__, function.__closure__)
        namespace[name] = cuda.jit(clone, device=True)
    return namespace


_shared = {name: _fits[name] for name in _SHARED}
_fit_spline_spot = _retarget_onto(psf_spline, _SPLINE_FUNCTIONS, _shared)["_fit_spot"]
_fit_channel_pair = _retarget_onto(channelfit, _CHANNEL_FUNCTIONS, _shared)["_fit_into"]
_N_STARTS = psf_spline.N_STARTS
_N_CHANNEL = channelfit.N_PARAMS


@cuda.jit
def fit_spline_spots(
    spots, extras, has_extra, coeff, knots, knot_sums, scale, z_focus, n_params, poisson, max_iterations, tolerance,
    theta, crlb, objective, iterations,
):  # fmt: skip
    s = cuda.grid(1)
    if s >= spots.shape[0]:
        return
    box = spots.shape[1]
    starts = cuda.local.array((3, _N_STARTS), float64)
    profile = cuda.local.array((3, MAX_SPLINE_SLICES), float64)
    used = cuda.local.array(MAX_SPLINE_SLICES, boolean)
    work = cuda.local.array((4, MAX_SPLINE_BOX, MAX_SPLINE_BOX), float64)
    vectors5 = cuda.local.array((5, 5), float64)
    vectors = cuda.local.array((4, 5), float64)
    matrices = cuda.local.array((4, 5, 5), float64)
    powers = cuda.local.array((3, MAX_SPLINE_BOX, 2, 4), float64)
    index = cuda.local.array((2, MAX_SPLINE_BOX), int64)
    for i in range(5):
        for j in range(5):
            matrices[3, i, j] = 0.0
    extra = extras[s] if has_extra else extras[0]
    bg_min = 1e-3
    if has_extra:
        extra_min = math.inf
        for j in range(box):
            for i in range(box):
                extra_min = min(extra_min, extra[j, i])
        bg_min = 1e-3 - extra_min
    best, total = _fit_spline_spot(
        spots[s], extra, bg_min, coeff, knots, knot_sums, scale, z_focus, n_params, poisson, max_iterations,
        tolerance, theta[s], crlb[s], starts, profile, used, work, vectors5, vectors, matrices, powers, index,
    )  # fmt: skip
    objective[s] = best
    iterations[s] = total


@cuda.jit
def fit_channel_pairs(
    spots, offsets, jacobians, max_iterations, tolerance, variance, theta, crlb, iterations, objective
):
    s = cuda.grid(1)
    if s >= spots.shape[0]:
        return
    box = spots.shape[2]
    work = cuda.local.array((12, MAX_BOX), float64)
    vectors = cuda.local.array((6, _N_CHANNEL), float64)
    matrices = cuda.local.array((4, _N_CHANNEL, _N_CHANNEL), float64)
    for i in range(_N_CHANNEL):
        for j in range(_N_CHANNEL):
            matrices[3, i, j] = 0.0
    it, obj = _fit_channel_pair(
        spots[s], box, offsets[s], jacobians[s], max_iterations, tolerance, theta[s], crlb[s], variance, work,
        vectors, matrices,
    )  # fmt: skip
    iterations[s] = it
    objective[s] = obj
