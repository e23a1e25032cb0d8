"""The one streaming localization pipeline.

``localize`` reads a movie in chunks of frames, identifies spots by net gradient, cuts
them out, converts them to photons, fits them and appends the rows to a sink (memory or
a ``_locs.hdf5`` file). Peak memory depends on the chunk size, not on the movie's
length. The napari widget, the command line, the watcher and the distributed runner all
call it; :func:`localize_frames` is the per-block step they share (previews and
distributed tasks call it on their frames).
"""

import dataclasses
import math
import threading
import time
from pathlib import Path

import numpy as np

from . import __version__
from .core import localizations as L
from .core import zfit
from .core.average import average_of_roi
from .core.camera import excess_noise_factor
from .core.gaussfit import fit_lq, fit_mle
from .core.identify import check_box
from .core.precision import mortensen_lq_variance
from .core.spots import extract_spots, extract_spots_per_pixel, map_windows
from .detection import (
    DETECTORS,
    check_background_frames,
    detect,
    load_maps,
    noise_model,
    read_with_background,
    with_maps_origin,
)
from .io.errors import ParameterError
from .io.locs import LocsWriter, locs_path_for
from .io.movie import Movie
from .io.movies import open_movie

FIT_METHODS = ("mle", "lq", "avg", "mle-3d", "lq-3d")
FIT_METHOD_NAMES = {
    "mle": "MLE, integrated Gaussian",
    "lq": "LQ, Gaussian",
    "avg": "Average of ROI",
    "mle-3d": "MLE, integrated Gaussian, 3D astigmatism",
    "lq-3d": "LQ, Gaussian, 3D astigmatism",
}

# Frames read and processed together: enough to keep both cores busy, bounded in bytes.
CHUNK_BYTES = 64 * 2**20


class LocalizationCancelled(Exception):
    """Raised inside :func:`localize` when the caller's cancel check returns True."""


