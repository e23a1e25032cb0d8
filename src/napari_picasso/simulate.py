"""Simulated SMLM movies with ground truth, for tests, benchmarks and the sample data.

The image model is the one the fitters assume, drawn with real noise: each emitter adds
a pixel-integrated Gaussian (erf differences) of ``photons`` to its frame, on top of a
uniform background; detected photons are Poisson; an EM register multiplies them with
gamma-distributed gain (excess-noise factor 2); read noise is Gaussian (electrons);
counts = electrons / sensitivity + baseline, rounded and clipped to uint16.

Ground truth is a structured array (``TRUTH_DTYPE``): frame, x, y (px, pixel centres at
integers, as in the locs format), photons, sx, sy, z (nm) and the binding site index.
"""

import dataclasses
import math
from pathlib import Path

import numba
import numpy as np
from numba import prange

from .core import _parallel  # noqa: F401
from .io.atomic import replacing
from .io.locs import save_locs
from .io.raw import write_raw_info

TRUTH_DTYPE = np.dtype(
    [
        ("frame", "u4"),
        ("x", "f4"),
        ("y", "f4"),
        ("photons", "f4"),
        ("sx", "f4"),
        ("sy", "f4"),
        ("z", "f4"),
        ("site", "i4"),
    ]
)


@dataclasses.dataclass
class CameraModel:
    """How detected photons become counts.

    Attributes
    ----------
    baseline : float
        Offset, counts.
    sensitivity : float
        Electrons per count.
    em_gain : float
        EM gain; > 1 draws the gain register's gamma noise.
    read_noise_e : float
        Gaussian read noise, electrons (after the gain register).
    offset_map, variance_map, gain_map : numpy.ndarray, optional
        sCMOS per-pixel maps ``(height, width)``: offset (counts, replaces ``baseline``),
        readout variance (counts^2, replaces ``read_noise_e``) and gain (counts per
        electron, replaces ``1 / sensitivity``); see :func:`scmos_camera`.
    """

    baseline: float = 100.0
    sensitivity: float = 1.0
    em_gain: float = 1.0
    read_noise_e: float = 1.0
    offset_map: np.ndarray | None = None
    variance_map: np.ndarray | None = None
    gain_map: np.ndarray | None = None

    @property
    def has_maps(self):
        return self.offset_map is not None or self.variance_map is not None or self.gain_map is not None


def scmos_camera(
    height, width, hot_fraction=0.03, seed=0, offset=100.0, gain=2.0, median_variance=4.0, hot_variance=(100.0, 2000.0)
):
    """An sCMOS camera with realistic per-pixel maps.

    Offsets scatter by 2 counts around ``offset``; gains (counts per electron) by 3%
    around ``gain``; readout variances are log-normal around ``median_variance``
    (counts^2) with a fraction ``hot_fraction`` of hot pixels whose variance is
    log-uniform in ``hot_variance`` (counts^2), as measured on sCMOS chips.
    """
    rng = np.random.default_rng([seed, 7])
    offset_map = (offset + 2.0 * rng.standard_normal((height, width))).astype(np.float32)
    gain_map = (gain * (1 + 0.03 * rng.standard_normal((height, width)))).astype(np.float32)
    variance = median_variance * np.exp(0.4 * rng.standard_normal((height, width)))
    hot = rng.random((height, width)) < hot_fraction
    lo, hi = np.log(hot_variance[0]), np.log(hot_variance[1])
    variance[hot] = np.exp(rng.uniform(lo, hi, int(hot.sum())))
    return CameraModel(
        baseline=offset,
        sensitivity=1.0 / gain,
        em_gain=1.0,
        read_noise_e=0.0,
        offset_map=offset_map,
        variance_map=variance.astype(np.float32),
        gain_map=gain_map,
    )


@numba.njit(cache=True, nogil=True)
def _add_emitter(image, x, y, photons, sx, sy):
    height, width = image.shape
    rx = int(math.ceil(5 * sx)) + 1
    ry = int(math.ceil(5 * sy)) + 1
    xc = int(round(x))
    yc = int(round(y))
    x0 = max(0, xc - rx)
    x1 = min(width, xc + rx + 1)
    y0 = max(0, yc - ry)
    y1 = min(height, yc + ry + 1)
    if x0 >= x1 or y0 >= y1:
        return
    ex = np.empty(x1 - x0)
    ey = np.empty(y1 - y0)
    kx = 1.0 / (math.sqrt(2.0) * sx)
    ky = 1.0 / (math.sqrt(2.0) * sy)
    for i in range(x0, x1):
        ex[i - x0] = 0.5 * (math.erf((i + 0.5 - x) * kx) - math.erf((i - 0.5 - x) * kx))
    for j in range(y0, y1):
        ey[j - y0] = 0.5 * (math.erf((j + 0.5 - y) * ky) - math.erf((j - 0.5 - y) * ky))
    for j in range(y0, y1):
        for i in range(x0, x1):
            image[j, i] += photons * ey[j - y0] * ex[i - x0]


@numba.njit(parallel=True, cache=True, nogil=True)
def _expected_photons(n_frames, height, width, frame_starts, xs, ys, photons, sxs, sys, bg):
    out = np.empty((n_frames, height, width), dtype=np.float64)
    for f in prange(n_frames):
        out[f] = bg
        for k in range(frame_starts[f], frame_starts[f + 1]):
            _add_emitter(out[f], xs[k], ys[k], photons[k], sxs[k], sys[k])
    return out


def expected_photons(truth, n_frames, height, width, bg_photons, first_frame=0):
    """Noise-free photons per pixel of frames ``first_frame .. first_frame + n_frames``."""
    truth = np.sort(truth, order="frame", kind="stable")
    frames = truth["frame"].astype(np.int64) - first_frame
    starts = np.searchsorted(frames, np.arange(n_frames + 1))
    bg = np.broadcast_to(np.asarray(bg_photons, dtype=np.float64), (height, width))
    return _expected_photons(
        n_frames,
        height,
        width,
        starts.astype(np.int64),
        truth["x"].astype(np.float64),
        truth["y"].astype(np.float64),
        truth["photons"].astype(np.float64),
        truth["sx"].astype(np.float64),
        truth["sy"].astype(np.float64),
        np.ascontiguousarray(bg),
    )


def camera_counts(expected, camera, rng):
    """Draw shot noise, EM gain and read noise; return uint16 counts."""
    electrons = rng.poisson(expected).astype(np.float64)
    if camera.em_gain > 1:
        positive = electrons > 0
        electrons[positive] = rng.gamma(electrons[positive], camera.em_gain)
    if camera.has_maps:
        shape = electrons.shape[-2:]
        gain = camera.gain_map if camera.gain_map is not None else np.full(shape, 1.0 / camera.sensitivity)
        offset = camera.offset_map if camera.offset_map is not None else np.full(shape, camera.baseline)
        counts = electrons * gain + offset
        if camera.variance_map is not None:
            counts += rng.standard_normal(electrons.shape) * np.sqrt(camera.variance_map)
        return np.clip(np.rint(counts), 0, 65535).astype(np.uint16)
    if camera.read_noise_e > 0:
        electrons += rng.normal(0.0, camera.read_noise_e, electrons.shape)
    counts = electrons / camera.sensitivity + camera.baseline
    return np.clip(np.rint(counts), 0, 65535).astype(np.uint16)


def photons_to_signal(photons, camera):
    """Mean counts above baseline that ``photons`` produce (for threshold choices)."""
    return photons * camera.em_gain / camera.sensitivity


