"""One drift estimate for every method (RCC, AIM, fiducials) and its split-halves error.

:func:`estimate_drift` runs the chosen method on frame-sorted columns (x, y px, z nm);
3D data get z drift too (AIM and fiducials their own way; RCC by AIM's z step after its
x, y drift). :func:`split_halves` estimates the error of a result without ground truth:
the localizations are split into two halves, each undrifted on its own and the difference
of the two drifts reported. For the segment-based methods (RCC, AIM) the halves are the
localizations of the even and of the odd segments: each half measures the drift where the
other interpolates it, so the difference holds the error of interpolating between segment
centres (drift faster than a segment) as well as the statistical error; RCC renders the
second half on a grid moved by half a render pixel, so that the error of locating
correlation peaks on the pixel grid differs between the halves too. The fiducial
method splits the fiducials (two independent sets of markers). Each half has about twice
the error variance of the whole, so ``RMS(difference) / 2`` (for unequal halves
``sqrt(w_a w_b) / (w_a + w_b)`` times it) estimates the error of the result.
"""

import dataclasses
import math

import numpy as np

from .aim import aim_drift, aim_z_drift, split_smoothing
from .drift import DriftResult, rcc_drift
from .fiducials import FiducialError, fiducial_drift

METHODS = ("rcc", "aim", "fiducials")
DEFAULT_SEGMENT_FRAMES = {"rcc": 1000, "aim": 100, "fiducials": 100}
"""Frames per segment by method (fiducials: of the rough AIM drift used to find them)."""