@dataclasses.dataclass
class LocalizeParameters:
    """Everything that decides a localization run.

    Attributes
    ----------
    box : int
        Odd box side in pixels (rule of thumb: round(6 * sigma_px + 1)).
    min_net_gradient : float
        Identification threshold on Picasso's net-gradient scale (raw counts).
    fit_method : str
        ``"mle"`` (maximum likelihood, integrated Gaussian), ``"lq"`` (least squares)
        or ``"avg"`` (average of ROI, not a fit).
    shared_sigma : bool
        Fit one sigma instead of free sx, sy.
    max_iterations : int
        Iteration limit of the iterative fits.
    tolerance_px : float
        Convergence: an accepted step moves x and y by less than this.
    baseline : float
        Camera offset (counts).
    sensitivity : float
        Electrons per count.
    em_gain : float
        EM gain (1 without EM amplification).
    qe : float
        Quantum efficiency (metadata only, as in Picasso).
    pixelsize_nm : float
        Camera pixel size in the sample plane (nm).
    roi : tuple of int or None
        ``(y0, x0, y1, x1)`` camera pixels, end exclusive; ``None`` for the whole frame.
    frame_range : tuple of int or None
        ``(first, stop)`` frames to process, stop exclusive; ``None`` for all.
    camera : str or None
        Name of the camera configuration used (recorded in the metadata).
    detector : str
        ``"gradient"`` (net gradient, Picasso) or ``"snr"`` (signal-to-noise threshold,
        see :mod:`napari_picasso.core.snr_detect`).
    snr_threshold : float
        SNR detector: multiple of the per-pixel noise the filtered signal must exceed.
    debounce_px : float
        SNR detector: of two candidates closer than this, the stronger is kept.
    read_noise_e : float
        Readout noise, electrons rms (SNR detector's noise model without camera maps).
    background_frames : str or None
        Frames whose median/mean is each frame's background, as a slice relative to it
        (``"-30:0"``: the 30 frames before; see :mod:`napari_picasso.detection`); used
        for detection; ``None``: no background estimate.
    background_statistic : str
        ``"median"`` or ``"mean"`` of the background frames.
    subtract_background : bool
        Subtract the background estimate from the spots before fitting (the MLE adds it
        back to model and data, so the Poisson statistics stay right); ``bg`` reports
        the fitted residual plus the box's mean estimate. Needs ``background_frames``
        (a :class:`ParameterError` without them).
    start_frame : int
        Localize from this frame on (frames before it still feed background windows).
    camera_maps : str or None
        sCMOS per-pixel maps file (:mod:`napari_picasso.io.camera_maps`): per-pixel photon
        conversion and the sCMOS MLE.
    camera_maps_origin : tuple of int or None
        ``(y, x)`` of the movie's top-left pixel in larger (full-sensor) maps, which are
        cut to the movie's frames there; ``None``: from the camera ROI the movie's
        metadata records (where the maps are larger than the frames).
    z_calibration : dict or None
        3D astigmatism calibration (Picasso's keys, see
        :mod:`napari_picasso.core.zfit`); required by the ``-3d`` fit methods.
    max_d_zcalib : float or None
        3D fits: keep only localizations with ``d_zcalib <= max_d_zcalib``; ``None``: keep
        all. ``d_zcalib`` is the distance of the fitted widths from the calibration curve
        in the z fit's space of square-root widths (units sqrt(px), the ``d_zcalib``
        column); off-curve widths come from overlapping emitters, emitters beyond the
        calibrated range and fits gone astray. The rule is absolute, applied to each
        localization on its own, so chunked, watched and distributed runs keep the same
        rows. Picasso instead removes ``d_zcalib > 2 * rms(d_zcalib)`` of the whole file,
        which a streaming pipeline cannot know in advance: to reproduce it, use twice the
        rms ``d_zcalib`` of a run without the filter (printed by ``napari-picasso
        localize``), or :func:`napari_picasso.core.zfit.filter_z` on a loaded table.
    z_magnification : float or None
        3D fits: magnification factor (refractive-index mismatch) replacing the
        calibration's ``Magnification factor``; z and lpz are the stage values times this
        factor. ``None``: the calibration's value.
    rois : tuple of tuple of int or None
        Several ``(y0, x0, y1, x1)`` rectangles (e.g. drawn in napari): spots are
        detected inside their bounding box and kept when their centre pixel lies in
        any of them. Replaces ``roi`` when set.
    """

    box: int = 7
    min_net_gradient: float = 5000.0
    fit_method: str = "mle"
    shared_sigma: bool = False
    max_iterations: int = 100
    tolerance_px: float = 1e-3
    baseline: float = 100.0
    sensitivity: float = 1.0
    em_gain: float = 1.0
    qe: float = 1.0
    pixelsize_nm: float = 130.0
    roi: tuple | None = None
    frame_range: tuple | None = None
    camera: str | None = None
    detector: str = "gradient"
    snr_threshold: float = 1.0
    debounce_px: float = 4.0
    read_noise_e: float = 1.5
    background_frames: str | None = None
    background_statistic: str = "median"
    subtract_background: bool = False
    start_frame: int = 0
    camera_maps: str | None = None
    camera_maps_origin: tuple | None = None
    z_calibration: dict | None = None
    rois: tuple | None = None
    max_d_zcalib: float | None = None
    z_magnification: float | None = None

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_info(self):
        """The localization document of ``_locs.yaml`` (Picasso's key names)."""
        info = {
            "Generated by": f"napari-picasso {__version__}",
            "Box Size": int(self.box),
            "Min. Net Gradient": float(self.min_net_gradient),
            "Fit method": self.fit_method,
            "Fit method name": FIT_METHOD_NAMES.get(self.fit_method, self.fit_method),
            "Shared sigma": bool(self.shared_sigma),
            "ROI": list(self.roi) if self.roi is not None else None,
            "Frame Bounds": list(self.frame_range) if self.frame_range is not None else None,
            "Baseline": float(self.baseline),
            "Sensitivity": float(self.sensitivity),
            "Gain": float(self.em_gain),
            "Qe": float(self.qe),
            "Pixelsize": float(self.pixelsize_nm),
        }
        if self.fit_method != "avg":
            info["Convergence Criterion"] = float(self.tolerance_px)
            info["Max. Iterations"] = int(self.max_iterations)
        if self.camera:
            info["Camera"] = self.camera
        info.update(
            {
                "Detector": self.detector,
                "SNR threshold": float(self.snr_threshold),
                "Debounce (px)": float(self.debounce_px),
                "Read noise (e-)": float(self.read_noise_e),
                "Background frames": self.background_frames,
                "Background statistic": self.background_statistic,
                "Subtract background": bool(self.subtract_background),
                "Start frame": int(self.start_frame),
                "Camera maps": str(self.camera_maps) if self.camera_maps else None,
            }
        )
        if self.camera_maps_origin is not None:
            info["Camera maps origin"] = [int(v) for v in self.camera_maps_origin]
        if self.fit_method.endswith("-3d") and self.z_calibration:
            # Picasso's 3D fit merges the calibration's keys into its document.
            info["Calibration path"] = self.z_calibration.get("Path", "N/A")
            info.update(self.z_calibration)
            if self.z_magnification is not None:
                # "Magnification factor" is the one applied (as in Picasso when overridden).
                info["Calibration magnification factor"] = zfit.magnification_of(self.z_calibration)
                info["Magnification factor"] = float(self.z_magnification)
            info["Max. d_zcalib"] = None if self.max_d_zcalib is None else float(self.max_d_zcalib)
        if self.rois:
            info["ROI"] = list(rois_bounding_box(self.rois))
            info["ROIs"] = [list(r) for r in self.rois]
        return info

    @classmethod
    def from_info(cls, info):
        """Parameters from a localization document written by :meth:`to_info`."""
        kwargs = dict(
            box=info.get("Box Size", 7),
            min_net_gradient=info.get("Min. Net Gradient", 5000.0),
            fit_method=info.get("Fit method", "mle"),
            shared_sigma=info.get("Shared sigma", False),
            max_iterations=info.get("Max. Iterations", 100),
            tolerance_px=info.get("Convergence Criterion", 1e-3),
            baseline=info.get("Baseline", 100.0),
            sensitivity=info.get("Sensitivity", 1.0),
            em_gain=info.get("Gain", 1.0),
            qe=info.get("Qe", 1.0),
            pixelsize_nm=info.get("Pixelsize", 130.0),
            roi=tuple(info["ROI"]) if info.get("ROI") else None,
            frame_range=tuple(info["Frame Bounds"]) if info.get("Frame Bounds") else None,
            camera=info.get("Camera"),
            detector=info.get("Detector", "gradient"),
            snr_threshold=info.get("SNR threshold", 1.0),
            debounce_px=info.get("Debounce (px)", 4.0),
            read_noise_e=info.get("Read noise (e-)", 1.5),
            background_frames=info.get("Background frames"),
            background_statistic=info.get("Background statistic", "median"),
            subtract_background=info.get("Subtract background", False),
            start_frame=info.get("Start frame", 0),
            camera_maps=info.get("Camera maps"),
            camera_maps_origin=tuple(info["Camera maps origin"]) if info.get("Camera maps origin") else None,
        )
        if "X Coefficients" in info:
            kwargs["z_calibration"] = {k: info[k] for k in (*zfit.CALIBRATION_KEYS, zfit.RANGE_KEY) if k in info}
            if "Calibration magnification factor" in info:
                kwargs["z_magnification"] = info["Magnification factor"]
                kwargs["z_calibration"]["Magnification factor"] = info["Calibration magnification factor"]
            kwargs["max_d_zcalib"] = info.get("Max. d_zcalib")
        if info.get("ROIs"):
            kwargs["rois"] = tuple(tuple(r) for r in info["ROIs"])
            kwargs["roi"] = None
        return cls(**kwargs)


