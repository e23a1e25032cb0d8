"""Drift from fiducial markers (beads, gold particles) tracked in every frame.

Fiducials are found automatically or given as picks. Automatically: after a rough drift
correction (any method; only used to find them), clusters holding localizations in at
least ``min_presence`` of the frames within ``radius_px``, at least as bright as the
median localization. Picks: circles ``(x, y, r)`` in the file's (drifting) coordinates.

Each fiducial's track is one localization per frame: the one nearest to its rough path
(the rough correction, or for picks the pick's median position over windows of frames).
The tracks are modelled as ``position_f(t) = offset_f + drift(t) + noise_f``; offsets,
per-frame drift and each fiducial's scatter (its weight is one over its variance) are
solved by alternating least squares, and fiducials whose scatter is an outlier (a bead
that moved, a cluster of sites) are dropped. The per-frame drift is then smoothed over
time by a Kalman (Rauch-Tung-Striebel) smoother of a random walk whose step variance is
chosen by maximum likelihood, with the measurement variance of each frame from the
fiducials present in it: frames without any fiducial are bridged.
"""

import dataclasses
import math

import numba
import numpy as np

from .drift import DriftResult

MIN_PRESENCE = 0.8
"""Automatic fiducials hold localizations in at least this fraction of the frames."""
OUTLIER_FACTOR = 3.0
"""A fiducial whose scatter exceeds this many times the median scatter is dropped."""
OWN_SIGMAS = 5.0
"""Localizations this many standard deviations (its scatter) from a fiducial's path are its own."""
POINT_OUTLIER_SIGMAS = 5.0
"""A track point this many robust standard deviations off the common drift is left out."""
PICK_WINDOW_FRAMES = 200
"""Frames per window of a pick's rough path (the median position of each window)."""


class FiducialError(ValueError):
    """No usable fiducial (none found, a pick without localizations, all rejected)."""


@dataclasses.dataclass
class FiducialDrift:
    """Outcome of :func:`fiducial_drift`.

    Attributes
    ----------
    result : DriftResult
        ``method`` ``"fiducials"``; ``residual_px`` the weighted RMS scatter of the used
        fiducials about the common drift, ``n_pairs_used`` the fiducials used.
    member : numpy.ndarray
        Per localization: the fiducial it is a localization of (within 5 standard
        deviations of its scatter from its path; any within the search radius of a
        rejected fiducial), -1 for none; these rows are left out of the undrifted output.
    centres_px : numpy.ndarray
        ``(n, 2)`` x, y of the fiducials, px (at frame 0's drift for automatic ones, the
        pick centres for picks).
    used : numpy.ndarray
        Boolean per fiducial: kept (not an outlier).
    scatter_px : numpy.ndarray
        ``(n, 2)`` RMS scatter of each fiducial about the common drift (x, y), px.
    presence : numpy.ndarray
        Fraction of frames each fiducial has a localization in.
    """

    result: DriftResult
    member: np.ndarray
    centres_px: np.ndarray
    used: np.ndarray
    scatter_px: np.ndarray
    presence: np.ndarray


@numba.njit(cache=True, nogil=True)
def _histogram(x, y, frame, drift_x, drift_y, inv_bin, nx, ny):
    counts = np.zeros((ny, nx), dtype=np.int64)
    for i in range(len(x)):
        f = frame[i]
        ix = int(math.floor((x[i] - drift_x[f]) * inv_bin))
        iy = int(math.floor((y[i] - drift_y[f]) * inv_bin))
        if 0 <= ix < nx and 0 <= iy < ny:
            counts[iy, ix] += 1
    return counts


