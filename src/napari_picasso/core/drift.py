"""Drift by redundant cross-correlation (RCC; Wang et al., Opt. Express 2014).

The acquisition is cut into time segments, each rendered as a histogram image
(:func:`napari_picasso.core.render.render`). Every pair of segments is cross-correlated
(FFT), the correlation smoothed by a Gaussian of ``blur_px`` render pixels, and its peak
located to sub-pixel precision by a least-squares Gaussian (log-quadratic) fit. The
pairwise shifts over-determine the segment drifts: they are solved by least squares,
pairs whose residual is an outlier are dropped and the system solved again. A cubic
smoothing spline (:mod:`napari_picasso.core.spline`) through the segment drifts at the
segments' mean frames gives the drift of every frame.

The drift is returned relative to frame 0 (a constant offset is not observable), so
:func:`undrift` moves every localization to where it would have been at the start.
"""

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from . import _parallel  # noqa: F401
from .render import render
from .spline import SmoothingSpline


@dataclasses.dataclass
class DriftResult:
    """Outcome of a drift estimate (:func:`rcc_drift`, :func:`.aim.aim_drift`,
    :func:`.fiducials.fiducial_drift`).

    Attributes
    ----------
    drift_px : numpy.ndarray
        ``(n_frames, 2)`` drift (x, y) of every frame, px, relative to frame 0.
    segment_frames_mean : numpy.ndarray
        Mean frame of each segment (the spline knots).
    segment_drift_px : numpy.ndarray
        ``(n_segments, 2)`` drift (x, y) solved for the segments, px (same offset as
        ``drift_px``).
    residual_px : float
        The method's own consistency figure: for RCC the RMS residual of the pairwise
        shifts kept in the final solve, for AIM the RMS change of the last round, for
        fiducials the RMS scatter of the fiducials' tracks about their weighted mean.
    n_pairs_used : int
        RCC: pairs kept after outlier rejection; fiducials: fiducials used.
    segment_frames : int
        Frames per segment (1 for fiducials: every frame).
    method : str
        ``"RCC"``, ``"AIM"`` or ``"fiducials"``.
    drift_z_nm : numpy.ndarray or None
        ``(n_frames,)`` z drift of every frame, nm, relative to frame 0 (3D data).
    segment_drift_z_nm : numpy.ndarray or None
        z drift of the segments, nm.
    spline_smoothing : tuple of float
        Roughness penalty of the per-frame spline of x, y (and z) (segment methods).
    """

    drift_px: np.ndarray
    segment_frames_mean: np.ndarray
    segment_drift_px: np.ndarray
    residual_px: float
    n_pairs_used: int
    segment_frames: int
    method: str = "RCC"
    drift_z_nm: np.ndarray | None = None
    segment_drift_z_nm: np.ndarray | None = None
    spline_smoothing: tuple = ()

    @property
    def drift_columns(self):
        """``(n_frames, 2 or 3)``: x, y px and, in 3D, z nm (the drift file's columns)."""
        if self.drift_z_nm is None:
            return self.drift_px
        return np.column_stack([self.drift_px, self.drift_z_nm])

    def summary(self, pixelsize_nm=None):
        """Flat figures: range (max - min) and standard deviation of the x and y drift,
        px and (with ``pixelsize_nm``) nm; in 3D ``drift_z_range_nm`` and ``drift_z_std_nm``."""
        drift = self.drift_px
        empty = len(drift) == 0
        out = {
            "drift_x_range_px": math.nan if empty else float(np.ptp(drift[:, 0])),
            "drift_y_range_px": math.nan if empty else float(np.ptp(drift[:, 1])),
            "drift_x_std_px": math.nan if empty else float(np.std(drift[:, 0])),
            "drift_y_std_px": math.nan if empty else float(np.std(drift[:, 1])),
            "drift_residual_px": float(self.residual_px),
        }
        if pixelsize_nm is not None:
            for key in list(out):
                out[key.replace("_px", "_nm")] = out[key] * float(pixelsize_nm)
        if self.drift_z_nm is not None and len(self.drift_z_nm):
            out["drift_z_range_nm"] = float(np.ptp(self.drift_z_nm))
            out["drift_z_std_nm"] = float(np.std(self.drift_z_nm))
        return out