def rois_bounding_box(rois):
    """``(y0, x0, y1, x1)`` around several rectangles."""
    rois = np.asarray(rois, dtype=np.int64).reshape(-1, 4)
    return (int(rois[:, 0].min()), int(rois[:, 1].min()), int(rois[:, 2].max()), int(rois[:, 3].max()))


def validate_parameters(parameters, shape, name="movie"):
    """Check parameters against a movie of ``shape`` (frames, height, width).

    Returns
    -------
    roi : tuple of int
        ``(y0, x0, y1, x1)``, the whole frame when ``parameters.roi`` is None.
    frames : tuple of int
        ``(first, stop)``.

    Raises
    ------
    ParameterError
        With a message that says what is wrong and how to fix it.
    """
    n_frames, height, width = shape
    if parameters.rois:
        if parameters.roi is not None:
            raise ParameterError("set either one ROI or several ROIs (rectangles), not both.")
        for rect in parameters.rois:
            if len(rect) != 4 or not (0 <= rect[0] < rect[2] <= height and 0 <= rect[1] < rect[3] <= width):
                raise ParameterError(
                    f"ROI rectangle (y0, x0, y1, x1) = {tuple(rect)} lies outside the {name}'s "
                    f"{height}x{width} frame; use 0 <= y0 < y1 <= {height} and 0 <= x0 < x1 <= {width}."
                )
        parameters = parameters.replace(roi=rois_bounding_box(parameters.rois))
    try:
        check_box(parameters.box)
    except ValueError as error:
        raise ParameterError(f"{name}: {error}") from None
    if parameters.fit_method not in FIT_METHODS:
        raise ParameterError(f"unknown fit method {parameters.fit_method!r}; choose one of {', '.join(FIT_METHODS)}.")
    _validate_z_options(parameters)
    if parameters.fit_method.endswith("-3d"):
        _validate_z_calibration(parameters)
    if parameters.em_gain <= 0 or parameters.sensitivity <= 0:
        raise ParameterError("EM gain and sensitivity must be positive.")
    if parameters.detector not in DETECTORS:
        raise ParameterError(f"unknown detector {parameters.detector!r}; choose {' or '.join(DETECTORS)}.")
    if not parameters.snr_threshold >= 0 or not parameters.debounce_px >= 0 or not parameters.read_noise_e >= 0:
        raise ParameterError("the SNR threshold, debounce radius and read noise must be >= 0.")
    check_background_frames(parameters, n_frames, name)
    origin = parameters.camera_maps_origin
    if origin is not None:
        try:
            whole = len(origin) == 2 and all(int(v) == v and v >= 0 for v in origin)
        except (TypeError, ValueError):
            whole = False
        if not whole:
            raise ParameterError(f"the camera maps origin must be two whole numbers (y, x) >= 0; got {origin!r}.")
    roi = parameters.roi
    if roi is None:
        roi = (0, 0, height, width)
    else:
        if len(roi) != 4:
            raise ParameterError(f"ROI must be (y0, x0, y1, x1); got {roi}.")
        y0, x0, y1, x1 = (int(v) for v in roi)
        if not (0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width):
            raise ParameterError(
                f"ROI (y0, x0, y1, x1) = {tuple(roi)} lies outside the {name}'s "
                f"{height}x{width} frame; use 0 <= y0 < y1 <= {height} and 0 <= x0 < x1 <= {width}."
            )
        if y1 - y0 < parameters.box or x1 - x0 < parameters.box:
            raise ParameterError(f"ROI {tuple(roi)} is smaller than one box ({parameters.box} px).")
        roi = (y0, x0, y1, x1)
    frames = parameters.frame_range
    if frames is None:
        frames = (0, n_frames)
    else:
        first, stop = (int(v) for v in frames)
        if not (0 <= first < stop <= n_frames):
            raise ParameterError(
                f"frame bounds {tuple(frames)} lie outside the {name}'s {n_frames} frames; "
                f"use 0 <= first < stop <= {n_frames}."
            )
        frames = (first, stop)
    start_frame = int(parameters.start_frame or 0)
    if start_frame:
        if not 0 <= start_frame < frames[1]:
            raise ParameterError(
                f"start frame {start_frame} lies outside the {frames[1]} frames to process; "
                f"use 0 <= start frame < {frames[1]}."
            )
        frames = (max(frames[0], start_frame), frames[1])
    return tuple(int(v) for v in roi), frames