@numba.njit(cache=True, nogil=True)
def _members(x, y, frame, path_x, path_y, radius, cell_size, cell_start, cell_items, nx, ny):
    # For each localization the nearest fiducial whose path at its frame lies within
    # ``radius``, and the squared distance; fiducials are registered in every cell their
    # path's bounding box (plus radius) overlaps.
    member = np.full(len(x), -1, dtype=np.int32)
    distance2 = np.full(len(x), np.inf)
    r2 = radius * radius
    for i in range(len(x)):
        ix = int(math.floor(x[i] / cell_size))
        iy = int(math.floor(y[i] / cell_size))
        if ix < 0 or iy < 0 or ix >= nx or iy >= ny:
            continue
        c = iy * nx + ix
        f = frame[i]
        for e in range(cell_start[c], cell_start[c + 1]):
            k = cell_items[e]
            dx = x[i] - path_x[k, f]
            dy = y[i] - path_y[k, f]
            d2 = dx * dx + dy * dy
            if d2 <= r2 and d2 < distance2[i]:
                distance2[i] = d2
                member[i] = k
    return member, distance2


@numba.njit(cache=True, nogil=True)
def _nearest_per_frame(member, distance2, frame, n_fiducials, n_frames):
    best = np.full((n_fiducials, n_frames), -1, dtype=np.int64)
    best_d2 = np.full((n_fiducials, n_frames), np.inf)
    for i in range(len(member)):
        k = member[i]
        if k >= 0 and distance2[i] < best_d2[k, frame[i]]:
            best_d2[k, frame[i]] = distance2[i]
            best[k, frame[i]] = i
    return best


@numba.njit(cache=True, nogil=True)
def _local_level(observed, variance, q):
    # Kalman filter and RTS smoother of a random walk (step variance q) observed with the
    # given variance (inf: no observation); returns the smoothed values and the log-likelihood
    n = len(observed)
    x_f = np.empty(n)
    p_f = np.empty(n)
    p_pred = np.empty(n)
    x = 0.0
    p = np.inf
    loglik = 0.0
    for t in range(n):
        pp = p + q
        p_pred[t] = pp
        r = variance[t]
        if math.isfinite(r) and math.isfinite(observed[t]):
            if math.isinf(pp):
                x, p = observed[t], r
            else:
                s = pp + r
                innovation = observed[t] - x
                loglik -= 0.5 * (math.log(2 * math.pi * s) + innovation * innovation / s)
                gain = pp / s
                x = x + gain * innovation
                p = (1.0 - gain) * pp
        else:
            p = pp
        x_f[t] = x
        p_f[t] = p
    smooth = x_f.copy()
    for t in range(n - 2, -1, -1):
        if not math.isfinite(p_f[t]):  # before the first observation: the first smoothed value
            smooth[t] = smooth[t + 1]
        elif p_pred[t + 1] > 0:
            smooth[t] = x_f[t] + p_f[t] / p_pred[t + 1] * (smooth[t + 1] - x_f[t])
    return smooth, loglik


def smooth_random_walk(observed, variance):
    """Per-frame values smoothed as a random walk seen through noise.

    Parameters
    ----------
    observed : numpy.ndarray
        Value of every frame (NaN: none).
    variance : numpy.ndarray
        Measurement variance of every frame (inf: none).

    Returns
    -------
    numpy.ndarray
        The Rauch-Tung-Striebel smoothed values, with the random walk's step variance
        chosen by maximum likelihood over a logarithmic grid.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth = np.cumsum(rng.normal(0, 0.01, 2000))
    >>> noisy = truth + rng.normal(0, 0.2, 2000)
    >>> smooth = smooth_random_walk(noisy, np.full(2000, 0.04))
    >>> bool(np.std(smooth - truth) < 0.5 * np.std(noisy - truth))
    True
    """
    observed = np.asarray(observed, dtype=np.float64)
    variance = np.asarray(variance, dtype=np.float64)
    finite = np.isfinite(observed) & np.isfinite(variance)
    if not finite.any():
        raise FiducialError("no frame has a fiducial localization")
    typical = float(np.median(variance[finite]))
    best = None
    for q in np.geomspace(1e-8, 10.0, 37) * typical:
        smooth, loglik = _local_level(observed, variance, q)
        if best is None or loglik > best[0]:
            best = (loglik, smooth)
    return best[1]


