"""NeNA: localization precision from nearest neighbours in adjacent frames.

A molecule that is on in frames f and f+1 is localized twice; the distance d between the
two estimates is the difference of two independent 2D Gaussian errors of standard
deviation s per axis, so it follows ``d / (2 s^2) exp(-d^2 / (4 s^2))`` (Endesfelder et al.,
Histochem. Cell Biol. 2014). The histogram of each localization's nearest neighbour in
the next frame also holds neighbours that are other molecules; as in Picasso, the fit
adds a short-range Gaussian term (structure at a small distance ``dc``) and a term
linear in d (uniformly placed other molecules):

    p(d) = a1 d / (2 s^2) exp(-d^2 / (4 s^2))
         + a2 / sqrt(2 pi w^2) exp(-(d - dc)^2 / (2 w^2))
         + a3 d

The amplitudes are found by non-negative linear least squares for each (s, dc, w), and
(s, dc, w) by Levenberg-Marquardt on the Poisson-weighted histogram residuals, started
from a grid over s.
"""

import dataclasses
import math

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401
from ._grid import FrameGrid, cell_of, row_range


@numba.njit(parallel=True, cache=True, nogil=True)
def _next_frame_nn(keys, starts, frame, x, y, x0, y0, cell, n_x, n_cells, r_max):
    n = len(x)
    out = np.full(n, np.inf)
    r2_max = r_max * r_max
    for i in prange(n):
        cx, cy = cell_of(x[i], y[i], x0, y0, cell, n_x)
        best = r2_max
        found = False
        for dy in range(-1, 2):
            lo, hi = row_range(keys, starts, frame[i] + 1, cx, cy + dy, n_x, n_cells)
            for j in range(lo, hi):
                d2 = (x[j] - x[i]) ** 2 + (y[j] - y[i]) ** 2
                if d2 <= best:
                    best = d2
                    found = True
        if found:
            out[i] = math.sqrt(best)
    return out


def next_frame_distances(locs, max_distance_px):
    """Distance of each localization to its nearest neighbour in the next frame.

    Parameters
    ----------
    locs : numpy.ndarray
        Structured array with ``frame``, ``x``, ``y`` (px).
    max_distance_px : float
        Search radius; localizations with no neighbour within it get ``inf``.

    Returns
    -------
    numpy.ndarray of float64
        Distances (px) in the input order.
    """
    grid = FrameGrid(locs["frame"], locs["x"], locs["y"], max_distance_px)
    d_sorted = _next_frame_nn(
        grid.keys,
        grid.frame_starts,
        grid.frame,
        grid.x,
        grid.y,
        grid.x0,
        grid.y0,
        grid.cell_px,
        grid.n_cells_x,
        grid.n_cells,
        float(max_distance_px),
    )
    d = np.empty_like(d_sorted)
    d[grid.order] = d_sorted
    return d


def _basis(d, s, dc, w):
    main = d / (2 * s * s) * np.exp(-d * d / (4 * s * s))
    short = np.exp(-((d - dc) ** 2) / (2 * w * w)) / math.sqrt(2 * math.pi * w * w)
    return np.stack([main, short, d], axis=1)


def _nnls_small(a, b):
    """Non-negative least squares for a few columns: best over all column subsets."""
    n_cols = a.shape[1]
    best_coef = np.zeros(n_cols)
    best_cost = float(b @ b)
    for mask in range(1, 2**n_cols):
        cols = [k for k in range(n_cols) if mask >> k & 1]
        sub = a[:, cols]
        if not np.all(np.isfinite(sub)):
            # A trial shape can under/overflow (e.g. a vanishing short-range width):
            # such a subset cannot fit, and the optimiser then rejects that step.
            continue
        try:
            coef, *_ = np.linalg.lstsq(sub, b, rcond=None)
        except np.linalg.LinAlgError:
            continue
        if np.any(coef < 0):
            continue
        cost = float(np.sum((sub @ coef - b) ** 2))
        if cost < best_cost:
            best_cost = cost
            best_coef = np.zeros(n_cols)
            best_coef[cols] = coef
    return best_coef, best_cost