def _validate_z_options(parameters):
    options = {
        "max. d_zcalib (--max-d-zcalib)": parameters.max_d_zcalib,
        "magnification factor (--magnification)": parameters.z_magnification,
    }
    for name, value in options.items():
        if value is None:
            continue
        if not parameters.fit_method.endswith("-3d"):
            raise ParameterError(
                f"the {name} applies to 3D fits only; choose fit method mle-3d or lq-3d "
                f"(with a 3D calibration) or leave it unset."
            )
        try:
            good = math.isfinite(value) and value > 0
        except TypeError:
            good = False
        if not good:
            raise ParameterError(f"the {name} must be a positive number; got {value!r}.")


def z_calibration_in_use(parameters):
    """The 3D calibration the z fit applies: ``z_magnification`` replaces the file's factor."""
    if parameters.z_magnification is None:
        return parameters.z_calibration
    return {**parameters.z_calibration, "Magnification factor": float(parameters.z_magnification)}


def _validate_z_calibration(parameters):
    if not parameters.z_calibration:
        raise ParameterError(
            f"fit method {parameters.fit_method!r} needs a 3D calibration; load a _3d_calib.yaml "
            "(command line: --zcalib CALIB.yaml; make one with 'napari-picasso calibrate-z')."
        )
    if parameters.shared_sigma:
        raise ParameterError("3D fits need free sx and sy; turn shared sigma off.")
    try:
        zfit.coefficients(parameters.z_calibration)
    except ValueError as error:
        raise ParameterError(f"invalid 3D calibration: {error}.") from None