def find_fiducials(frame, x, y, n_frames, rough_drift_px, *, radius_px, min_presence=MIN_PRESENCE, photons=None):
    """Centres of clusters present in at least ``min_presence`` of the frames.

    Parameters
    ----------
    frame, x, y : numpy.ndarray
        The localizations (px).
    n_frames : int
        Frames of the movie.
    rough_drift_px : numpy.ndarray
        ``(n_frames, 2)`` rough drift (x, y) to correct the positions with first.
    radius_px : float
        A fiducial's localizations lie within this radius of its centre.
    min_presence : float
        Fraction of frames a fiducial has localizations in.
    photons : numpy.ndarray, optional
        Photons per localization: a fiducial is at least as bright as the median.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` x, y of the centres (rough-corrected coordinates), px; may be empty.

    Examples
    --------
    >>> from napari_picasso.simulate import drifting_locs
    >>> sim = drifting_locs(50_000, n_frames=2000, width=64, height=64, n_fiducials=3)
    >>> locs = sim.locs
    >>> centres = find_fiducials(locs["frame"], locs["x"], locs["y"], 2000, sim.drift_px, radius_px=1.0)
    >>> len(centres)
    3
    """
    drift_x = np.ascontiguousarray(rough_drift_px[:, 0], dtype=np.float64)
    drift_y = np.ascontiguousarray(rough_drift_px[:, 1], dtype=np.float64)
    frame = np.asarray(frame)
    if len(frame) == 0:
        return np.zeros((0, 2))
    inv_bin = 1.0 / radius_px
    corrected_max = (float(np.max(x)) + abs(drift_x).max() + 2, float(np.max(y)) + abs(drift_y).max() + 2)
    nx, ny = int(corrected_max[0] * inv_bin) + 2, int(corrected_max[1] * inv_bin) + 2
    counts = _histogram(x, y, frame, drift_x, drift_y, inv_bin, nx, ny)
    # a circle of the radius lies within the 3 x 3 bins around the bin of its centre
    padded = np.pad(counts, 1)
    blocks = sum(padded[dy : dy + ny, dx : dx + nx] for dy in range(3) for dx in range(3))
    threshold = min_presence * n_frames
    candidates = np.argwhere(blocks >= threshold)
    centres = []
    taken = np.zeros_like(blocks, dtype=bool)
    for by, bx in candidates[np.argsort(-blocks[candidates[:, 0], candidates[:, 1]], kind="stable")]:
        if taken[max(by - 2, 0) : by + 3, max(bx - 2, 0) : bx + 3].any():
            continue
        taken[by, bx] = True
        centres.append(((bx + 0.5) * radius_px, (by + 0.5) * radius_px))
    if not centres:
        return np.zeros((0, 2))
    centres = np.array(centres)
    # refine each centre: median of the rough-corrected localizations within 2 radii
    corrected_x = np.asarray(x, dtype=np.float64) - drift_x[frame]
    corrected_y = np.asarray(y, dtype=np.float64) - drift_y[frame]
    path = np.broadcast_to(centres[:, :, None], (len(centres), 2, n_frames))
    member, _ = _membership(corrected_x, corrected_y, frame, path, 2 * radius_px)
    keep = []
    median_photons = float(np.median(photons)) if photons is not None else None
    for k in range(len(centres)):
        rows = np.flatnonzero(member == k)
        if len(np.unique(frame[rows])) < threshold:
            continue
        if median_photons is not None and np.median(photons[rows]) < median_photons:
            continue
        centres[k] = np.median(corrected_x[rows]), np.median(corrected_y[rows])
        keep.append(k)
    return centres[keep]