@dataclasses.dataclass
class NenaResult:
    """Outcome of :func:`nena`.

    Attributes
    ----------
    s_px : float
        Localization precision (per axis), px; NaN when it could not be fitted.
    s_nm : float
        The same in nm (NaN without a pixel size).
    amplitudes : tuple of float
        ``(a1, a2, a3)`` of the main, short-range and linear terms (counts x bin width).
    dc_px, w_px : float
        Centre and width of the short-range term.
    bin_centers_px, counts, model : numpy.ndarray
        The histogram that was fitted and the fitted model on it.
    n_pairs : int
        Localizations with a neighbour in the next frame within the search radius.
    """

    s_px: float
    s_nm: float
    amplitudes: tuple
    dc_px: float
    w_px: float
    bin_centers_px: np.ndarray
    counts: np.ndarray
    model: np.ndarray
    n_pairs: int


# log s and log w are kept within exp's range: a wild Levenberg-Marquardt step on a sparse
# histogram may ask for exp(1000); such widths (px) give a flat basis and a high cost anyway.
_LOG_WIDTH_LIMIT = 50.0


def _widths(theta):
    """(s, dc, w) of the fitted parameters (log s, dc, log w), widths within exp's range."""
    clip = lambda v: min(max(float(v), -_LOG_WIDTH_LIMIT), _LOG_WIDTH_LIMIT)  # noqa: E731
    return math.exp(clip(theta[0])), float(theta[1]), math.exp(clip(theta[2]))


def _cost(theta, d, counts, sigma):
    s, dc, w = _widths(theta)
    a = _basis(d, s, dc, w) / sigma[:, None]
    coef, cost = _nnls_small(a, counts / sigma)
    return cost, coef


def _residuals(theta, d, counts, sigma):
    s, dc, w = _widths(theta)
    a = _basis(d, s, dc, w)
    coef, _ = _nnls_small(a / sigma[:, None], counts / sigma)
    return (a @ coef - counts) / sigma


def _levenberg_marquardt(theta, d, counts, sigma, iterations=60):
    """Minimise the projected residuals over (log s, dc, log w); numeric Jacobian."""
    lam = 1e-2
    r = _residuals(theta, d, counts, sigma)
    cost = float(r @ r)
    for _ in range(iterations):
        jac = np.empty((len(r), len(theta)))
        for k in range(len(theta)):
            step = 1e-6 * max(1.0, abs(theta[k]))
            t = theta.copy()
            t[k] += step
            jac[:, k] = (_residuals(t, d, counts, sigma) - r) / step
        g = jac.T @ r
        h = jac.T @ jac
        improved = False
        for _ in range(12):
            try:
                delta = np.linalg.solve(h + lam * np.diag(np.diag(h) + 1e-12), -g)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            t = theta + delta
            r_new = _residuals(t, d, counts, sigma)
            c_new = float(r_new @ r_new)
            if c_new < cost:
                improved = abs(cost - c_new) > 1e-10 * cost
                theta, r, cost = t, r_new, c_new
                lam = max(lam / 10, 1e-9)
                break
            lam *= 10
        if not improved:
            break
    return theta, cost