def segment_bounds(n_frames, segment_frames, offset_frames=0):
    """First frame of every time segment, and ``n_frames`` last.

    Boundaries lie at ``offset_frames + k * segment_frames``; a last piece shorter than a
    segment joins the one before it, a first piece of at most half a segment the one
    after it.

    Examples
    --------
    >>> segment_bounds(2500, 1000).tolist()
    [0, 1000, 2500]
    >>> segment_bounds(3500, 1000, offset_frames=600).tolist()
    [0, 600, 1600, 3500]
    """
    n_frames, segment_frames = int(n_frames), int(segment_frames)
    if segment_frames < 1:
        raise ValueError(f"segment_frames must be >= 1, got {segment_frames}")
    offset = int(offset_frames) % segment_frames
    inner = list(range(offset if offset else segment_frames, n_frames, segment_frames))
    if inner and inner[0] <= segment_frames / 2:
        inner = inner[1:]
    while inner and n_frames - inner[-1] < segment_frames:
        inner = inner[:-1]
    return np.array([0] + inner + [n_frames], dtype=np.int64)


def segment_rows(sorted_frame, bounds):
    """Row bounds of the segments in a frame-sorted column (``rows[k]:rows[k + 1]``)."""
    return np.searchsorted(np.asarray(sorted_frame), bounds, side="left")


def smooth_segments(knots, segment_values, n_frames, spline_smoothing="gcv"):
    """Per-frame values from one cubic smoothing spline per column through the segments'
    values at ``knots`` (their mean frames).

    Parameters
    ----------
    knots : numpy.ndarray
        ``(n_segments,)`` mean frame of each segment.
    segment_values : numpy.ndarray
        ``(n_segments, n_columns)`` values.
    n_frames : int
    spline_smoothing : "gcv", float or sequence
        Roughness penalty (:class:`~.spline.SmoothingSpline`), one for all columns or one
        per column.

    Returns
    -------
    per_frame : numpy.ndarray
        ``(n_frames, n_columns)``.
    smoothing : tuple of float
        The penalty used for each column.
    """
    segment_values = np.asarray(segment_values, dtype=np.float64).reshape(len(knots), -1)
    n_columns = segment_values.shape[1]
    if isinstance(spline_smoothing, str) or np.ndim(spline_smoothing) == 0:
        spline_smoothing = [spline_smoothing] * n_columns
    t = np.arange(int(n_frames), dtype=np.float64)
    splines = [SmoothingSpline(knots, column, lam) for column, lam in zip(segment_values.T, spline_smoothing)]
    return np.column_stack([spline(t) for spline in splines]), tuple(spline.lam for spline in splines)


def _peak(cc, max_shift, fit_radius=2):
    """Sub-pixel shift (dy, dx) of the maximum of a circular correlation ``cc`` (zero
    shift at index 0) within ``max_shift`` render px."""
    h, w = cc.shape
    reach = max_shift + fit_radius
    # the window around zero shift, unwrapped (no full fftshift copy)
    window = cc[np.ix_(np.arange(-reach, reach + 1) % h, np.arange(-reach, reach + 1) % w)].astype(np.float64)
    inner = window[fit_radius:-fit_radius, fit_radius:-fit_radius]
    j, i = np.unravel_index(int(np.argmax(inner)), inner.shape)
    j += fit_radius
    i += fit_radius
    patch = window[j - fit_radius : j + fit_radius + 1, i - fit_radius : i + fit_radius + 1]
    coarse = (float(j - reach), float(i - reach))
    peak = patch.max()
    yy, xx = np.mgrid[-fit_radius : fit_radius + 1, -fit_radius : fit_radius + 1]
    use = patch > 0.2 * peak
    if peak <= 0 or use.sum() < 6:
        return coarse
    # log of a Gaussian is quadratic: fit c0 + c1 x + c2 y + c3 x^2 + c4 y^2 + c5 xy,
    # weighted by the values (the log of small values is noisy).
    x = xx[use].astype(np.float64)
    y = yy[use].astype(np.float64)
    wts = patch[use] / peak
    a = np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1) * wts[:, None]
    c, *_ = np.linalg.lstsq(a, np.log(patch[use] / peak) * wts, rcond=None)
    hess = np.array([[2 * c[3], c[5]], [c[5], 2 * c[4]]])
    if np.linalg.det(hess) <= 0 or hess[0, 0] >= 0:
        return coarse
    offset = np.linalg.solve(hess, -np.array([c[1], c[2]]))
    if not np.all(np.isfinite(offset)) or np.any(np.abs(offset) > 1.5):
        return coarse
    return coarse[0] + float(offset[1]), coarse[1] + float(offset[0])


CAP_PERCENTILE = 99.9
"""A rendered pixel counts at most this percentile of the occupied pixels' counts."""