def _add_z(locs, fit, parameters, excess):
    """z, d_zcalib and lpz of a 3D fit (widths' uncertainties: CRLB of the 2D fit)."""
    calibration = z_calibration_in_use(parameters)
    if "crlb_sx" in fit:
        return zfit.add_z(locs, calibration)
    crlb = zfit.sigma_crlb(fit["x"], fit["y"], fit["photons"], fit["bg"], fit["sx"], fit["sy"], parameters.box)
    with np.errstate(invalid="ignore"):
        unc = np.sqrt(excess * crlb)
    return zfit.add_z(locs, calibration, unc[:, 0], unc[:, 1])


def fit_spots(spots, parameters, extra_variance=None):
    """Fit spots (photons) with the parameters' method; a dict of per-spot arrays.

    ``extra_variance`` (photons^2 per pixel, sCMOS / subtracted background) enters the MLE
    only.
    """
    method = parameters.fit_method.removesuffix("-3d")
    if method == "mle":
        return fit_mle(
            spots,
            parameters.max_iterations,
            parameters.tolerance_px,
            parameters.shared_sigma,
            extra_variance=extra_variance,
        )
    if method == "lq":
        return fit_lq(spots, parameters.max_iterations, parameters.tolerance_px, parameters.shared_sigma)
    return average_of_roi(spots)


def localize_frames(
    frames, parameters, first_frame=0, roi=None, width=None, height=None, background=None, camera_maps=None
):
    """Identify and fit spots in a block of frames: the pipeline's per-block step.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n, height, width)`` camera counts.
    parameters : LocalizeParameters
    first_frame : int
        Movie frame index of ``frames[0]`` (added to the ``frame`` field).
    roi : tuple of int, optional
        ``(y0, x0, y1, x1)``; defaults to ``parameters.roi`` or the whole frame.
    background : numpy.ndarray, optional
        Background of each frame in counts (``parameters.background_frames``), used for
        detection and, with ``parameters.subtract_background``, before fitting.
    camera_maps : CameraMaps, optional
        sCMOS maps (loaded from ``parameters.camera_maps`` when not given).

    Returns
    -------
    numpy.ndarray
        Localizations of the block (``locs_dtype(parameters.fit_method)``), sorted by
        frame, valid rows only (see :func:`~napari_picasso.core.localizations.valid_rows`).
    """
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    _, frame_height, frame_width = frames.shape
    width = frame_width if width is None else width
    height = frame_height if height is None else height
    if roi is None:
        if parameters.rois:
            roi = rois_bounding_box(parameters.rois)
        else:
            roi = parameters.roi if parameters.roi is not None else (0, 0, frame_height, frame_width)
    frames32 = np.ascontiguousarray(frames, dtype=np.float32)
    if camera_maps is None and parameters.camera_maps:
        camera_maps = load_maps(parameters, frames32.shape, roi)
    noise = noise_model(parameters, (frame_height, frame_width), camera_maps)
    frame_index, y_px, x_px, _, net_gradient = detect(frames32, parameters, roi, background, noise)
    box = parameters.box
    if noise.per_pixel:
        spots = extract_spots_per_pixel(frames32, frame_index, y_px, x_px, box, noise.offset, noise.photons_per_count)
        extra = map_windows(noise.read_variance, y_px, x_px, box)
    else:
        spots = extract_spots(
            frames32, frame_index, y_px, x_px, box, parameters.baseline, parameters.sensitivity, parameters.em_gain
        )
        extra = None
    subtracted = None
    if parameters.subtract_background and background is not None:
        subtracted = extract_spots_per_pixel(
            background, frame_index, y_px, x_px, box, noise.offset, noise.photons_per_count
        )
        spots = spots - subtracted
        positive = np.maximum(subtracted, 0.0)
        extra = positive if extra is None else extra + positive
    fit = fit_spots(spots, parameters, extra)
    if subtracted is not None:
        fit["bg"] = fit["bg"] + subtracted.mean(axis=(1, 2))
    return assemble_locs(fit, frame_index + first_frame, y_px, x_px, net_gradient, parameters, width, height)


