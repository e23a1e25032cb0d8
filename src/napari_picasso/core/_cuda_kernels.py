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
def score_pixels(frames, r, min_net_gradient, y0, x0, y1, x1, uy, ux, out):
    x, y, f = cuda.grid(3)
    if f >= frames.shape[0] or y >= frames.shape[1] or x >= frames.shape[2]:
        return
    score = -math.inf
    if y0 + r <= y < y1 - r and x0 + r <= x < x1 - r:
        frame = frames[f]
        if _is_box_maximum(frame, y, x, r):
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
