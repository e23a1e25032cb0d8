"""DBSCAN clustering of localizations (Ester et al. 1996), grid-accelerated, 2D.

A localization is a core point when at least ``min_samples`` localizations (itself
included) lie within ``radius_px``; core points within the radius of each other form one
cluster (union-find); a non-core point within the radius of a core point joins that
core point's cluster (the nearest one); the rest is noise (``group = -1``). Clusters are
numbered 0, 1, ... in the order of their first localization in the input.
"""

import dataclasses

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401
from ._grid import FrameGrid, cell_of, row_range


@numba.njit(parallel=True, cache=True, nogil=True)
def _count_neighbours(keys, starts, x, y, x0, y0, cell, n_x, n_cells, r2):
    n = len(x)
    counts = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        cx, cy = cell_of(x[i], y[i], x0, y0, cell, n_x)
        c = 0
        for dy in range(-1, 2):
            lo, hi = row_range(keys, starts, 0, cx, cy + dy, n_x, n_cells)
            for j in range(lo, hi):
                if (x[j] - x[i]) ** 2 + (y[j] - y[i]) ** 2 <= r2:
                    c += 1
        counts[i] = c
    return counts


@numba.njit(cache=True, nogil=True)
def _find(parent, i):
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@numba.njit(cache=True, nogil=True)
def _cluster(keys, starts, x, y, x0, y0, cell, n_x, n_cells, r2, core):
    n = len(x)
    parent = np.arange(n)
    for i in range(n):
        if not core[i]:
            continue
        cx, cy = cell_of(x[i], y[i], x0, y0, cell, n_x)
        for dy in range(-1, 2):
            lo, hi = row_range(keys, starts, 0, cx, cy + dy, n_x, n_cells)
            for j in range(lo, hi):
                if j <= i or not core[j]:
                    continue
                if (x[j] - x[i]) ** 2 + (y[j] - y[i]) ** 2 <= r2:
                    a = _find(parent, i)
                    b = _find(parent, j)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
    root = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        if core[i]:
            root[i] = _find(parent, i)
    # border points: the nearest core point's root
    for i in range(n):
        if core[i]:
            continue
        cx, cy = cell_of(x[i], y[i], x0, y0, cell, n_x)
        best = r2
        for dy in range(-1, 2):
            lo, hi = row_range(keys, starts, 0, cx, cy + dy, n_x, n_cells)
            for j in range(lo, hi):
                if core[j]:
                    d2 = (x[j] - x[i]) ** 2 + (y[j] - y[i]) ** 2
                    if d2 <= best:
                        best = d2
                        root[i] = _find(parent, j)
    return root


CLUSTER_DTYPE = np.dtype(
    [
        ("group", "i4"),
        ("n", "u4"),
        ("x", "f4"),
        ("y", "f4"),
        ("std_x", "f4"),
        ("std_y", "f4"),
        ("mean_frame", "f4"),
        ("std_frame", "f4"),
        ("n_frames", "u4"),
    ]
)


@dataclasses.dataclass
class DbscanResult:
    """Outcome of :func:`dbscan`.

    Attributes
    ----------
    group : numpy.ndarray of int32
        Cluster of each localization (input order), -1 for noise.
    clusters : numpy.ndarray
        One row per cluster (``CLUSTER_DTYPE``): localizations, mean and standard
        deviation of position (px) and frame, distinct frames.
    """

    group: np.ndarray
    clusters: np.ndarray

    @property
    def n_clusters(self):
        return len(self.clusters)


def cluster_summary(locs, group):
    """Per-cluster figures (``CLUSTER_DTYPE``) of localizations with ``group >= 0``.

    Without a ``frame`` field the frame figures are NaN and ``n_frames`` 0.
    """
    group = np.asarray(group)
    member = group >= 0
    n_clusters = int(group.max()) + 1 if member.any() else 0
    out = np.zeros(n_clusters, dtype=CLUSTER_DTYPE)
    if n_clusters == 0:
        return out
    g = group[member]
    counts = np.bincount(g, minlength=n_clusters).astype(np.float64)
    out["group"] = np.arange(n_clusters)
    out["n"] = counts
    has_frame = "frame" in (locs.dtype.names or ())
    for name, mean_name, std_name in (("x", "x", "std_x"), ("y", "y", "std_y"), ("frame", "mean_frame", "std_frame")):
        if name == "frame" and not has_frame:
            out["mean_frame"] = np.nan
            out["std_frame"] = np.nan
            continue
        v = np.asarray(locs[name], dtype=np.float64)[member]
        mean = np.bincount(g, weights=v, minlength=n_clusters) / counts
        var = np.bincount(g, weights=v * v, minlength=n_clusters) / counts - mean**2
        out[mean_name] = mean
        out[std_name] = np.sqrt(np.maximum(var, 0.0))
    if not has_frame:
        return out
    pairs = np.unique(np.stack([g.astype(np.int64), np.asarray(locs["frame"], dtype=np.int64)[member]]), axis=1)
    out["n_frames"] = np.bincount(pairs[0], minlength=n_clusters)
    return out


def dbscan(locs, radius_px, min_samples):
    """DBSCAN of the ``x``, ``y`` positions (px) of a localization table.

    Parameters
    ----------
    locs : numpy.ndarray
        Structured array with ``x``, ``y``.
    radius_px : float
        Neighbourhood radius (DBSCAN's eps), px.
    min_samples : int
        Localizations within the radius (the point itself included) that make a core
        point.

    Returns
    -------
    DbscanResult
    """
    if radius_px <= 0:
        raise ValueError(f"radius_px must be positive, got {radius_px}")
    if min_samples < 1:
        raise ValueError(f"min_samples must be >= 1, got {min_samples}")
    n = len(locs)
    if n == 0:
        return DbscanResult(np.zeros(0, dtype=np.int32), cluster_summary(locs, np.zeros(0, dtype=np.int32)))
    grid = FrameGrid(np.zeros(n, dtype=np.int64), locs["x"], locs["y"], radius_px)
    r2 = float(radius_px) ** 2
    args = (
        grid.keys,
        grid.frame_starts,
        grid.x,
        grid.y,
        grid.x0,
        grid.y0,
        grid.cell_px,
        grid.n_cells_x,
        grid.n_cells,
        r2,
    )
    core = _count_neighbours(*args) >= min_samples
    root_sorted = _cluster(*args, core)
    root = np.full(n, -1, dtype=np.int64)
    root[grid.order] = np.where(root_sorted >= 0, grid.order[np.maximum(root_sorted, 0)], -1)
    # number clusters by first appearance in the input
    group = np.full(n, -1, dtype=np.int32)
    member = root >= 0
    if member.any():
        roots, first = np.unique(root[member], return_index=True)
        rank = np.empty(len(roots), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(roots))
        group[member] = rank[np.searchsorted(roots, root[member])]
    return DbscanResult(group, cluster_summary(locs, group))