# -- scenes ------------------------------------------------------------------------
def isolated_spots(n_frames, height=128, width=128, spacing_px=12, photons=1500.0, sigma_px=1.0, margin_px=8, seed=0):
    """Ground truth of isolated emitters, all on in every frame, new sub-pixel positions.

    Emitters sit on a grid of ``spacing_px`` with a uniform random offset of +-0.5 px
    per frame, so every frame gives independent samples; neighbouring boxes never overlap
    for box <= spacing_px - 2.
    """
    rng = np.random.default_rng(seed)
    gy, gx = np.mgrid[margin_px : height - margin_px : spacing_px, margin_px : width - margin_px : spacing_px]
    sites_x = gx.ravel().astype(float)
    sites_y = gy.ravel().astype(float)
    n_sites = len(sites_x)
    truth = np.zeros(n_frames * n_sites, dtype=TRUTH_DTYPE)
    truth["frame"] = np.repeat(np.arange(n_frames), n_sites)
    truth["site"] = np.tile(np.arange(n_sites), n_frames)
    truth["x"] = np.tile(sites_x, n_frames) + rng.uniform(-0.5, 0.5, len(truth))
    truth["y"] = np.tile(sites_y, n_frames) + rng.uniform(-0.5, 0.5, len(truth))
    truth["photons"] = photons
    truth["sx"] = sigma_px
    truth["sy"] = sigma_px
    return truth


def blinking_sites(
    n_frames,
    height=64,
    width=64,
    n_sites=60,
    photons=1500.0,
    photon_spread=0.2,
    sigma_px=1.0,
    mean_on_frames=3.0,
    mean_off_frames=60.0,
    margin_px=5,
    min_distance_px=0.0,
    seed=0,
    sites=None,
):
    """Ground truth of blinking binding sites (two-state kinetics, DNA-PAINT-like).

    Each site switches on with probability ``1 / mean_off_frames`` per frame and stays on
    for a geometric number of frames with mean ``mean_on_frames``. Photons per on-frame
    are drawn from a normal distribution with relative spread ``photon_spread``.

    ``sites`` ((n, 2) array of x, y in px) replaces the random placement.
    """
    rng = np.random.default_rng(seed)
    if sites is None:
        sites = _random_sites(rng, n_sites, height, width, margin_px, min_distance_px)
    sites = np.asarray(sites, dtype=float)
    p_on = 1.0 / mean_off_frames
    p_off = 1.0 / mean_on_frames
    state = rng.random(len(sites)) < mean_on_frames / (mean_on_frames + mean_off_frames)
    rows = []
    for f in range(n_frames):
        switch = rng.random(len(sites))
        state = np.where(state, switch >= p_off, switch < p_on)
        on = np.flatnonzero(state)
        if len(on):
            rows.append((np.full(len(on), f), on))
    if not rows:
        return np.zeros(0, dtype=TRUTH_DTYPE)
    frames = np.concatenate([r[0] for r in rows])
    site_ids = np.concatenate([r[1] for r in rows])
    truth = np.zeros(len(frames), dtype=TRUTH_DTYPE)
    truth["frame"] = frames
    truth["site"] = site_ids
    truth["x"] = sites[site_ids, 0]
    truth["y"] = sites[site_ids, 1]
    truth["photons"] = np.maximum(photons * (1 + photon_spread * rng.standard_normal(len(frames))), photons * 0.2)
    truth["sx"] = sigma_px
    truth["sy"] = sigma_px
    return truth


def _random_sites(rng, n_sites, height, width, margin_px, min_distance_px):
    sites = []
    attempts = 0
    while len(sites) < n_sites and attempts < 100 * n_sites:
        attempts += 1
        p = (rng.uniform(margin_px, width - margin_px), rng.uniform(margin_px, height - margin_px))
        if min_distance_px <= 0 or all(math.dist(p, q) >= min_distance_px for q in sites):
            sites.append(p)
    return np.array(sites, dtype=float).reshape(-1, 2)


def render_movie(truth, n_frames, height, width, bg_photons=50.0, camera=None, seed=0, first_frame=0, psf=None):
    """Camera counts (uint16, ``(n_frames, height, width)``) of a ground-truth scene.

    ``psf``: a :class:`PupilPSF` draws every emitter with it at its ``z`` (nm) instead of
    the pixel-integrated Gaussian of its ``sx``, ``sy``.
    """
    camera = camera or CameraModel()
    rng = np.random.default_rng([seed, first_frame])
    in_range = (truth["frame"] >= first_frame) & (truth["frame"] < first_frame + n_frames)
    if psf is None:
        expected = expected_photons(truth[in_range], n_frames, height, width, bg_photons, first_frame)
    else:
        expected = psf.expected_photons(truth[in_range], n_frames, height, width, bg_photons, first_frame)
    return camera_counts(expected, camera, rng)


def simulate_movie(n_frames=200, height=64, width=64, bg_photons=50.0, camera=None, seed=0, **scene):
    """A blinking movie in memory: ``(movie, truth)``. ``scene`` goes to :func:`blinking_sites`."""
    truth = blinking_sites(n_frames, height, width, seed=seed, **scene)
    return render_movie(truth, n_frames, height, width, bg_photons, camera, seed), truth


def dark_start_movie(
    n_frames=200, n_dark_frames=20, height=64, width=64, bg_photons=50.0, camera=None, seed=0, **scene
):
    """A blinking movie whose first ``n_dark_frames`` frames were taken before the laser.

    The dark frames hold the camera alone (offset, read noise; no background, no
    emitters), as in PYME's ``ADOffset`` frames; from frame ``n_dark_frames`` on, the
    background and the blinking sites of :func:`blinking_sites` (``scene``) are lit.

    Returns
    -------
    movie : numpy.ndarray
        ``(n_frames, height, width)`` uint16 counts.
    truth : numpy.ndarray
        Ground truth (``TRUTH_DTYPE``) of the lit frames.

    Examples
    --------
    >>> movie, truth = dark_start_movie(60, n_dark_frames=20, camera=CameraModel(baseline=97.3))
    >>> bool(truth["frame"].min() >= 20)
    True
    """
    camera = camera or CameraModel()
    truth = blinking_sites(n_frames, height, width, seed=seed, **scene)
    truth = truth[truth["frame"] >= n_dark_frames]
    dark = render_movie(truth[:0], n_dark_frames, height, width, 0.0, camera, seed)
    lit = render_movie(truth, n_frames - n_dark_frames, height, width, bg_photons, camera, seed, n_dark_frames)
    return np.concatenate([dark, lit]), truth


def true_offset(camera):
    """The offset a camera adds, in counts: ``baseline``, or the mean of an sCMOS offset map."""
    return float(np.mean(camera.offset_map)) if camera.offset_map is not None else float(camera.baseline)


def movie_metadata(camera, bg_photons, pixelsize_nm=130.0, **extra):
    """The movie document written beside simulated movies (Picasso's keys + simulation)."""
    return {
        "Camera": "Simulation",
        "Generated by": "napari-picasso simulate",
        "Simulation": {
            "Baseline": float(camera.baseline),
            "Sensitivity": float(camera.sensitivity),
            "EM Gain": float(camera.em_gain),
            "Read noise (e-)": float(camera.read_noise_e),
            "sCMOS maps": bool(camera.has_maps),
            "Background (photons/px)": float(bg_photons),
            "Pixelsize": float(pixelsize_nm),
            **extra,
        },
    }