def assemble_locs(fit, frame, y_px, x_px, net_gradient, parameters, width, height):
    """Build the localization table from fit results (positions relative to box centres)."""
    dtype = L.locs_dtype(parameters.fit_method)
    locs = np.zeros(len(frame), dtype=dtype)
    locs["frame"] = frame
    locs["x"] = x_px + fit["x"]
    locs["y"] = y_px + fit["y"]
    locs["photons"] = fit["photons"]
    locs["sx"] = fit["sx"]
    locs["sy"] = fit["sy"]
    locs["bg"] = fit["bg"]
    locs["net_gradient"] = net_gradient
    locs["ellipticity"] = L.ellipticity(locs["sx"], locs["sy"])
    excess = excess_noise_factor(parameters.em_gain)
    if "crlb_x" in fit:
        with np.errstate(invalid="ignore"):
            locs["lpx"] = np.sqrt(excess * fit["crlb_x"])
            locs["lpy"] = np.sqrt(excess * fit["crlb_y"])
            locs["photons_unc"] = np.sqrt(excess * fit["crlb_photons"])
            locs["bg_unc"] = np.sqrt(excess * fit["crlb_bg"])
            locs["sx_unc"] = np.sqrt(excess * fit["crlb_sx"])
            locs["sy_unc"] = np.sqrt(excess * fit["crlb_sy"])
        locs["log_likelihood"] = fit["log_likelihood"]
        locs["iterations"] = fit["iterations"]
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            locs["lpx"] = np.sqrt(mortensen_lq_variance(fit["sx"], fit["photons"], fit["bg"], 1.0, excess))
            locs["lpy"] = np.sqrt(mortensen_lq_variance(fit["sy"], fit["photons"], fit["bg"], 1.0, excess))
    keep = None
    if parameters.fit_method.endswith("-3d"):
        _add_z(locs, fit, parameters, excess)
        if parameters.max_d_zcalib is not None:
            # Per localization, so every chunking of the movie keeps the same rows.
            keep = locs["d_zcalib"].astype(np.float64) <= float(parameters.max_d_zcalib)
    valid = L.valid_rows(locs, width, height)
    return locs[valid if keep is None else valid & keep]