def _capped(image):
    """``image`` with its counts capped at :data:`CAP_PERCENTILE` of the occupied pixels.

    Fiducials (in every frame, 1 nm precise) pile thousands of localizations into one
    render pixel; uncapped, a few of them make the correlation, which then locks to the
    render pixels (their sub-pixel positions do not average out as those of many sites do).
    """
    occupied = image[image > 0]
    if len(occupied) == 0:
        return image
    return np.minimum(image, np.percentile(occupied, CAP_PERCENTILE))


def _solve(pairs, shifts, n_segments):
    """Least-squares drifts (segment 0 fixed at 0) from ``d_i - d_j = shift_ij``."""
    a = np.zeros((len(pairs), n_segments - 1))
    for row, (i, j) in enumerate(pairs):
        if i > 0:
            a[row, i - 1] += 1.0
        if j > 0:
            a[row, j - 1] -= 1.0
    sol, *_ = np.linalg.lstsq(a, shifts, rcond=None)
    drift = np.vstack([np.zeros((1, 2)), sol])
    residual = a @ sol - shifts
    rank = np.linalg.matrix_rank(a) if len(pairs) else 0
    return drift, np.hypot(residual[:, 0], residual[:, 1]), rank


def segment_index(frame, n_frames, segment_frames, offset_frames=0):
    """Segment of each frame (see :func:`segment_bounds`) and the number of segments."""
    bounds = segment_bounds(n_frames, segment_frames, offset_frames)
    index = np.searchsorted(bounds, np.asarray(frame, dtype=np.int64), side="right") - 1
    return np.clip(index, 0, len(bounds) - 2), len(bounds) - 1