def _membership(x, y, frame, path, radius):
    """:func:`_members` with the cell lists built for ``path`` ``(n, 2, n_frames)``."""
    n = len(path)
    if n == 0:
        return np.full(len(x), -1, dtype=np.int32), np.full(len(x), np.inf)
    cell = max(2.0 * radius, 1.0)
    lo = path.min(axis=2) - radius
    hi = path.max(axis=2) + radius
    extent = max(float(np.max(x)) if len(x) else 0.0, float(np.max(y)) if len(y) else 0.0, float(hi.max())) + cell
    nx = ny = int(extent / cell) + 2
    lists = [[] for _ in range(nx * ny)]
    for k in range(n):
        for cy in range(max(int(lo[k, 1] // cell), 0), min(int(hi[k, 1] // cell), ny - 1) + 1):
            for cx in range(max(int(lo[k, 0] // cell), 0), min(int(hi[k, 0] // cell), nx - 1) + 1):
                lists[cy * nx + cx].append(k)
    cell_start = np.zeros(nx * ny + 1, dtype=np.int64)
    cell_start[1:] = np.cumsum([len(items) for items in lists])
    cell_items = np.array([k for items in lists for k in items], dtype=np.int64)
    path_x = np.ascontiguousarray(path[:, 0, :], dtype=np.float64)
    path_y = np.ascontiguousarray(path[:, 1, :], dtype=np.float64)
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    return _members(x, y, np.asarray(frame), path_x, path_y, float(radius), cell, cell_start, cell_items, nx, ny)


def _pick_paths(frame, x, y, picks, n_frames):
    """Paths of picked fiducials, followed through the drift: in windows of
    ``PICK_WINDOW_FRAMES`` frames, the median of the localizations within the pick's
    radius of the previous window's median, from the window holding the most
    localizations in the pick circle outwards (a fiducial may drift out of its circle).
    Raises FiducialError for a pick without localizations."""
    n_windows = -(-int(n_frames) // PICK_WINDOW_FRAMES)
    order = np.argsort(frame, kind="stable")
    window_rows = np.searchsorted(frame[order], np.arange(n_windows + 1) * PICK_WINDOW_FRAMES)
    paths = np.empty((len(picks), 2, n_frames))
    for k, (px, py, r) in enumerate(picks):
        circle, _ = _membership(x, y, frame, np.broadcast_to(np.array([[px], [py]]), (1, 2, n_frames)), float(r))
        inside = order[circle[order] == 0]
        if len(inside) == 0:
            raise FiducialError(f"pick {k + 1} at x {px:g}, y {py:g} (radius {r:g} px) holds no localizations")
        counts = np.bincount(frame[inside] // PICK_WINDOW_FRAMES, minlength=n_windows)
        start = int(np.argmax(counts))
        medians = np.full((n_windows, 2), np.nan)
        centre = np.array([px, py])
        for w in list(range(start, n_windows)) + list(range(start - 1, -1, -1)):
            if w == start - 1:  # backwards from the start window
                centre = medians[start]
            rows = order[window_rows[w] : window_rows[w + 1]]
            near = rows[np.hypot(x[rows] - centre[0], y[rows] - centre[1]) <= r]
            if len(near):
                centre = np.array([np.median(x[near]), np.median(y[near])])
                medians[w] = centre
        known = np.flatnonzero(np.isfinite(medians[:, 0]))
        window_frames = (np.arange(n_windows) + 0.5) * PICK_WINDOW_FRAMES
        for axis in range(2):
            paths[k, axis] = np.interp(np.arange(n_frames), window_frames[known], medians[known, axis])
    return paths


def _solve_tracks(tracks, present):
    """Offsets, per-frame drift and per-fiducial variance of ``tracks`` (one ``(n,
    n_frames)`` array per axis) by alternating least squares.

    Points further than ``POINT_OUTLIER_SIGMAS`` robust standard deviations from the model
    (a stray localization taken where the fiducial was not detected) are left out.

    Returns
    -------
    solved : list of (drift, variance, weight_sum)
        Per axis: the per-frame drift (NaN where no fiducial), each fiducial's variance
        and the frames' summed weights.
    present : numpy.ndarray
        The points used.
    """
    present = present.copy()
    n = present.shape[0]
    offsets = [np.array([track[k, present[k]].mean() for k in range(n)]) for track in tracks]
    variance = [np.ones(n) for _ in tracks]
    for iteration in range(8):
        solved, residuals = [], []
        for axis, track in enumerate(tracks):
            weights = present / variance[axis][:, None]
            weight_sum = weights.sum(axis=0)
            centred = np.where(present, track - offsets[axis][:, None], 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                drift = np.where(weight_sum > 0, (weights * centred).sum(axis=0) / weight_sum, np.nan)
            residual = np.where(present, centred - np.nan_to_num(drift)[None, :], 0.0)
            offsets[axis] = offsets[axis] + np.array([residual[k, present[k]].mean() for k in range(n)])
            residual = np.where(present, track - offsets[axis][:, None] - np.nan_to_num(drift)[None, :], 0.0)
            variance[axis] = np.maximum(np.array([np.mean(residual[k, present[k]] ** 2) for k in range(n)]), 1e-12)
            solved.append((drift, variance[axis], weight_sum))
            residuals.append(residual)
        if iteration >= 1:
            distance2 = np.zeros(present.shape)
            for residual in residuals:
                sigma = np.array([1.4826 * np.median(np.abs(residual[k, present[k]])) for k in range(n)])
                distance2 += (residual / np.maximum(sigma, 1e-9)[:, None]) ** 2
            outliers = present & (distance2 > POINT_OUTLIER_SIGMAS**2 * len(tracks))
            if not outliers.any():
                break
            present &= ~outliers
    return solved, present


def _own_rows(member, x, y, frame, tracks, present, drift, used, scatter):
    """Rows that are a fiducial's own localizations: within ``OWN_SIGMAS`` of its scatter
    of its fitted path (offset + drift) for a used fiducial; every row within the search
    radius of a rejected one (a bead, if a wandering one). Other rows keep -1."""
    own = np.full(len(member), -1, dtype=np.int32)
    for k in range(len(used)):
        rows = np.flatnonzero(member == k)
        if not used[k]:
            own[rows] = k
            continue
        offset = [np.median((track[k] - drift[:, axis])[present[k]]) for axis, track in enumerate(tracks[:2])]
        dx = x[rows] - offset[0] - drift[frame[rows], 0]
        dy = y[rows] - offset[1] - drift[frame[rows], 1]
        reach = OWN_SIGMAS * float(np.sqrt(np.mean(scatter[k] ** 2)))
        own[rows[dx * dx + dy * dy <= reach * reach]] = k
    return own


def fiducial_drift(
    frame,
    x,
    y,
    n_frames,
    *,
    radius_px,
    z_nm=None,
    picks=None,
    rough_drift_px=None,
    min_presence=MIN_PRESENCE,
    max_scatter_px=None,
    photons=None,
):
    """Drift of every frame from fiducial markers.

    Parameters
    ----------
    frame, x, y : numpy.ndarray
        The localizations (px), any order.
    n_frames : int
        Frames of the movie.
    radius_px : float
        Automatic fiducials: their localizations lie within this radius of the rough path.
    z_nm : numpy.ndarray, optional
        z of every localization, nm: z drift too.
    picks : numpy.ndarray, optional
        ``(n, 3)`` x, y, r of picked fiducials (px, the file's coordinates); default:
        automatic detection.
    rough_drift_px : numpy.ndarray, optional
        ``(n_frames, 2)`` rough drift used to find fiducials (required without picks).
    min_presence : float
        Fraction of frames an automatic fiducial has localizations in.
    max_scatter_px : float, optional
        Fiducials scattering more about the common drift (RMS, either axis) are dropped.
    photons : numpy.ndarray, optional
        Photons per localization (automatic fiducials are at least as bright as the median).

    Returns
    -------
    FiducialDrift

    Raises
    ------
    FiducialError
        No fiducial found, a pick without localizations, or every fiducial rejected.

    Examples
    --------
    >>> from napari_picasso.simulate import drifting_locs
    >>> sim = drifting_locs(50_000, n_frames=2000, width=64, height=64, n_fiducials=4)
    >>> locs = sim.locs
    >>> out = fiducial_drift(locs["frame"], locs["x"], locs["y"], 2000, radius_px=1.0,
    ...                      rough_drift_px=sim.drift_px)
    >>> int(out.used.sum())
    4
    """
    frame = np.asarray(frame, dtype=np.int64)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if picks is not None:
        picks = np.asarray(picks, dtype=np.float64).reshape(-1, 3)
        if len(picks) == 0:
            raise FiducialError("the picks list is empty")
        paths = _pick_paths(frame, x, y, picks, n_frames)
        radius = picks[:, 2].max()
        centres = picks[:, :2].copy()
    else:
        if rough_drift_px is None:
            raise ValueError("automatic fiducials need a rough drift (rough_drift_px)")
        rough = np.asarray(rough_drift_px, dtype=np.float64)
        centres = find_fiducials(
            frame, x, y, n_frames, rough, radius_px=radius_px, min_presence=min_presence, photons=photons
        )
        if len(centres) == 0:
            raise FiducialError(
                f"no fiducial found: no cluster has localizations in {min_presence:.0%} of the frames "
                f"within {radius_px:.3g} px"
            )
        paths = centres[:, :, None] + rough[:, :2].T[None, :, :]
        radius = radius_px
    member, distance2 = _membership(x, y, frame, paths, radius)
    if picks is not None:  # a pick's own radius
        outside = (member >= 0) & (distance2 > picks[np.maximum(member, 0), 2] ** 2)
        member[outside] = -1
    n = len(centres)
    best = _nearest_per_frame(member, distance2, frame, n, int(n_frames))
    present = best >= 0
    presence = present.mean(axis=1)
    columns = [x, y] + ([np.asarray(z_nm, dtype=np.float64)] if z_nm is not None else [])
    tracks = [np.where(present, values[np.maximum(best, 0)], np.nan) for values in columns]
    used = presence > 0
    scatter = np.zeros((n, 2))
    for _ in range(n + 1):  # drop outliers one at a time, worst first
        index = np.flatnonzero(used)
        if len(index) == 0:
            raise FiducialError("every fiducial was rejected as an outlier (they do not move together)")
        solved, _ = _solve_tracks([track[index] for track in tracks], present[index])
        scatter[:] = np.nan
        scatter[index] = np.sqrt(np.column_stack([variance for _, variance, _ in solved[:2]]))
        lateral = np.sqrt(np.mean(scatter[index] ** 2, axis=1))
        limit = OUTLIER_FACTOR * np.median(lateral) if len(index) > 2 else np.inf
        if max_scatter_px is not None:
            limit = min(limit, max_scatter_px)
        if lateral.max() <= limit:
            break
        used[index[int(np.argmax(lateral))]] = False
    per_frame = []
    for drift, _, weight_sum in solved:
        variance = np.where(weight_sum > 0, 1.0 / np.where(weight_sum > 0, weight_sum, 1.0), np.inf)
        per_frame.append(smooth_random_walk(drift, variance))
    per_frame = np.column_stack(per_frame)
    per_frame -= per_frame[0]
    member = _own_rows(member, x, y, frame, tracks, present, per_frame, used, scatter)
    weights = 1.0 / np.maximum(scatter[used] ** 2, 1e-12)
    residual = float(np.sqrt(np.sum(weights * scatter[used] ** 2) / np.sum(weights)))
    result = DriftResult(
        drift_px=per_frame[:, :2],
        segment_frames_mean=np.arange(n_frames, dtype=np.float64),
        segment_drift_px=per_frame[:, :2],
        residual_px=residual,
        n_pairs_used=int(used.sum()),
        segment_frames=1,
        method="fiducials",
        drift_z_nm=per_frame[:, 2] if z_nm is not None else None,
        segment_drift_z_nm=per_frame[:, 2] if z_nm is not None else None,
    )
    return FiducialDrift(result, member, centres, used, scatter, presence)