def write_movie(
    path,
    truth,
    n_frames,
    height,
    width,
    bg_photons=50.0,
    camera=None,
    seed=0,
    chunk_frames=500,
    pixelsize_nm=130.0,
    psf=None,
):
    """Render a scene to a ``.raw`` (+ ``.yaml``) or ``.tif`` file, chunk by chunk.

    Memory stays bounded by ``chunk_frames`` whatever the movie's length. The ground truth
    is written beside it as ``<stem>_truth.hdf5`` (+ ``.yaml``) in the locs layout.

    Returns
    -------
    pathlib.Path
        The movie path.
    """
    path = Path(path)
    camera = camera or CameraModel()
    metadata = movie_metadata(camera, bg_photons, pixelsize_nm)
    suffix = path.suffix.lower()
    with replacing(path) as part:
        if suffix == ".raw":
            with open(part, "wb") as f:
                for start in range(0, n_frames, chunk_frames):
                    stop = min(n_frames, start + chunk_frames)
                    frames = render_movie(truth, stop - start, height, width, bg_photons, camera, seed, start, psf)
                    frames.astype("<u2").tofile(f)
            write_raw_info(path, width, height, n_frames, "uint16", "<", **metadata)
        elif suffix in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffWriter(part, bigtiff=n_frames * height * width * 2 > 2**31) as tif:
                for start in range(0, n_frames, chunk_frames):
                    stop = min(n_frames, start + chunk_frames)
                    frames = render_movie(truth, stop - start, height, width, bg_photons, camera, seed, start, psf)
                    for frame in frames:
                        tif.write(frame, contiguous=True, photometric="minisblack")
        else:
            raise ValueError(f"{path}: simulated movies are written as .raw or .tif")
    write_truth(path, truth, n_frames, height, width, metadata)
    return path


def truth_path_for(movie_path):
    movie_path = Path(movie_path)
    return movie_path.with_name(movie_path.stem + "_truth.hdf5")


def write_truth(movie_path, truth, n_frames, height, width, metadata=None):
    """Save ground truth as ``<stem>_truth.hdf5`` + ``.yaml`` (opens like a locs file)."""
    info = [
        {"Width": int(width), "Height": int(height), "Frames": int(n_frames), **(metadata or {})},
        {"Generated by": "napari-picasso simulate", "Ground truth": True},
    ]
    return save_locs(truth_path_for(movie_path), np.sort(truth, order=["frame", "site"]), info)


def suggested_min_net_gradient(photons, camera, sigma_px=1.0, fraction=0.25):
    """A ``min_net_gradient`` that keeps spots of ``photons`` well above the noise.

    The net gradient of a spot grows with its peak height in counts; this returns
    ``fraction`` of roughly eight times the expected peak (counts above baseline), which
    finds spots of the given brightness on the simulations' backgrounds.
    """
    peak_counts = photons / (2 * np.pi * sigma_px**2) * camera.em_gain / camera.sensitivity
    return fraction * peak_counts * 8


# -- 3D astigmatism --------------------------------------------------------------
@dataclasses.dataclass
class AstigmaticPSF:
    """PSF widths of a cylindrical-lens microscope as functions of the focal offset.

    The standard defocus model (Huang et al. 2008) for each axis:
    ``w(z) = w0 * sqrt(1 + u**2 + A * u**3 + B * u**4)`` with ``u = (z - c) / d``; x and
    y have their foci at ``c_x_nm`` and ``c_y_nm``. ``z`` is the stage (calibration)
    coordinate in nm: what a bead z-stack scans. An emitter at sample depth ``z`` images
    like a bead at stage ``z / magnification`` (refractive-index mismatch).

    Attributes
    ----------
    w0_px : float
        Width (standard deviation, px) in focus.
    c_x_nm, c_y_nm : float
        Focal offsets of the x and y widths, nm.
    d_nm : float
        Focal depth, nm.
    a_x, b_x, a_y, b_y : float
        Higher-order terms A and B of each axis.
    """

    w0_px: float = 1.0
    c_x_nm: float = -200.0
    c_y_nm: float = 200.0
    d_nm: float = 450.0
    a_x: float = 0.1
    b_x: float = 0.02
    a_y: float = -0.1
    b_y: float = 0.02

    def widths(self, z_nm):
        """``(sx, sy)`` in px at stage positions ``z_nm``."""
        z = np.asarray(z_nm, dtype=np.float64)
        return (self._width(z, self.c_x_nm, self.a_x, self.b_x), self._width(z, self.c_y_nm, self.a_y, self.b_y))

    def _width(self, z, c, a, b):
        u = (z - c) / self.d_nm
        return self.w0_px * np.sqrt(1.0 + u**2 + a * u**3 + b * u**4)


def bead_stack(step_nm, n_steps, height=64, width=64, spacing_px=12, photons=20000.0, psf=None, margin_px=8, seed=0):
    """Ground truth of a bead z-stack: beads on a grid, one frame per z step.

    Frame ``i`` images the beads at stage position ``z = span / 2 - i * step_nm`` (nm,
    ``span = (n_steps - 1) * step_nm``): the first frames are at positive z, as Picasso's
    calibration assumes. The truth ``z`` is that stage position; positions get a small
    random lateral jitter per frame.
    """
    psf = psf or AstigmaticPSF()
    truth = isolated_spots(n_steps, height, width, spacing_px, photons, psf.w0_px, margin_px, seed)
    span = (n_steps - 1) * step_nm
    z = span / 2 - truth["frame"].astype(np.float64) * step_nm
    sx, sy = psf.widths(z)
    truth["z"] = z
    truth["sx"] = sx
    truth["sy"] = sy
    return truth


def astigmatic_spots(
    n_frames,
    height=96,
    width=96,
    spacing_px=12,
    photons=1500.0,
    z_range_nm=(-400.0, 400.0),
    psf=None,
    magnification=0.79,
    margin_px=8,
    seed=0,
):
    """Isolated emitters at known depths (uniform in ``z_range_nm``, sample nm).

    Widths follow ``psf`` at the stage coordinate ``z / magnification``; a z fit with a
    calibration of that PSF reports ``z`` back (z fits multiply by the magnification).
    """
    psf = psf or AstigmaticPSF()
    truth = isolated_spots(n_frames, height, width, spacing_px, photons, psf.w0_px, margin_px, seed)
    rng = np.random.default_rng([seed, 3])
    z = rng.uniform(z_range_nm[0], z_range_nm[1], len(truth))
    return set_depth(truth, z, psf, magnification)


def set_depth(truth, z_nm, psf=None, magnification=0.79):
    """Put emitters of a ground truth at depths ``z_nm`` (sample nm): sets z, sx, sy."""
    psf = psf or AstigmaticPSF()
    truth = truth.copy()
    truth["z"] = z_nm
    sx, sy = psf.widths(np.asarray(z_nm, dtype=np.float64) / magnification)
    truth["sx"] = sx
    truth["sy"] = sy
    return truth


_ERF = np.frompyfunc(math.erf, 1, 1)