def rcc_drift(
    locs,
    n_frames,
    segment_frames=1000,
    oversampling=None,
    max_shift_px=5.0,
    blur_px=1.0,
    viewport=None,
    spline_smoothing="gcv",
    max_render_px=512,
    threads=None,
    segment_offset_frames=0,
    render_offset=0.0,
):
    """Drift of every frame by redundant cross-correlation of time segments.

    Parameters
    ----------
    locs : numpy.ndarray
        Structured array with ``frame``, ``x``, ``y`` (px).
    n_frames : int
        Frames of the movie (the trajectory covers ``0 .. n_frames - 1``).
    segment_frames : int
        Frames per segment (at least 2 segments are needed).
    oversampling : float, optional
        Render pixels per camera pixel; default: the largest of 1..10 keeping the render
        within ``max_render_px`` per side.
    max_shift_px : float
        Largest drift between two segments that is searched, camera px.
    blur_px : float
        Gaussian smoothing of the correlation, render px.
    viewport : tuple, optional
        ``(y0, x0, y1, x1)`` rendered, camera px (default: all localizations).
    spline_smoothing : float, "gcv" or sequence
        Roughness penalty of the per-frame spline (see :class:`~.spline.SmoothingSpline`),
        or one for x and one for y.
    max_render_px : int
        Bound of the render side for the default oversampling. The cost grows with its
        square (every pair is one inverse FFT of that size). On 256 px fields at 0.1 px
        localization precision, 4 render px per camera px (1024) gave 0.2 nm RMS drift
        error, 2 (512, the default) 0.4 nm and 1 0.9 nm, at about 4x less time per
        halving.
    threads : int, optional
        Threads for the pair correlations (default: numba's thread count).
    segment_offset_frames : int
        Segment boundaries at ``segment_offset_frames + k * segment_frames`` (see
        :func:`segment_bounds`).
    render_offset : float
        The render grid moved by this fraction of a render pixel (a second estimate on
        another grid shows the error of locating peaks on the grid; split halves).

    Returns
    -------
    DriftResult
    """
    n_frames = int(n_frames)
    if segment_frames < 1:
        raise ValueError(f"segment_frames must be >= 1, got {segment_frames}")
    seg, n_segments = segment_index(locs["frame"], n_frames, segment_frames, segment_offset_frames)
    if n_segments < 2:
        raise ValueError(
            f"{n_frames} frames make {n_segments} segment of {segment_frames} frames; "
            "drift needs at least 2 (use a smaller segment)"
        )
    if viewport is None:
        viewport = (0.0, 0.0, float(np.ceil(locs["y"].max() + 1)), float(np.ceil(locs["x"].max() + 1)))
    side = max(viewport[2] - viewport[0], viewport[3] - viewport[1])
    if oversampling is None:
        oversampling = float(max(1, min(10, int(max_render_px // max(side, 1)))))
    if render_offset:
        viewport = tuple(float(v) + render_offset / oversampling for v in viewport)
    frame_bounds = segment_bounds(n_frames, segment_frames, segment_offset_frames)
    order = np.argsort(seg, kind="stable")
    bounds = np.searchsorted(seg[order], np.arange(n_segments + 1))
    images = []
    frame_means = np.empty(n_segments)
    frames = np.asarray(locs["frame"], dtype=np.float64)
    for k in range(n_segments):
        rows = order[bounds[k] : bounds[k + 1]]
        if len(rows) == 0:
            first, last = frame_bounds[k], frame_bounds[k + 1] - 1
            raise ValueError(f"segment {k} (frames {first}-{last}) has no localizations; use longer segments")
        image, _ = render(locs[rows], oversampling=oversampling, viewport=viewport, blur="histogram")
        image = _capped(image)
        images.append(image - image.mean())
        frame_means[k] = frames[rows].mean()
    shape = images[0].shape
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    # Gaussian smoothing of the correlation: half of it on each spectrum
    transfer = np.exp(-((2 * np.pi) ** 2) * (blur_px**2 / 2) * (fy**2 + fx**2) / 2).astype(np.float32)
    spectra = [np.fft.rfft2(im) * transfer for im in images]
    max_shift = int(math.ceil(max_shift_px * oversampling)) + 2
    max_shift = min(max_shift, shape[0] // 2 - 3, shape[1] // 2 - 3)
    pairs = [(i, j) for i in range(n_segments) for j in range(i + 1, n_segments)]

    def correlate(pair):
        i, j = pair
        cc = np.fft.irfft2(spectra[i] * np.conj(spectra[j]), s=shape)
        dy, dx = _peak(cc, max_shift)
        return dx / oversampling, dy / oversampling

    threads = threads or numba.get_num_threads()
    if threads > 1 and len(pairs) > 4:
        with ThreadPoolExecutor(threads) as pool:
            shifts = np.array(list(pool.map(correlate, pairs)))
    else:
        shifts = np.array([correlate(p) for p in pairs])
    drift, residual, rank = _solve(pairs, shifts, n_segments)
    keep = np.ones(len(pairs), dtype=bool)
    threshold = max(3 * float(np.median(residual)), 0.02)
    bad = residual > threshold
    if bad.any():
        keep = ~bad
        kept_pairs = [p for p, k in zip(pairs, keep) if k]
        drift2, residual2, rank2 = _solve(kept_pairs, shifts[keep], n_segments)
        if rank2 == n_segments - 1:
            drift, residual = drift2, residual2
        else:
            keep[:] = True
    per_frame, smoothing = smooth_segments(frame_means, drift, n_frames, spline_smoothing)
    offset = per_frame[0].copy()
    per_frame -= offset
    return DriftResult(
        drift_px=per_frame,
        segment_frames_mean=frame_means,
        segment_drift_px=drift - offset,
        residual_px=float(np.sqrt(np.mean(residual**2))) if len(residual) else math.nan,
        n_pairs_used=int(keep.sum()),
        segment_frames=int(segment_frames),
        spline_smoothing=smoothing,
    )


def undrift(locs, drift_px, drift_z_nm=None):
    """A copy of ``locs`` with each frame's drift subtracted from ``x`` and ``y`` (and ``z``).

    Parameters
    ----------
    locs : numpy.ndarray
        Structured array with ``frame``, ``x``, ``y`` (and ``z`` for ``drift_z_nm``).
    drift_px : numpy.ndarray
        ``(n_frames, 2)`` drift (x, y) per frame, px (e.g. ``DriftResult.drift_px``).
    drift_z_nm : numpy.ndarray, optional
        ``(n_frames,)`` z drift per frame, nm.

    Examples
    --------
    >>> locs = np.zeros(2, dtype=[("frame", "u4"), ("x", "f4"), ("y", "f4")])
    >>> locs["frame"] = [0, 1]
    >>> undrift(locs, np.array([[0.0, 0.0], [0.5, -0.25]]))["x"].tolist()
    [0.0, -0.5]
    """
    drift_px = np.asarray(drift_px)
    frame = np.asarray(locs["frame"], dtype=np.int64)
    if len(frame) and frame.max() >= len(drift_px):
        raise ValueError(f"drift covers {len(drift_px)} frames, localizations reach frame {frame.max()}")
    out = locs.copy()
    out["x"] = out["x"] - drift_px[frame, 0].astype(out.dtype["x"])
    out["y"] = out["y"] - drift_px[frame, 1].astype(out.dtype["y"])
    if drift_z_nm is not None and "z" in (out.dtype.names or ()):
        out["z"] = out["z"] - np.asarray(drift_z_nm)[frame].astype(out.dtype["z"])
    return out