@dataclasses.dataclass
class DriftOptions:
    """Every parameter of the drift methods.

    Attributes
    ----------
    method : str
        ``"rcc"``, ``"aim"`` or ``"fiducials"``.
    segment_frames : int, optional
        Frames per segment (default by method, :data:`DEFAULT_SEGMENT_FRAMES`).
    pixelsize_nm : float
        Camera pixel size, nm (converts the nm parameters to px).
    bin_nm : float
        AIM bin size ("intersection distance"), nm.
    max_shift_nm : float
        AIM: largest drift between consecutive segments; RCC: between any two segments, nm.
    rounds : int
        AIM leave-one-out rounds.
    fiducial_radius_nm : float
        Automatic fiducials: their localizations lie within this radius, nm.
    min_presence : float
        Automatic fiducials: fraction of frames with a localization.
    picks_px : numpy.ndarray, optional
        ``(n, 3)`` x, y, r of picked fiducials, px.
    """

    method: str = "rcc"
    segment_frames: int | None = None
    pixelsize_nm: float = 130.0
    bin_nm: float = 20.0
    max_shift_nm: float | None = None
    rounds: int = 1
    fiducial_radius_nm: float = 150.0
    min_presence: float = 0.8
    picks_px: np.ndarray | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown drift method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.segment_frames is None:
            self.segment_frames = DEFAULT_SEGMENT_FRAMES[self.method]
        if self.max_shift_nm is None:
            self.max_shift_nm = 5.0 * self.pixelsize_nm if self.method == "rcc" else 60.0
        if int(self.segment_frames) < 1:
            raise ValueError(f"segment must be >= 1 frame, got {self.segment_frames}")
        for name in ("pixelsize_nm", "bin_nm", "max_shift_nm", "fiducial_radius_nm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    def px(self, nm):
        return float(nm) / float(self.pixelsize_nm)


@dataclasses.dataclass
class DriftColumns:
    """Frame-sorted columns of a localization table.

    Attributes
    ----------
    frame : numpy.ndarray
    x, y : numpy.ndarray
        px.
    z : numpy.ndarray or None
        nm (3D).
    photons : numpy.ndarray or None
    n_frames, width, height : int
    """

    frame: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray | None
    photons: np.ndarray | None
    n_frames: int
    width: int
    height: int

    def subset(self, rows):
        pick = lambda column: None if column is None else column[rows]  # noqa: E731
        return DriftColumns(
            self.frame[rows], self.x[rows], self.y[rows], pick(self.z), pick(self.photons),
            self.n_frames, self.width, self.height,
        )  # fmt: skip

    def table(self):
        """The x, y columns as a record array (what RCC renders)."""
        out = np.empty(len(self.frame), dtype=[("frame", "u4"), ("x", "f4"), ("y", "f4")])
        out["frame"], out["x"], out["y"] = self.frame, self.x, self.y
        return out


@dataclasses.dataclass
class Estimate:
    """A drift estimate: the result, and for fiducials their details (else None)."""

    result: DriftResult
    fiducials: object = None


def _rcc(columns, options, offset_frames, initial, smoothing="gcv", render_offset=0.0):
    smoothing_xy, smoothing_z = split_smoothing(smoothing)
    result = rcc_drift(
        columns.table(),
        columns.n_frames,
        segment_frames=int(options.segment_frames),
        max_shift_px=options.px(options.max_shift_nm),
        viewport=(0.0, 0.0, float(columns.height), float(columns.width)),
        segment_offset_frames=offset_frames,
        spline_smoothing=smoothing_xy,
        render_offset=render_offset,
    )
    if columns.z is not None:
        initial_z = None if initial is None or initial.shape[1] < 3 else initial[:, 2]
        result.drift_z_nm, result.segment_drift_z_nm, lam_z = aim_z_drift(
            columns.frame, columns.x, columns.y, columns.z, columns.n_frames, result.drift_px,
            width=columns.width, height=columns.height, bin_px=options.px(options.bin_nm),
            segment_frames=int(options.segment_frames), segment_offset_frames=offset_frames,
            bin_z_nm=options.bin_nm, initial_drift_z_nm=initial_z,
            spline_smoothing=smoothing_z,
        )  # fmt: skip
        result.spline_smoothing = (*result.spline_smoothing, lam_z)
    return Estimate(result)


def _aim(columns, options, offset_frames, initial, rounds=None, smoothing="gcv"):
    result = aim_drift(
        columns.frame, columns.x, columns.y, columns.n_frames,
        width=columns.width, height=columns.height,
        bin_px=options.px(options.bin_nm), max_shift_px=options.px(options.max_shift_nm),
        segment_frames=int(options.segment_frames), z_nm=columns.z, bin_z_nm=options.bin_nm,
        max_shift_z_nm=options.max_shift_nm, rounds=rounds or options.rounds,
        segment_offset_frames=offset_frames, initial_drift=initial, spline_smoothing=smoothing,
    )  # fmt: skip
    return Estimate(result)


def _fiducials(columns, options):
    rough = None
    if options.picks_px is None:
        try:
            rough = _aim(columns, options, 0, None, rounds=1).result.drift_px
        except ValueError as error:
            raise FiducialError(f"cannot find fiducials: the rough drift to find them failed ({error})") from None
    out = fiducial_drift(
        columns.frame, columns.x, columns.y, columns.n_frames,
        radius_px=options.px(options.fiducial_radius_nm), z_nm=columns.z, picks=options.picks_px,
        rough_drift_px=rough, min_presence=options.min_presence, photons=columns.photons,
    )  # fmt: skip
    return Estimate(out.result, out)


def estimate_drift(columns, options):
    """The drift of ``columns`` by ``options.method``.

    Parameters
    ----------
    columns : DriftColumns
    options : DriftOptions

    Returns
    -------
    Estimate

    Raises
    ------
    ValueError
        Data the method cannot use (too few localizations per segment, one segment,
        no fiducial: :class:`~.fiducials.FiducialError`), with the reason.

    Examples
    --------
    >>> from napari_picasso.simulate import drifting_locs
    >>> sim = drifting_locs(100_000, n_frames=2000, width=64, height=64)
    >>> l = sim.locs
    >>> columns = DriftColumns(l["frame"], l["x"], l["y"], None, None, 2000, 64, 64)
    >>> estimate_drift(columns, DriftOptions(method="aim")).result.drift_px.shape
    (2000, 2)
    """
    if options.method == "rcc":
        return _rcc(columns, options, 0, None)
    if options.method == "aim":
        return _aim(columns, options, 0, None)
    return _fiducials(columns, options)


@dataclasses.dataclass
class SplitHalves:
    """Outcome of :func:`split_halves`.

    Attributes
    ----------
    drift_a, drift_b : numpy.ndarray
        ``(n_frames, 2 or 3)`` drift of each half (x, y px, z nm), relative to frame 0.
    residual_px : numpy.ndarray
        ``(2,)`` estimated error (RMS over frames) of the whole data's x, y drift, px.
    residual_z_nm : float
        The same for z, nm (NaN in 2D).
    """

    drift_a: np.ndarray
    drift_b: np.ndarray
    residual_px: np.ndarray
    residual_z_nm: float


def _residual(drift_a, drift_b, factor):
    difference = drift_a - drift_b
    difference -= difference.mean(axis=0)
    rms = np.sqrt(np.mean(difference**2, axis=0)) * factor
    return rms[:2], float(rms[2]) if len(rms) > 2 else math.nan


def split_halves(columns, options, full):
    """Split-halves error of a drift estimate.

    Parameters
    ----------
    columns : DriftColumns
    options : DriftOptions
    full : Estimate
        The estimate of all of ``columns`` (AIM halves start from it; the fiducial halves
        use its fiducials).

    Returns
    -------
    SplitHalves or None
        None where the data cannot be split (one fiducial only).

    Raises
    ------
    ValueError
        A half the method cannot use (e.g. too few localizations per segment).
    """
    if options.method == "fiducials":
        return _split_fiducials(columns, options, full)
    segment = int(options.segment_frames)
    halves = []
    for parity in (0, 1):
        # the localizations of every other segment; segments of two: the half's data
        # fill the first (parity 0) or the second (parity 1) of each pair
        rows = np.flatnonzero((np.asarray(columns.frame) // segment) % 2 == parity)
        half = columns.subset(rows)
        paired = dataclasses.replace(options, segment_frames=2 * segment)
        # smoothed over the same time as the whole: half the knots, half the penalty
        smoothing = [lam / 2 for lam in full.result.spline_smoothing]
        if options.method == "aim":
            estimate = _aim(half, paired, parity * segment, full.result.drift_columns, rounds=1, smoothing=smoothing)
        else:
            # the second half on a render grid moved by half a pixel: peaks located on the
            # grid err differently, and the difference shows it
            estimate = _rcc(
                half, paired, parity * segment, full.result.drift_columns, smoothing=smoothing, render_offset=parity / 2
            )
        halves.append(estimate.result.drift_columns)
    residual_px, residual_z = _residual(halves[0], halves[1], 0.5)
    return SplitHalves(halves[0], halves[1], residual_px, residual_z)


def _split_fiducials(columns, options, full):
    details = full.fiducials
    used = np.flatnonzero(details.used)
    if len(used) < 2:
        return None
    groups = (used[0::2], used[1::2])
    drifts, weights = [], []
    for group in groups:
        # each group's fiducials as picks: circles around their paths' centres covering
        # the localizations assigned to them
        rows = np.flatnonzero(np.isin(details.member, group))
        sub = columns.subset(rows)
        picks = []
        for k in group:
            mine = details.member[rows] == k
            cx, cy = np.median(sub.x[mine]), np.median(sub.y[mine])
            reach = float(np.max(np.hypot(sub.x[mine] - cx, sub.y[mine] - cy))) + 1e-3
            picks.append((cx, cy, reach))
        out = fiducial_drift(
            sub.frame, sub.x, sub.y, columns.n_frames, radius_px=options.px(options.fiducial_radius_nm),
            z_nm=sub.z, picks=np.array(picks), max_scatter_px=None,
        )  # fmt: skip
        drifts.append(out.result.drift_columns)
        weights.append(float(np.sum(1.0 / np.maximum(details.scatter_px[group] ** 2, 1e-12))))
    factor = math.sqrt(weights[0] * weights[1]) / (weights[0] + weights[1])
    residual_px, residual_z = _residual(drifts[0], drifts[1], factor)
    return SplitHalves(drifts[0], drifts[1], residual_px, residual_z)
