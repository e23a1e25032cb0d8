"""Maps between the two channels of an image splitter: affine or second-order polynomial.

A map takes channel-1 camera pixels ``(x, y)`` to channel-0 camera pixels ``(X, Y)``:

    X = sum_k cx[k] * term_k(x, y),    Y = sum_k cy[k] * term_k(x, y)

with the terms ``1, x, y`` (affine) or ``1, x, y, x^2, x*y, y^2`` (``poly2``). The
coefficient count says which model a map is. :func:`invert_map` runs Newton's method, so
the inverse (channel 0 -> channel 1) is exact to rounding, and :func:`warp_bilinear`
samples one channel's frames at mapped coordinates (the registered sum that detection
reads).
"""

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401

TERMS = {"affine": ("1", "x", "y"), "poly2": ("1", "x", "y", "x^2", "x*y", "y^2")}


def model_of(cx):
    """``"affine"`` or ``"poly2"`` from the number of coefficients."""
    for model, terms in TERMS.items():
        if len(cx) == len(terms):
            return model
    raise ValueError(f"a channel map has 3 (affine) or 6 (poly2) coefficients per axis; got {len(cx)}")


def design_matrix(x, y, model):
    """``(n, terms)`` values of the model's terms at ``(x, y)``.

    Examples
    --------
    >>> design_matrix(np.array([2.0]), np.array([3.0]), "poly2").tolist()
    [[1.0, 2.0, 3.0, 4.0, 6.0, 9.0]]
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    columns = [np.ones_like(x), x, y]
    if model == "poly2":
        columns += [x * x, x * y, y * y]
    elif model != "affine":
        raise ValueError(f"unknown channel map model {model!r}; use affine or poly2")
    return np.stack(columns, axis=-1)


def fit_map(x1, y1, x0, y0, model="poly2"):
    """Least-squares map from matched channel-1 positions to channel-0 positions.

    Examples
    --------
    >>> x1 = np.array([0.0, 10, 0, 10, 5]); y1 = np.array([0.0, 0, 10, 10, 5])
    >>> cx, cy = fit_map(x1, y1, x1 + 2, y1 - 1, "affine")
    >>> bool(np.allclose(cx, [2, 1, 0]) and np.allclose(cy, [-1, 0, 1]))
    True
    """
    a = design_matrix(x1, y1, model)
    if len(a) < a.shape[1]:
        raise ValueError(f"a {model} map needs at least {a.shape[1]} matched pairs; got {len(a)}")
    cx = np.linalg.lstsq(a, np.asarray(x0, np.float64), rcond=None)[0]
    cy = np.linalg.lstsq(a, np.asarray(y0, np.float64), rcond=None)[0]
    return cx, cy


def apply_map(cx, cy, x, y):
    """Channel-0 positions ``(X, Y)`` of channel-1 positions ``(x, y)``.

    Examples
    --------
    >>> apply_map([1.0, 1.0, 0.0], [0.0, 0.0, 1.0], np.array([3.0]), np.array([4.0]))
    (array([4.]), array([4.]))
    """
    a = design_matrix(x, y, model_of(cx))
    return a @ np.asarray(cx, np.float64), a @ np.asarray(cy, np.float64)


def map_jacobian(cx, cy, x, y):
    """``(n, 2, 2)`` derivatives ``[[dX/dx, dX/dy], [dY/dx, dY/dy]]`` at ``(x, y)``.

    Examples
    --------
    >>> map_jacobian([0.0, 2.0, 0.0], [0.0, 0.0, 3.0], np.zeros(1), np.zeros(1)).tolist()
    [[[2.0, 0.0], [0.0, 3.0]]]
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    out = np.empty(x.shape + (2, 2))
    for row, c in enumerate((np.asarray(cx, np.float64), np.asarray(cy, np.float64))):
        out[..., row, 0] = c[1]
        out[..., row, 1] = c[2]
        if len(c) == 6:
            out[..., row, 0] += 2 * c[3] * x + c[4] * y
            out[..., row, 1] += c[4] * x + 2 * c[5] * y
    return out


def invert_map(cx, cy, X, Y, iterations=12):
    """Channel-1 positions ``(x, y)`` that the map takes to ``(X, Y)`` (Newton's method).

    Examples
    --------
    >>> cx, cy = [1.0, 1.01, 0.02, 1e-4, 0.0, 0.0], [-2.0, -0.02, 1.01, 0.0, 0.0, 1e-4]
    >>> x, y = invert_map(cx, cy, *apply_map(cx, cy, np.array([30.0]), np.array([40.0])))
    >>> np.round([x[0], y[0]], 9).tolist()
    [30.0, 40.0]
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    cx = np.asarray(cx, np.float64)
    cy = np.asarray(cy, np.float64)
    # Start from the inverse of the affine part.
    a = np.array([[cx[1], cx[2]], [cy[1], cy[2]]])
    inverse = np.linalg.inv(a)
    dx, dy = X - cx[0], Y - cy[0]
    x = inverse[0, 0] * dx + inverse[0, 1] * dy
    y = inverse[1, 0] * dx + inverse[1, 1] * dy
    for _ in range(iterations):
        fx, fy = apply_map(cx, cy, x, y)
        j = map_jacobian(cx, cy, x, y)
        det = j[..., 0, 0] * j[..., 1, 1] - j[..., 0, 1] * j[..., 1, 0]
        rx, ry = X - fx, Y - fy
        x = x + (j[..., 1, 1] * rx - j[..., 0, 1] * ry) / det
        y = y + (-j[..., 1, 0] * rx + j[..., 0, 0] * ry) / det
    return x, y


@numba.njit(parallel=True, cache=True, nogil=True)
def _warp(frames, xs, ys, fill, out):
    n, height, width = frames.shape
    out_h, out_w = xs.shape
    for row in prange(n * out_h):
        f = row // out_h
        j = row % out_h
        for i in range(out_w):
            x = xs[j, i]
            y = ys[j, i]
            x0 = int(np.floor(x))
            y0 = int(np.floor(y))
            if x0 < 0 or y0 < 0 or x0 + 1 >= width or y0 + 1 >= height:
                out[f, j, i] = fill
                continue
            tx = x - x0
            ty = y - y0
            top = frames[f, y0, x0] * (1 - tx) + frames[f, y0, x0 + 1] * tx
            bottom = frames[f, y0 + 1, x0] * (1 - tx) + frames[f, y0 + 1, x0 + 1] * tx
            out[f, j, i] = top * (1 - ty) + bottom * ty


def warp_bilinear(frames, x_px, y_px, fill=0.0):
    """Sample ``(n, h, w)`` frames at ``(x_px, y_px)`` (each ``(H, W)``): ``(n, H, W)`` float32.

    Points outside the frames (or within a pixel of their edge) get ``fill``.

    Examples
    --------
    >>> frames = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    >>> warp_bilinear(frames, np.full((1, 1), 1.5), np.full((1, 1), 2.0))[0].tolist()
    [[9.5]]
    """
    frames = np.ascontiguousarray(frames, dtype=np.float32)
    xs = np.ascontiguousarray(x_px, dtype=np.float64)
    ys = np.ascontiguousarray(y_px, dtype=np.float64)
    out = np.empty((frames.shape[0],) + xs.shape, dtype=np.float32)
    _warp(frames, xs, ys, np.float32(fill), out)
    return out