def fit_nena(distances_px, max_distance_px, n_bins=None):
    """Fit the NeNA model to nearest-neighbour distances (see module docstring).

    Parameters
    ----------
    distances_px : numpy.ndarray
        Next-frame nearest-neighbour distances (``inf`` where none; ignored).
    max_distance_px : float
        Upper end of the histogram.
    n_bins : int, optional
        Histogram bins (default: from the number of distances, 40 to 200).

    Returns
    -------
    NenaResult
    """
    d = np.asarray(distances_px, dtype=np.float64)
    d = d[np.isfinite(d) & (d <= max_distance_px)]
    if n_bins is None:
        n_bins = int(np.clip(np.sqrt(len(d)) / 2, 40, 200))
    counts, edges = np.histogram(d, bins=n_bins, range=(0.0, max_distance_px))
    centers = 0.5 * (edges[1:] + edges[:-1])
    counts = counts.astype(np.float64)
    nan_result = NenaResult(
        math.nan, math.nan, (math.nan,) * 3, math.nan, math.nan, centers, counts, np.full_like(counts, np.nan), len(d)
    )
    if len(d) < 50:
        return nan_result
    sigma = np.sqrt(np.maximum(counts, 1.0))
    bin_width = edges[1] - edges[0]
    # Start: a grid over s with the short-range term centred at a few widths.
    best = None
    s_grid = np.geomspace(max(bin_width / 2, 1e-3), max_distance_px / 3, 40)
    for s in s_grid:
        for dc_factor in (0.0, 3.0):
            theta = np.array([math.log(s), dc_factor * s, math.log(max(s, bin_width))])
            cost, _ = _cost(theta, centers, counts, sigma)
            if best is None or cost < best[0]:
                best = (cost, theta)
    theta, cost_full = _levenberg_marquardt(best[1], centers, counts, sigma)
    s, dc, w = _widths(theta)
    # The short-range term (repeated binding at nearby sites) is a population of its own,
    # beyond the main peak (mode at s*sqrt(2)). Fitted freely it can instead split the main
    # peak in two and bias s low (seen on sparse simulated movies: 4.3 nm for a true
    # 5.7 nm). It is kept only when it sits beyond the main peak by its own width and
    # lowers chi^2 by more than its three parameters are worth (BIC: ln(bins) each).
    s_main, cost_main = _fit_main_and_linear(centers, counts, sigma, s_grid)
    separate = math.isfinite(dc) and dc > s_main * math.sqrt(2.0) + w
    worth_it = cost_full + 3.0 * math.log(len(centers)) < cost_main
    if not (separate and worth_it) and math.isfinite(s_main):
        s, dc, w = s_main, math.nan, math.nan
        a = _basis(centers, s, 0.0, 1.0)
        a[:, 1] = 0.0
    else:
        a = _basis(centers, s, dc, w)
    coef, _ = _nnls_small(a / sigma[:, None], counts / sigma)
    if coef[0] <= 0 or not math.isfinite(s):
        return nan_result
    return NenaResult(s, math.nan, tuple(float(c) for c in coef), dc, w, centers, counts, a @ coef, len(d))


def _fit_main_and_linear(centers, counts, sigma, s_grid):
    """Best s (px) and chi^2 of the model without the short-range term (grid + golden section)."""

    def cost(log_s):
        a = _basis(centers, math.exp(log_s), 0.0, 1.0)[:, [0, 2]]
        return _nnls_small(a / sigma[:, None], counts / sigma)[1]

    logs = np.log(s_grid)
    costs = [cost(v) for v in logs]
    k = int(np.argmin(costs))
    lo, hi = logs[max(k - 1, 0)], logs[min(k + 1, len(logs) - 1)]
    golden = (math.sqrt(5) - 1) / 2
    for _ in range(40):
        m1 = hi - golden * (hi - lo)
        m2 = lo + golden * (hi - lo)
        if cost(m1) < cost(m2):
            hi = m2
        else:
            lo = m1
    best = 0.5 * (lo + hi)
    return math.exp(best), cost(best)


def nena(locs, pixelsize_nm=None, max_distance_px=None):
    """NeNA localization precision of a localization table.

    Parameters
    ----------
    locs : numpy.ndarray
        Structured array with ``frame``, ``x``, ``y`` (px) and, for the default search
        radius, ``lpx``/``lpy``.
    pixelsize_nm : float, optional
        Camera pixel size; fills ``s_nm``.
    max_distance_px : float, optional
        Search radius and histogram range. Default: 10 x the median reported precision,
        between 0.02 and 3 px (1 px without ``lpx``).

    Returns
    -------
    NenaResult
    """
    if max_distance_px is None:
        names = locs.dtype.names or ()
        if len(locs) and "lpx" in names and "lpy" in names:
            median_lp = float(np.median(np.concatenate([locs["lpx"], locs["lpy"]])))
            max_distance_px = float(np.clip(10 * median_lp, 0.02, 3.0)) if np.isfinite(median_lp) else 1.0
        else:
            max_distance_px = 1.0
    distances = next_frame_distances(locs, max_distance_px) if len(locs) else np.zeros(0)
    result = fit_nena(distances, max_distance_px)
    if pixelsize_nm is not None:
        result.s_nm = result.s_px * float(pixelsize_nm)
    return result