def _astigmatic_spot(theta, psf, magnification, box):
    x, y, z, n, bg = theta
    sx, sy = psf.widths(z / magnification)
    edges = np.arange(-(box // 2), box // 2 + 2) - 0.5
    ex = 0.5 * np.diff(_ERF((edges - x) / (math.sqrt(2) * sx)).astype(float))
    ey = 0.5 * np.diff(_ERF((edges - y) / (math.sqrt(2) * sy)).astype(float))
    return n * np.outer(ey, ex) + bg


def astigmatic_crlb(
    z_nm,
    photons,
    bg_photons,
    psf=None,
    magnification=0.79,
    box=9,
    offsets_px=((0.0, 0.0), (0.25, 0.25), (0.5, 0.0), (0.0, 0.5), (-0.25, 0.4), (0.45, -0.45)),
):
    """Cramer-Rao bounds of the 3D astigmatic model, the limit of any unbiased z fit.

    The model: a pixel-integrated Gaussian in a ``box x box`` spot with widths
    ``psf.widths(z / magnification)``, parameters x, y (px), z (nm), N (photons) and bg
    (photons per pixel), Poisson noise. The Fisher information is built from central-
    difference derivatives of the expected pixel values; its inverse's diagonal is
    averaged over the sub-pixel emitter positions ``offsets_px`` (simulated emitters sit
    anywhere in a pixel).

    Returns
    -------
    dict
        ``x``, ``y`` (px) and ``z`` (nm): square roots of the averaged bounds.
    """
    psf = psf or AstigmaticPSF()
    variances = []
    for dx, dy in offsets_px:
        theta = np.array([dx, dy, z_nm, photons, bg_photons], dtype=float)
        steps = np.array([1e-4, 1e-4, 1e-2, 1e-3 * photons, 1e-3 * bg_photons])
        mu = _astigmatic_spot(theta, psf, magnification, box).ravel()
        jac = np.empty((5, mu.size))
        for a in range(5):
            up, down = theta.copy(), theta.copy()
            up[a] += steps[a]
            down[a] -= steps[a]
            jac[a] = (
                _astigmatic_spot(up, psf, magnification, box) - _astigmatic_spot(down, psf, magnification, box)
            ).ravel() / (2 * steps[a])
        fisher = (jac / mu) @ jac.T
        variances.append(np.diag(np.linalg.inv(fisher))[:3])
    x, y, z = np.sqrt(np.mean(variances, axis=0))
    return {"x": float(x), "y": float(y), "z": float(z)}


def astigmatic_outliers(
    truth,
    far_fraction=0.125,
    pair_fraction=0.125,
    far_z_nm=(850.0, 1000.0),
    pair_distance_px=(1.3, 2.0),
    psf=None,
    magnification=0.79,
    seed=0,
):
    """Spoil part of an astigmatic scene the way real data is spoiled, for z-fit filters.

    A ``far_fraction`` of the emitters moves to depths ``far_z_nm`` (sample nm, random sign)
    beyond a calibration's range; a ``pair_fraction`` gets a partner emitter (same frame,
    photons, random depth in the scene's range) ``pair_distance_px`` away, so the two image
    as one spot whose widths lie off the calibration curve.

    Returns
    -------
    scene : numpy.ndarray
        ``TRUTH_DTYPE`` rows (the emitters plus the partners), sorted by frame.
    spoiled : numpy.ndarray
        The emitters of ``truth`` (same order): ``0`` untouched, ``1`` moved out of range,
        ``2`` with a partner; partners are not listed.
    emitters : numpy.ndarray
        ``truth`` with the moved emitters' new depths (the ground truth to match to).
    """
    psf = psf or AstigmaticPSF()
    rng = np.random.default_rng([seed, 11])
    order = rng.permutation(len(truth))
    n_far = int(round(far_fraction * len(truth)))
    n_pair = int(round(pair_fraction * len(truth)))
    far, paired = order[:n_far], order[n_far : n_far + n_pair]
    spoiled = np.zeros(len(truth), dtype=np.int8)
    spoiled[far], spoiled[paired] = 1, 2
    emitters = truth.copy()
    z_far = rng.choice([-1.0, 1.0], n_far) * rng.uniform(far_z_nm[0], far_z_nm[1], n_far)
    emitters[far] = set_depth(emitters[far], z_far, psf, magnification)
    partners = emitters[paired].copy()
    angle = rng.uniform(0.0, 2 * np.pi, n_pair)
    distance = rng.uniform(pair_distance_px[0], pair_distance_px[1], n_pair)
    partners["x"] += distance * np.cos(angle)
    partners["y"] += distance * np.sin(angle)
    z = truth["z"].astype(np.float64)
    z_lo, z_hi = (float(z.min()), float(z.max())) if len(z) else (0.0, 0.0)
    partners = set_depth(partners, rng.uniform(z_lo, z_hi, n_pair), psf, magnification)
    scene = np.concatenate([emitters, partners])
    scene = scene[np.argsort(scene["frame"], kind="stable")]
    return scene, spoiled, emitters


# -- drifting localization tables --------------------------------------------------
def drift_trajectory_nm(
    n_frames,
    *,
    linear_nm=(250.0, -150.0, 120.0),
    sine_nm=50.0,
    sine_periods=1.5,
    walk_nm=10.0,
    z=False,
    seed=0,
):
    """A stage drift: linear + sine + random walk, per frame, nm, starting at 0.

    Parameters
    ----------
    n_frames : int
        Frames of the acquisition.
    linear_nm : sequence of float
        Total linear drift over the acquisition of x, y (and z), nm.
    sine_nm : float
        Amplitude of a sine on every axis (phases differ by axis), nm.
    sine_periods : float
        Periods of the sine over the acquisition.
    walk_nm : float
        Standard deviation of the random walk's end point, nm (steps of
        ``walk_nm / sqrt(n_frames)``); 0 for none.
    z : bool
        Also a z column.
    seed : int
        Seed of the random walk.

    Returns
    -------
    numpy.ndarray
        ``(n_frames, 2)`` (x, y) or ``(n_frames, 3)`` (x, y, z) drift, nm; row 0 is 0.

    Examples
    --------
    >>> drift = drift_trajectory_nm(1000, z=True)
    >>> drift.shape, bool((drift[0] == 0).all())
    ((1000, 3), True)
    """
    n_axes = 3 if z else 2
    rng = np.random.default_rng([seed, 21])
    t = np.arange(n_frames) / max(n_frames - 1, 1)
    drift = np.empty((n_frames, n_axes))
    for axis in range(n_axes):
        phase = 1.3 * axis
        sine = sine_nm * (np.sin(2 * np.pi * sine_periods * t + phase) - np.sin(phase))
        walk = np.cumsum(rng.normal(0.0, walk_nm / math.sqrt(max(n_frames, 1)), n_frames))
        drift[:, axis] = linear_nm[axis] * t + sine + walk - walk[0]
    return drift


@dataclasses.dataclass
class DriftingLocs:
    """A simulated localization table with its known drift (:func:`drifting_locs`).

    Attributes
    ----------
    locs : numpy.ndarray
        Picasso's record layout (``z``, ``d_zcalib``, ``lpz`` appended in 3D), sorted by frame.
    info : list of dict
        YAML documents (movie + localization with ``Pixelsize``) for :func:`io.locs.save_locs`.
    drift_nm : numpy.ndarray
        ``(n_frames, 2 or 3)`` true drift added to the positions, nm.
    fiducials_px : numpy.ndarray
        ``(n_fiducials, 2)`` true x, y of the fiducials (before drift), px.
    is_fiducial : numpy.ndarray
        Boolean per row of ``locs``: the localization is of a fiducial.
    pixelsize_nm : float
    """

    locs: np.ndarray
    info: list
    drift_nm: np.ndarray
    fiducials_px: np.ndarray
    is_fiducial: np.ndarray
    pixelsize_nm: float

    @property
    def drift_px(self):
        """The true x, y drift in px (``(n_frames, 2)``)."""
        return self.drift_nm[:, :2] / self.pixelsize_nm


@numba.njit(cache=True, nogil=True)
def _emitter_frames(n_frames, n_sites, mean_on, mean_off, n_fiducials, presence, bg_per_frame, rng, fill, ids):
    # Called twice with generators of the same seed: first counting the localizations of
    # every frame into ``fill`` (``ids`` empty), then, with ``fill`` holding each frame's
    # first row, writing the emitter of every row: sites 0.., fiducials n_sites.., background -1.
    write = ids.size > 0
    for site in range(n_sites):
        on = rng.random() < mean_on / (mean_on + mean_off)
        t = 0
        while t < n_frames:
            length = rng.geometric(1.0 / mean_on) if on else rng.geometric(1.0 / mean_off)
            if on:
                for frame in range(t, min(t + length, n_frames)):
                    if write:
                        ids[fill[frame]] = site
                    fill[frame] += 1
            t += length
            on = not on
    for frame in range(n_frames):
        for k in range(n_fiducials):
            if rng.random() < presence:
                if write:
                    ids[fill[frame]] = n_sites + k
                fill[frame] += 1
        for _ in range(rng.poisson(bg_per_frame)):
            if write:
                ids[fill[frame]] = -1
            fill[frame] += 1


def drifting_locs(
    n_locs,
    *,
    n_frames=20000,
    width=256,
    height=256,
    pixelsize_nm=130.0,
    precision_nm=6.0,
    mean_on_frames=4.0,
    mean_off_frames=1000.0,
    background_fraction=0.05,
    z_range_nm=None,
    z_precision_factor=2.5,
    n_fiducials=0,
    fiducial_precision_nm=1.0,
    fiducial_presence=0.98,
    drift_nm=None,
    margin_px=8.0,
    seed=0,
):
    """Localizations of blinking sites (and fiducials) under a known stage drift.

    DNA-PAINT-like sites at random positions bind with geometric on and off times; every
    on-frame gives one localization with Gaussian error (precision spread as photon
    counts spread, median ``precision_nm``). A ``background_fraction`` of the rows are
    non-specific localizations at random positions and frames. Fiducials are present in
    each frame with probability ``fiducial_presence``, localized with
    ``fiducial_precision_nm``. Every position then moves with the drift of its frame.

    Parameters
    ----------
    n_locs : int
        About this many localizations of sites and background (fiducials come on top);
        the number of sites is chosen to give it.
    n_frames, width, height : int
        Acquisition length and camera frame, px.
    pixelsize_nm : float
        Camera pixel size, nm.
    precision_nm : float
        Median lateral localization precision, nm.
    mean_on_frames, mean_off_frames : float
        Mean bright and dark times of a site, frames.
    background_fraction : float
        Fraction of ``n_locs`` that are non-specific.
    z_range_nm : tuple of float, optional
        ``(low, high)``: a 3D table with sites at depths uniform in it (nm) and z
        precision ``z_precision_factor`` times the lateral one.
    n_fiducials : int
        Fiducial markers (beads), at random positions.
    drift_nm : numpy.ndarray, optional
        ``(n_frames, 2 or 3)`` drift, nm; default :func:`drift_trajectory_nm` (with z in 3D).
    margin_px : float
        Sites stay this far from the frame's edges (drift must not move them out).
    seed : int
        Seed of everything random.

    Returns
    -------
    DriftingLocs

    Examples
    --------
    >>> sim = drifting_locs(20000, n_frames=2000, width=64, height=64, n_fiducials=3)
    >>> sim.locs.dtype.names[:3], sim.drift_nm.shape
    (('frame', 'x', 'y'), (2000, 2))
    """
    from . import fitters

    three_d = z_range_nm is not None
    if drift_nm is None:
        drift_nm = drift_trajectory_nm(n_frames, z=three_d, seed=seed)
    drift_nm = np.asarray(drift_nm, dtype=np.float64)
    if drift_nm.shape != (n_frames, 3 if three_d else 2):
        raise ValueError(f"drift_nm must be ({n_frames}, {3 if three_d else 2}), got {drift_nm.shape}")
    rng = np.random.default_rng([seed, 22])
    duty = mean_on_frames / (mean_on_frames + mean_off_frames)
    n_sites = max(1, int(round(n_locs * (1 - background_fraction) / (n_frames * duty))))
    sites = rng.uniform((margin_px, margin_px), (width - margin_px, height - margin_px), (n_sites, 2))
    fiducials = rng.uniform((margin_px, margin_px), (width - margin_px, height - margin_px), (n_fiducials, 2))
    emitters = np.concatenate([sites, fiducials])
    emitter_z = rng.uniform(*(z_range_nm or (0.0, 0.0)), n_sites + n_fiducials)
    bg_per_frame = n_locs * background_fraction / n_frames
    args = (n_frames, n_sites, float(mean_on_frames), float(mean_off_frames), n_fiducials, float(fiducial_presence))
    args += (float(bg_per_frame),)
    counts = np.zeros(n_frames, dtype=np.int64)
    _emitter_frames(*args, np.random.default_rng([seed, 23]), counts, np.zeros(0, dtype=np.int64))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    ids = np.empty(int(counts.sum()), dtype=np.int64)
    _emitter_frames(*args, np.random.default_rng([seed, 23]), starts, ids)
    frame = np.repeat(np.arange(n_frames), counts)
    n = len(ids)
    is_background = ids < 0
    is_fiducial = ids >= n_sites
    # precision scales as 1 / sqrt(photons); photons log-normal around their median
    photons = 2000.0 * np.exp(0.5 * rng.standard_normal(n))
    precision = precision_nm * np.sqrt(2000.0 / photons)
    precision[is_fiducial] = fiducial_precision_nm
    photons[is_fiducial] = 2000.0 * (precision_nm / fiducial_precision_nm) ** 2
    position = np.where(is_background[:, None], 0.0, emitters[np.maximum(ids, 0)])
    position[is_background] = rng.uniform((0.0, 0.0), (width - 1.0, height - 1.0), (int(is_background.sum()), 2))
    dtype = fitters.get("lq-3d" if three_d else "lq").dtype
    locs = np.zeros(n, dtype=dtype)
    locs["frame"] = frame
    for axis, name in enumerate("xy"):
        error_px = rng.standard_normal(n) * precision / pixelsize_nm
        locs[name] = position[:, axis] + error_px + drift_nm[frame, axis] / pixelsize_nm
    locs["photons"] = photons
    locs["sx"] = locs["sy"] = 1.0
    locs["bg"] = 20.0
    locs["lpx"] = locs["lpy"] = precision / pixelsize_nm
    locs["net_gradient"] = photons
    if three_d:
        z_true = np.where(is_background, rng.uniform(*z_range_nm, n), emitter_z[np.maximum(ids, 0)])
        lpz = precision * z_precision_factor
        locs["z"] = z_true + rng.standard_normal(n) * lpz + drift_nm[frame, 2]
        locs["lpz"] = lpz
    info = [
        {"Width": int(width), "Height": int(height), "Frames": int(n_frames), "Data Type": "uint16"},
        {
            "Generated by": "napari-picasso simulate drifting_locs",
            "Pixelsize": float(pixelsize_nm),
            "Fit method": "lq-3d" if three_d else "lq",
        },
    ]
    return DriftingLocs(locs, info, drift_nm, fiducials, is_fiducial, float(pixelsize_nm))


# -- an acquisition writing a movie frame by frame (live localization) ----------------------
ACQUIRE_FORMATS = ("raw", "tif", "mmstack", "ndtiff")


def acquired_movie_path(folder, fmt, name="live"):
    """Where :func:`acquire_movie` writes a movie of format ``fmt`` in ``folder``."""
    folder = Path(folder)
    return {
        "raw": folder / f"{name}.raw",
        "tif": folder / f"{name}.tif",
        "mmstack": folder / f"{name}_MMStack_Pos0.ome.tif",
        "ndtiff": folder / f"{name}_1",  # ndstorage numbers its dataset folders
    }[fmt]


def acquire_movie(
    folder,
    fmt,
    frames,
    *,
    frames_per_second=100.0,
    frames_per_file=None,
    stop_inside_frame=None,
    name="live",
    on_frame=None,
    metadata=None,
):
    """Write ``frames`` one by one as a camera program does, paced, flushed after each.

    Parameters
    ----------
    folder : path-like
    fmt : {"raw", "tif", "mmstack", "ndtiff"}
        ``raw``: the ``.yaml`` first (``Frames: 0``), frames appended, ``Frames`` set at the
        end (its end marker); ``tif``: one tifffile page (with its directory) per frame;
        ``mmstack``: the same named as Micro-Manager does, rolling over to
        ``name_MMStack_Pos0_1.ome.tif`` ... every ``frames_per_file`` frames; ``ndtiff``:
        ndstorage's writer, its index flushed after each image.
    frames : numpy.ndarray
        ``(n, height, width)`` uint16 counts.
    frames_per_second : float
        Pace of the acquisition.
    stop_inside_frame : int, optional
        Write half of this frame, then stop (a crashed writer): the function returns
        without finishing the file.
    on_frame : callable, optional
        ``on_frame(index, seconds)`` after each frame is on disk (``time.time()``).
    metadata : dict, optional
        Extra keys of a ``.raw``'s ``.yaml``.

    Returns
    -------
    pathlib.Path
        The movie (file or NDTiff folder).

    Examples
    --------
    >>> frames = simulate_movie(20, 32, 32)[0]  # doctest: +SKIP
    >>> acquire_movie(tmp, "tif", frames, frames_per_second=50)  # doctest: +SKIP
    """
    import time

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frames = np.asarray(frames, dtype=np.uint16)
    n_frames, height, width = frames.shape
    path = acquired_movie_path(folder, fmt, name)
    writer = _ACQUIRE_WRITERS[fmt](path, folder, name, height, width, frames_per_file, metadata or {})
    due = time.perf_counter()
    try:
        for i, frame in enumerate(frames):
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            due = max(due, time.perf_counter()) + 1 / frames_per_second
            if stop_inside_frame is not None and i == stop_inside_frame:
                writer.write_half(frame)
                return path
            writer.write(frame)
            if on_frame is not None:
                on_frame(i, time.time())
        writer.finish(n_frames)
    finally:
        writer.close()
    return path


class _RawAcquisition:
    def __init__(self, path, folder, name, height, width, frames_per_file, metadata):
        self.path, self.height, self.width, self.metadata = path, height, width, metadata
        write_raw_info(path, width, height, 0, "uint16", "<", **metadata)
        self.file = open(path, "wb")

    def write(self, frame):
        self.file.write(frame.astype("<u2").tobytes())
        self.file.flush()

    def write_half(self, frame):
        data = frame.astype("<u2").tobytes()
        self.file.write(data[: len(data) // 2])
        self.file.flush()

    def finish(self, n_frames):
        self.file.close()
        write_raw_info(self.path, self.width, self.height, n_frames, "uint16", "<", **self.metadata)

    def close(self):
        self.file.close()


class _TiffAcquisition:
    def __init__(self, path, folder, name, height, width, frames_per_file, metadata):
        self.path = path
        self.frames_per_file = frames_per_file
        self.n_in_file = 0
        self.n_files = 0
        self.writer = None
        self._open(path)

    def _open(self, path):
        import tifffile

        if self.writer is not None:
            self.writer.close()
        self.writer = tifffile.TiffWriter(path, ome=False)
        self.n_in_file = 0

    def write(self, frame):
        if self.frames_per_file and self.n_in_file == self.frames_per_file and "_MMStack" in self.path.name:
            self.n_files += 1
            stem = self.path.name[: -len(".ome.tif")] if self.path.name.endswith(".ome.tif") else self.path.stem
            ending = self.path.name[len(stem) :]
            self._open(self.path.with_name(f"{stem}_{self.n_files}{ending}"))
        self.writer.write(frame, contiguous=False, metadata=None, photometric="minisblack")
        self.writer.filehandle.flush()
        self.n_in_file += 1

    def write_half(self, frame):
        # a whole page, then cut inside its pixels: what a writer killed mid-frame leaves
        self.write(frame)
        name = self.writer.filehandle.path
        self.writer.filehandle.close()
        self.writer = None
        size = Path(name).stat().st_size
        with open(name, "r+b") as f:
            f.truncate(size - frame.nbytes // 2)

    def finish(self, n_frames):
        self.close()

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class _NDTiffAcquisition:
    def __init__(self, path, folder, name, height, width, frames_per_file, metadata):
        import ndstorage

        self.dataset = ndstorage.NDTiffDataset(str(folder), name=name, writable=True)
        self.dataset.initialize({"Core-Camera": "Simulated"})
        self.index = 0
        self.finished = False

    def write(self, frame):
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            self.dataset.put_image({"time": self.index}, frame, {"Camera": "Simulated"})
        self.dataset._index_file.flush()  # Micro-Manager's index reaches the disk as it grows
        self.index += 1

    def write_half(self, frame):
        # pixels written, the index entry cut: the image never completes
        self.write(frame)
        index = self.dataset._index_file
        index.truncate(index.tell() - 10)
        index.flush()
        self.finished = True  # never finished: a crash

    def finish(self, n_frames):
        self.dataset.finish()
        self.finished = True

    def close(self):
        if not self.finished:
            self.dataset.finish()


_ACQUIRE_WRITERS = {
    "raw": _RawAcquisition,
    "tif": _TiffAcquisition,
    "mmstack": _TiffAcquisition,
    "ndtiff": _NDTiffAcquisition,
}

# -- image splitter (two spectral channels side by side) ------------------------------------
SPLIT_TRUTH_DTYPE = np.dtype(
    TRUTH_DTYPE.descr + [("x1", "f4"), ("y1", "f4"), ("photons_0", "f4"), ("photons_1", "f4"), ("dye", "i1")]
)
DYE_RATIOS = (0.25, 0.70)
"""photons_1 / (photons_0 + photons_1) of the simulated dyes."""


@dataclasses.dataclass
class SplitterOptics:
    """The known geometry between the halves of a simulated splitter (channel 0 -> channel 1).

    About the centre ``(xc, yc)`` of a ``height x width`` half: a rotation, a scale, a
    shift and a second-order distortion,

        x1 = xc + s (cos a dx - sin a dy) + shift_x + k_xx dx^2 + k_xy dx dy
        y1 = yc + s (sin a dx + cos a dy) + shift_y + k_yy dy^2 + k_xy dx dy / 2

    with ``dx = x0 - xc``, ``dy = y0 - yc`` (px of each half). Channel 1's PSF is wider
    by ``sigma_ratio`` (the scale, and chromatic focus).
    """

    height: int = 64
    width: int = 64
    shift_px: tuple = (1.7, -1.2)
    rotation_deg: float = 0.6
    scale: float = 1.008
    k_xx: float = 1.5e-4
    k_xy: float = -1.0e-4
    k_yy: float = 1.2e-4
    sigma_ratio: float = 1.05

    def to_channel1(self, x0, y0):
        """Channel-1 px of channel-0 px (arrays)."""
        xc, yc = (self.width - 1) / 2, (self.height - 1) / 2
        dx = np.asarray(x0, np.float64) - xc
        dy = np.asarray(y0, np.float64) - yc
        a = math.radians(self.rotation_deg)
        s = self.scale
        x1 = xc + s * (math.cos(a) * dx - math.sin(a) * dy) + self.shift_px[0] + self.k_xx * dx * dx
        x1 = x1 + self.k_xy * dx * dy
        y1 = yc + s * (math.sin(a) * dx + math.cos(a) * dy) + self.shift_px[1] + self.k_yy * dy * dy
        y1 = y1 + 0.5 * self.k_xy * dx * dy
        return x1, y1


def _split_truth(truth, optics, ratios, dyes, sigma_px):
    out = np.zeros(len(truth), dtype=SPLIT_TRUTH_DTYPE)
    for name in TRUTH_DTYPE.names:
        out[name] = truth[name]
    out["dye"] = dyes
    ratio = np.asarray(ratios, np.float64)[dyes]
    out["photons_1"] = truth["photons"] * ratio
    out["photons_0"] = truth["photons"] - out["photons_1"]
    out["x1"], out["y1"] = optics.to_channel1(truth["x"], truth["y"])
    out["sx"] = out["sy"] = sigma_px
    return out


def splitter_truth(
    n_frames, optics=None, *, n_sites=40, photons=2000.0, ratios=DYE_RATIOS, sigma_px=1.0, margin_px=8, seed=0
):
    """Ground truth of two dyes blinking behind a splitter (``SPLIT_TRUTH_DTYPE``).

    Sites (at least 10 px apart in channel 0) alternate between the dyes; ``x, y`` are
    channel-0 px, ``x1, y1`` channel-1 px through ``optics``; ``photons`` = ``photons_0 +
    photons_1``, split by the dye's ratio (``ratios``, photons_1 / photons).

    Examples
    --------
    >>> truth = splitter_truth(50, SplitterOptics(), n_sites=10)
    >>> bool(np.allclose(truth["photons_1"] / truth["photons"], np.take(DYE_RATIOS, truth["dye"])))
    True
    """
    optics = optics or SplitterOptics()
    truth = blinking_sites(
        n_frames,
        optics.height,
        optics.width,
        n_sites=n_sites,
        photons=photons,
        photon_spread=0.0,
        sigma_px=sigma_px,
        mean_on_frames=2.0,
        mean_off_frames=8.0,
        margin_px=margin_px,
        min_distance_px=10.0,
        seed=seed,
    )
    return _split_truth(truth, optics, ratios, truth["site"] % len(ratios), sigma_px)


def splitter_beads_truth(n_frames, optics=None, *, spacing_px=9, photons=60000.0, sigma_px=1.0, margin_px=6, seed=0):
    """Beads seen in both halves, on in every frame (half the light in each channel).

    A jittered grid of ``spacing_px`` over channel 0 (``SPLIT_TRUTH_DTYPE``); the same
    positions in every frame, as beads on a coverslip.
    """
    optics = optics or SplitterOptics()
    rng = np.random.default_rng([seed, 11])
    gy, gx = np.mgrid[
        margin_px : optics.height - margin_px : spacing_px, margin_px : optics.width - margin_px : spacing_px
    ]
    sites = np.column_stack([gx.ravel(), gy.ravel()]).astype(float) + rng.uniform(-2, 2, (gx.size, 2))
    n_sites = len(sites)
    truth = np.zeros(n_frames * n_sites, dtype=TRUTH_DTYPE)
    truth["frame"] = np.repeat(np.arange(n_frames), n_sites)
    truth["site"] = np.tile(np.arange(n_sites), n_frames)
    truth["x"] = np.tile(sites[:, 0], n_frames)
    truth["y"] = np.tile(sites[:, 1], n_frames)
    truth["photons"] = photons
    return _split_truth(truth, optics, (0.5,), np.zeros(len(truth), np.int64), sigma_px)


def _channel_truth(truth, channel, optics):
    one = np.zeros(len(truth), dtype=TRUTH_DTYPE)
    one["frame"] = truth["frame"]
    if channel == 0:
        one["x"], one["y"], one["photons"] = truth["x"], truth["y"], truth["photons_0"]
        one["sx"] = one["sy"] = truth["sx"]
    else:
        one["x"], one["y"], one["photons"] = truth["x1"], truth["y1"], truth["photons_1"]
        one["sx"] = one["sy"] = truth["sx"] * optics.sigma_ratio
    return one


def splitter_movie(
    truth, n_frames, optics=None, *, splitter="left-right", flip=False, bg_photons=20.0, camera=None, seed=0
):
    """Camera counts of a splitter: channel 0 left (top), channel 1 right (bottom).

    ``bg_photons`` per pixel in each channel; ``flip`` mirrors channel 1 along the split
    (as the ``--flip`` option undoes).

    Returns
    -------
    numpy.ndarray
        ``(n_frames, height, 2 width)`` (left-right) or ``(n_frames, 2 height, width)``
        uint16 counts.

    Examples
    --------
    >>> optics = SplitterOptics(height=32, width=32)
    >>> splitter_movie(splitter_truth(4, optics, n_sites=3), 4, optics).shape
    (4, 32, 64)
    """
    optics = optics or SplitterOptics()
    camera = camera or CameraModel()
    h, w = optics.height, optics.width
    halves = [expected_photons(_channel_truth(truth, c, optics), n_frames, h, w, bg_photons) for c in range(2)]
    axis = 2 if splitter == "left-right" else 1
    if flip:
        halves[1] = np.flip(halves[1], axis=axis)
    expected = np.concatenate(halves, axis=axis)
    return camera_counts(expected, camera, np.random.default_rng([seed, 5]))


def write_splitter_movie(path, truth, n_frames, optics=None, *, camera=None, pixelsize_nm=130.0, **options):
    """A splitter movie (:func:`splitter_movie`) as a ``.tif`` with the movie document
    beside it (``.yaml``, the camera and the simulation) and its ground truth
    (``<stem>_truth.hdf5``, channel-0 px, one half's size)."""
    import tifffile

    path = Path(path)
    camera = camera or CameraModel()
    movie = splitter_movie(truth, n_frames, optics, camera=camera, **options)
    with replacing(path) as part:
        tifffile.imwrite(part, movie, photometric="minisblack")
    optics = optics or SplitterOptics()
    metadata = movie_metadata(camera, options.get("bg_photons", 20.0), pixelsize_nm)
    write_truth(path, truth, n_frames, optics.height, optics.width, metadata)
    return path


# -- dense scenes and pairs (multi-emitter fitting) ----------------------------------------
def dense_emitters(
    n_frames,
    height=128,
    width=128,
    *,
    density_per_um2=1.0,
    pixelsize_nm=100.0,
    photons=1500.0,
    sigma_px=1.0,
    margin_px=4,
    seed=0,
):
    """Ground truth of emitters placed uniformly at random, new ones every frame.

    The number per frame is Poisson with mean ``density_per_um2`` times the area inside
    the margin; no minimum separation (pairs closer than the PSF occur as in real dense
    frames).

    Examples
    --------
    >>> truth = dense_emitters(2, 64, 64, density_per_um2=1.0, seed=1)
    >>> sorted(set(truth["frame"].tolist()))
    [0, 1]
    """
    rng = np.random.default_rng(seed)
    area_um2 = (height - 2 * margin_px) * (width - 2 * margin_px) * (pixelsize_nm / 1000.0) ** 2
    counts = rng.poisson(density_per_um2 * area_um2, n_frames)
    truth = np.zeros(int(counts.sum()), dtype=TRUTH_DTYPE)
    truth["frame"] = np.repeat(np.arange(n_frames), counts)
    truth["site"] = np.arange(len(truth))
    truth["x"] = rng.uniform(margin_px, width - margin_px, len(truth))
    truth["y"] = rng.uniform(margin_px, height - margin_px, len(truth))
    truth["photons"] = photons
    truth["sx"] = sigma_px
    truth["sy"] = sigma_px
    return truth


def emitter_pairs(
    n_frames, separation_px, height=128, width=128, *, spacing_px=16, photons=1500.0, sigma_px=1.0, seed=0
):
    """Ground truth of pairs ``separation_px`` apart, on a grid, random orientation per frame.

    Each pair's midpoint sits on a grid of ``spacing_px`` (plus a uniform +-0.5 px offset),
    so pairs never share a box of up to ``spacing_px - separation_px - 2`` px.

    Examples
    --------
    >>> truth = emitter_pairs(1, 2.0, 64, 64)
    >>> len(truth) % 2, round(float(np.hypot(truth["x"][1] - truth["x"][0], truth["y"][1] - truth["y"][0])), 3)
    (0, 2.0)
    """
    rng = np.random.default_rng(seed)
    margin = spacing_px // 2
    gy, gx = np.mgrid[margin : height - margin + 1 : spacing_px, margin : width - margin + 1 : spacing_px]
    n_pairs = gx.size
    total = n_frames * n_pairs
    mid_x = np.tile(gx.ravel(), n_frames) + rng.uniform(-0.5, 0.5, total)
    mid_y = np.tile(gy.ravel(), n_frames) + rng.uniform(-0.5, 0.5, total)
    angle = rng.uniform(0.0, np.pi, total)
    half_x = 0.5 * separation_px * np.cos(angle)
    half_y = 0.5 * separation_px * np.sin(angle)
    truth = np.zeros(2 * total, dtype=TRUTH_DTYPE)
    truth["frame"] = np.repeat(np.repeat(np.arange(n_frames), n_pairs), 2)
    truth["site"] = np.arange(2 * total)
    truth["x"][0::2] = mid_x - half_x
    truth["x"][1::2] = mid_x + half_x
    truth["y"][0::2] = mid_y - half_y
    truth["y"][1::2] = mid_y + half_y
    truth["photons"] = photons
    truth["sx"] = sigma_px
    truth["sy"] = sigma_px
    return truth


def nearest_neighbour_px(truth):
    """Distance (px) of every ground-truth emitter to the nearest other one of its frame.

    Examples
    --------
    >>> nearest_neighbour_px(emitter_pairs(1, 2.0, 32, 32)).round(3).tolist()[:2]
    [2.0, 2.0]
    """
    nearest = np.full(len(truth), np.inf)
    for frame in np.unique(truth["frame"]):
        index = np.flatnonzero(truth["frame"] == frame)
        d = np.hypot(truth["x"][index, None] - truth["x"][index], truth["y"][index, None] - truth["y"][index])
        np.fill_diagonal(d, np.inf)
        nearest[index] = d.min(axis=1)
    return nearest


# -- pupil-function PSF (experimental-like PSFs: astigmatism, spherical aberration, coma) --
@dataclasses.dataclass
class PupilPSF:
    """Scalar pupil-function PSF of a high-NA objective with Zernike aberrations.

    The pupil ``P(k) = circ(|k| <= NA / lambda) exp(i W(rho, theta) + i 2 pi z kz)``, with
    ``kz = sqrt((n / lambda)^2 - |k|^2)`` (exact defocus in the immersion medium) and
    ``W = astigmatism rho^2 cos(2 theta) + spherical (6 rho^4 - 6 rho^2 + 1) + coma (3 rho^3
    - 2 rho) cos(theta)`` (radians). The image is ``|FFT(P)|^2`` on a grid ``oversampling``
    times finer than the camera, summed into camera pixels; an emitter's lateral position
    is a phase ramp in the pupil (exact). The PSF integrates to 1 over the whole grid
    (photons outside the drawn window are lost, as on a camera).

    Beyond focus spherical aberration opens the spot into a ring with lobes (astigmatism
    and coma): not a Gaussian. ``z`` is the emitter's axial position (nm), the stage
    coordinate of a bead z-stack (:func:`pupil_bead_stack`): fits report it back.
    """

    wavelength_nm: float = 670.0
    na: float = 1.45
    n_immersion: float = 1.518
    pixelsize_nm: float = 110.0
    astigmatism_rad: float = 1.4
    spherical_rad: float = 0.5
    coma_rad: float = 0.3
    oversampling: int = 3
    grid: int = 188

    def _pupil(self):
        delta = self.pixelsize_nm / self.oversampling
        k = np.fft.fftfreq(self.grid, delta)
        kx, ky = np.meshgrid(k, k)
        rho = np.hypot(kx, ky) / (self.na / self.wavelength_nm)
        theta = np.arctan2(ky, kx)
        inside = rho <= 1.0
        w = (
            self.astigmatism_rad * rho**2 * np.cos(2 * theta)
            + self.spherical_rad * (6 * rho**4 - 6 * rho**2 + 1)
            + self.coma_rad * (3 * rho**3 - 2 * rho) * np.cos(theta)
        )
        kz = np.sqrt(np.maximum((self.n_immersion / self.wavelength_nm) ** 2 - kx**2 - ky**2, 0.0))
        return kx, ky, kz, np.where(inside, np.exp(1j * w), 0.0)

    def images(self, dx_px, dy_px, z_nm, size_px=15):
        """``(n, size, size)`` fractions of the photons per camera pixel, emitters at
        ``(dx, dy)`` px from the centre pixel (``size // 2``) and depths ``z_nm``.

        Examples
        --------
        >>> img = PupilPSF().images([0.0], [0.0], [0.0], 15)
        >>> img.shape, bool(0.5 < img.sum() < 1.0)
        ((1, 15, 15), True)
        """
        dx = np.atleast_1d(np.asarray(dx_px, dtype=np.float64))
        dy = np.atleast_1d(np.asarray(dy_px, dtype=np.float64))
        z = np.atleast_1d(np.asarray(z_nm, dtype=np.float64))
        os_, n = self.oversampling, self.grid
        if (n // 2 - (os_ - 1) // 2) % os_ != 0:
            raise ValueError("grid // 2 must be the centre sample of a camera pixel")
        kx, ky, kz, pupil = self._pupil()
        centre_px = (n // 2) // os_
        half = size_px // 2
        lo = (centre_px - half) * os_
        out = np.empty((len(z), size_px, size_px))
        for start in range(0, len(z), 64):
            stop = min(len(z), start + 64)
            lateral = kx * dx[start:stop, None, None] + ky * dy[start:stop, None, None]
            phase = lateral * self.pixelsize_nm - kz * z[start:stop, None, None]
            field = np.fft.fftshift(np.fft.ifft2(pupil * np.exp(-2j * np.pi * phase)), axes=(1, 2))
            intensity = np.abs(field) ** 2
            intensity /= intensity.sum(axis=(1, 2), keepdims=True)
            window = intensity[:, lo : lo + size_px * os_, lo : lo + size_px * os_]
            out[start:stop] = window.reshape(stop - start, size_px, os_, size_px, os_).sum(axis=(2, 4))
        return out

    def expected_photons(self, truth, n_frames, height, width, bg_photons, first_frame=0, size_px=25):
        """Noise-free photons per pixel (``(n_frames, height, width)``) of a ground truth with ``z``."""
        out = np.empty((n_frames, height, width))
        out[:] = np.broadcast_to(np.asarray(bg_photons, dtype=np.float64), (height, width))
        xc = np.rint(truth["x"]).astype(np.int64)
        yc = np.rint(truth["y"]).astype(np.int64)
        spots = self.images(truth["x"] - xc, truth["y"] - yc, truth["z"], size_px)
        spots *= truth["photons"][:, None, None]
        half = size_px // 2
        for k in range(len(truth)):
            f = int(truth["frame"][k]) - first_frame
            y0, x0 = yc[k] - half, xc[k] - half
            ys = slice(max(0, y0), min(height, y0 + size_px))
            xs = slice(max(0, x0), min(width, x0 + size_px))
            if ys.start < ys.stop and xs.start < xs.stop and 0 <= f < n_frames:
                out[f, ys, xs] += spots[k, ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
        return out


def pupil_bead_stack(step_nm=10.0, range_nm=800.0, height=80, width=80, spacing_px=20, photons=100000.0, seed=0):
    """Ground truth of a bead z-stack for :class:`PupilPSF`: frame ``i`` at ``z = range - i * step``.

    Beads on a grid (fixed sub-pixel positions, the same in every frame), from ``+range_nm``
    down to ``-range_nm`` (Picasso's order: the first frame at the top of the scan).

    Examples
    --------
    >>> truth = pupil_bead_stack(step_nm=100.0, range_nm=200.0, height=32, width=32)
    >>> sorted(set(truth["z"].tolist()))
    [-200.0, -100.0, 0.0, 100.0, 200.0]
    """
    n_steps = int(round(2 * range_nm / step_nm)) + 1
    truth = isolated_spots(1, height, width, spacing_px, photons, 1.0, 12, seed)
    truth = np.tile(truth, n_steps)
    truth["frame"] = np.repeat(np.arange(n_steps), len(truth) // n_steps)
    truth["z"] = range_nm - truth["frame"].astype(np.float64) * step_nm
    return truth


def pupil_spots(n_frames, height=96, width=96, spacing_px=16, photons=3000.0, z_range_nm=(-600.0, 600.0), seed=0):
    """Isolated emitters at uniform depths in ``z_range_nm`` (nm), new positions every frame."""
    truth = isolated_spots(n_frames, height, width, spacing_px, photons, 1.0, 12, seed)
    rng = np.random.default_rng([seed, 5])
    truth["z"] = rng.uniform(z_range_nm[0], z_range_nm[1], len(truth))
    return truth