def chunk_frames_for(shape, chunk_bytes=None):
    """Frames per chunk so that a float32 chunk stays within ``chunk_bytes``.

    ``chunk_bytes`` defaults to the module's ``CHUNK_BYTES``, read at call time so that
    setting ``pipeline.CHUNK_BYTES`` takes effect.
    """
    if chunk_bytes is None:
        chunk_bytes = CHUNK_BYTES
    _, height, width = shape
    return int(max(1, min(4096, chunk_bytes // max(1, height * width * 4))))


def _should_cancel(cancel):
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def localize(movie, parameters, progress=None, cancel=None, sink=None, chunk_frames=None):
    """Localize a movie, streaming it through memory in chunks of frames.

    Parameters
    ----------
    movie : Movie or array_like
        ``(frames, height, width)`` camera counts; a path is opened with
        :func:`~napari_picasso.io.movies.open_movie`.
    parameters : LocalizeParameters
    progress : callable, optional
        ``progress(frames_done, frames_total)`` after every chunk.
    cancel : callable or threading.Event, optional
        Checked before every chunk; when it is set (returns True)
        :class:`LocalizationCancelled` is raised.
    sink : callable, optional
        ``sink(rows)`` receives each chunk's localizations (e.g. ``LocsWriter.append``);
        without a sink the localizations are collected and returned.
    chunk_frames : int, optional
        Frames per chunk (default: about 64 MB of float32 pixels).

    Returns
    -------
    numpy.ndarray or int
        The localizations sorted by frame, or, with a ``sink``, the number of rows sent.
    """
    if isinstance(movie, (str, Path)):
        with open_movie(movie) as opened:
            return localize(opened, parameters, progress, cancel, sink, chunk_frames)
    name = movie.path.name if isinstance(movie, Movie) else "movie"
    roi, (first, stop) = validate_parameters(parameters, movie.shape, name)
    window = check_background_frames(parameters, movie.shape[0], name)
    camera_maps = load_maps(parameters, movie.shape, roi, name, getattr(movie, "metadata", None))
    n_frames, height, width = movie.shape
    step = chunk_frames or chunk_frames_for(movie.shape)
    collected = [] if sink is None else None
    n_rows = 0
    total = stop - first
    if progress is not None:
        progress(0, total)
    for start in range(first, stop, step):
        if _should_cancel(cancel):
            raise LocalizationCancelled(f"cancelled at frame {start}")
        end = min(stop, start + step)
        frames, background = read_with_background(movie, start, end, parameters, window, n_frames)
        locs = localize_frames(frames, parameters, start, roi, width, height, background, camera_maps)
        n_rows += len(locs)
        if sink is None:
            collected.append(locs)
        else:
            sink(locs)
        if progress is not None:
            progress(end - first, total)
    if sink is not None:
        return n_rows
    if not collected:
        return L.empty_locs(L.locs_dtype(parameters.fit_method))
    return np.concatenate(collected)


@dataclasses.dataclass
class LocalizeResult:
    """What :func:`localize_file` produced."""

    locs_path: Path
    n_locs: int
    n_frames: int  # frames processed (the frame range), not the movie's length
    seconds: float
    info: list


def movie_info(movie):
    """The movie document of ``_locs.yaml``: Width/Height/Frames first, then metadata."""
    n_frames, height, width = movie.shape
    doc = {"Width": int(width), "Height": int(height), "Frames": int(n_frames)}
    for key, value in movie.metadata.items():
        if key not in doc:
            doc[key] = value
    doc["Data Type"] = np.dtype(movie.dtype).name
    doc.setdefault("Byte Order", "<")
    doc["File"] = str(movie.path)
    return doc


def localize_file(
    movie, parameters, locs_path=None, progress=None, cancel=None, extra_info=None, chunk_frames=None, **choices
):
    """Localize a movie file into ``<movie>_locs.hdf5`` + ``_locs.yaml``.

    The outputs are written under temporary names and renamed when complete; a cancel or
    an error leaves no partial file. ``movie`` is a path (opened with ``choices``) or an
    open :class:`Movie`. ``chunk_frames`` goes to :func:`localize` (smaller chunks: finer
    progress and a quicker cancel).

    Returns
    -------
    LocalizeResult
    """
    if not isinstance(movie, Movie):
        with open_movie(movie, **choices) as opened:
            return localize_file(opened, parameters, locs_path, progress, cancel, extra_info, chunk_frames)
    locs_path = Path(locs_path) if locs_path is not None else locs_path_for(movie.path)
    _, (first, stop) = validate_parameters(parameters, movie.shape, movie.path.name)
    parameters = with_maps_origin(parameters, movie.shape, movie.metadata, movie.path.name)
    info = [movie_info(movie), parameters.to_info()]
    started = time.perf_counter()
    with LocsWriter(locs_path, L.locs_dtype(parameters.fit_method), info) as writer:
        n_locs = localize(
            movie, parameters, progress=progress, cancel=cancel, sink=writer.append, chunk_frames=chunk_frames
        )
        seconds = time.perf_counter() - started
        writer.commit({"Localizations": int(n_locs), **(extra_info or {})})
    return LocalizeResult(locs_path, int(n_locs), stop - first, seconds, writer.info)
