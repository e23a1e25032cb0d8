"""The localization parameters: what decides a run, and their checks.

:class:`LocalizeParameters` holds every option of a localization run; the pipeline, the
command line, the watcher's parameter groups, the docks and the distributed runner all
pass it. :func:`validate_parameters` checks it against a movie's shape.
"""

import dataclasses
import math
import os
import re
from pathlib import Path

import numpy as np

from . import __version__
from .core import zfit
from .core.background import STATISTICS, check_window
from .core.identify import check_box
from .core.zfit import DEFAULT_MAGNIFICATION
from .io.errors import ParameterError

FIT_METHODS = ("mle", "lq", "avg", "mle-3d", "lq-3d")
FIT_METHOD_NAMES = {
    "mle": "MLE, integrated Gaussian",
    "lq": "LQ, Gaussian",
    "avg": "Average of ROI",
    "mle-3d": "MLE, integrated Gaussian, 3D astigmatism",
    "lq-3d": "LQ, Gaussian, 3D astigmatism",
}

DETECTORS = ("gradient", "snr")


def parse_background_frames(text):
    """``"-30:0"`` -> ``(-30, 0, 1)``; ``None`` or ``""`` -> ``None``.

    Raises
    ------
    ParameterError
        When the text is not ``START:STOP[:STEP]`` with integers, START < STOP, STEP >= 1.
    """
    if text is None or str(text).strip() == "":
        return None
    if isinstance(text, (tuple, list)):
        parts = [str(v) for v in text]
    else:
        parts = str(text).strip().split(":")
    example = "write START:STOP relative to each frame, e.g. -30:0 for the 30 frames before it"
    if len(parts) not in (2, 3):
        raise ParameterError(f"background frames {text!r} is not a slice START:STOP[:STEP]; {example}.")
    try:
        values = [int(p.strip()) for p in parts]
    except ValueError:
        raise ParameterError(
            f"background frames {text!r}: START and STOP must both be integers (frame offsets); {example}."
        ) from None
    start, stop = values[0], values[1]
    step = values[2] if len(values) == 3 else 1
    if step < 1:
        raise ParameterError(f"background frames {text!r}: the step must be >= 1.")
    if start >= stop:
        raise ParameterError(f"background frames {text!r} is empty (START >= STOP); {example}.")
    return start, stop, step


def check_background_frames(parameters, n_frames, name="movie"):
    """The parsed window, checked against a movie of ``n_frames`` frames (or None).

    Raises
    ------
    ParameterError
        Also when background subtraction is asked for without background frames: it
        subtracts their estimate, and guessing a window would change detection too.
    """
    window = parse_background_frames(parameters.background_frames)
    if window is None:
        if parameters.subtract_background:
            raise ParameterError(
                f"{name}: subtract background (--subtract-background) needs the frames to estimate the "
                "background from; give them with --background-frames (the dock's 'background frames'), "
                "e.g. -30:0 for the 30 frames before each frame, or leave subtraction off."
            )
        return None
    if parameters.background_statistic not in STATISTICS:
        raise ParameterError(
            f"unknown background statistic {parameters.background_statistic!r}; choose {' or '.join(STATISTICS)}."
        )
    try:
        check_window(*window, n_frames)
    except ValueError as error:
        raise ParameterError(f"{name}: {error}") from None
    return window


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


# -- the command line's options ----------------------------------------------------------
def add_localize_options(parser):
    """The localization options, shared by every command that localizes."""
    defaults = LocalizeParameters()
    parser.add_argument("--box", "-b", type=int, default=defaults.box, help="odd box side, px (default %(default)s)")
    parser.add_argument(
        "--gradient",
        "-g",
        type=float,
        default=defaults.min_net_gradient,
        help="minimum net gradient, Picasso's scale (default %(default)s)",
    )
    parser.add_argument(
        "--fit",
        "-f",
        choices=FIT_METHODS,
        default=defaults.fit_method,
        help="mle: maximum likelihood integrated Gaussian; lq: least squares; "
        "avg: average of ROI; mle-3d, lq-3d: 3D astigmatism, need --zcalib "
        "(default %(default)s)",
    )
    parser.add_argument("--shared-sigma", action="store_true", help="fit one sigma instead of sx, sy")
    parser.add_argument("--max-iterations", type=int, default=defaults.max_iterations)
    parser.add_argument(
        "--tolerance",
        type=float,
        default=defaults.tolerance_px,
        help="convergence: step in x and y below this, px (default %(default)s)",
    )
    parser.add_argument("--baseline", type=float, default=defaults.baseline, help="camera offset, counts")
    parser.add_argument("--sensitivity", type=float, default=defaults.sensitivity, help="electrons per count")
    parser.add_argument("--gain", type=float, default=defaults.em_gain, help="EM gain (1: none)")
    parser.add_argument("--qe", type=float, default=defaults.qe, help="quantum efficiency (metadata only)")
    parser.add_argument("--pixelsize", type=float, default=defaults.pixelsize_nm, help="nm per camera pixel")
    parser.add_argument(
        "--roi",
        type=int,
        nargs=4,
        metavar=("Y0", "X0", "Y1", "X1"),
        help="region of interest, camera pixels, end exclusive",
    )
    parser.add_argument("--frames", type=int, nargs=2, metavar=("FIRST", "STOP"), help="frames FIRST..STOP-1")
    parser.add_argument(
        "--detector",
        choices=("gradient", "snr"),
        default=defaults.detector,
        help="gradient: net gradient (Picasso); snr: signal-to-noise threshold from the "
        "camera noise model (default %(default)s)",
    )
    parser.add_argument(
        "--snr-threshold",
        type=float,
        default=defaults.snr_threshold,
        metavar="FACTOR",
        help="snr detector: filtered signal above FACTOR x noise (default %(default)s)",
    )
    parser.add_argument(
        "--debounce-px",
        type=float,
        default=defaults.debounce_px,
        metavar="R",
        help="snr detector: of two candidates closer than R px the stronger is kept (default %(default)s)",
    )
    parser.add_argument(
        "--read-noise",
        type=float,
        default=defaults.read_noise_e,
        metavar="E",
        help="read noise, electrons rms, for the snr detector without camera maps (default %(default)s)",
    )
    parser.add_argument(
        "--background-frames",
        metavar="SLICE",
        help="background = median of these frames relative to each frame, Python slice "
        "notation, e.g. -30:0 (the 30 frames before; --background-frames=-30:0 also "
        "works); used for detection",
    )
    _accept_negative_slices(parser)
    parser.add_argument("--background-statistic", choices=("median", "mean"), default=defaults.background_statistic)
    parser.add_argument(
        "--subtract-background",
        action="store_true",
        help="subtract the --background-frames estimate before fitting (needs --background-frames)",
    )
    parser.add_argument(
        "--start-frame",
        type=int,
        default=defaults.start_frame,
        metavar="N",
        help="localize from frame N on (earlier frames still feed the background)",
    )
    parser.add_argument(
        "--camera-maps",
        metavar="PATH",
        help="sCMOS offset/variance(/gain) maps (.hdf5 from camera-calibrate or Picasso, "
        ".npz, .npy, .tif): per-pixel photon conversion and sCMOS MLE",
    )
    parser.add_argument(
        "--camera-maps-origin",
        type=int,
        nargs=2,
        metavar=("Y", "X"),
        help="where the movie's camera ROI starts in full-sensor --camera-maps (top-left pixel, "
        "y x); default: the ROI the movie's metadata records",
    )
    parser.add_argument(
        "--zcalib", type=Path, metavar="CALIB.yaml", help="3D calibration (_3d_calib.yaml) for --fit mle-3d / lq-3d"
    )
    parser.add_argument(
        "--max-d-zcalib",
        type=float,
        metavar="D",
        help="3D fits: keep localizations with d_zcalib <= D (distance from the calibration "
        "curve, sqrt(px), per localization; Picasso's rule is 2 x the rms d_zcalib, which "
        "the summary line prints); default: keep all",
    )
    parser.add_argument(
        "--magnification",
        type=float,
        dest="z_magnification",
        metavar="FACTOR",
        help="magnification factor (refractive-index mismatch): 3D fits: replaces the "
        "calibration's (default: the calibration's value); calibrate-z: stored in the "
        f"calibration (default {DEFAULT_MAGNIFICATION})",
    )


def _accept_negative_slices(parser):
    # argparse reads "-30:0" as an unknown option; let it pass as a value like "-30".
    # Without the (private) matcher, users write --background-frames=-30:0.
    matcher = getattr(parser, "_negative_number_matcher", None)
    if matcher is not None:
        parser._negative_number_matcher = re.compile(rf"{matcher.pattern}|^-\d+:-?\d*(:\d+)?$")


def camera_maps_path(value):
    """``--camera-maps`` as an absolute path, or None.

    The path travels in the parameters to wherever the blocks run: Dask workers (another
    process, perhaps another machine) do not share this shell's working folder, and the
    ``_locs.yaml`` that records it is read later from anywhere.
    """
    if not value:
        return None
    return os.path.abspath(os.path.expanduser(os.fspath(value)))


def parameters_from_args(args):
    z_calibration = None
    if getattr(args, "zcalib", None) is not None:
        from .io.zcalib import load_calibration

        z_calibration = load_calibration(args.zcalib)
    return LocalizeParameters(
        box=args.box,
        min_net_gradient=args.gradient,
        fit_method=args.fit,
        shared_sigma=args.shared_sigma,
        max_iterations=args.max_iterations,
        tolerance_px=args.tolerance,
        baseline=args.baseline,
        sensitivity=args.sensitivity,
        em_gain=args.gain,
        qe=args.qe,
        pixelsize_nm=args.pixelsize,
        roi=tuple(args.roi) if args.roi else None,
        frame_range=tuple(args.frames) if args.frames else None,
        detector=args.detector,
        snr_threshold=args.snr_threshold,
        debounce_px=args.debounce_px,
        read_noise_e=args.read_noise,
        background_frames=args.background_frames,
        background_statistic=args.background_statistic,
        subtract_background=args.subtract_background,
        start_frame=args.start_frame,
        camera_maps=camera_maps_path(args.camera_maps),
        camera_maps_origin=tuple(args.camera_maps_origin) if args.camera_maps_origin else None,
        z_calibration=z_calibration,
        max_d_zcalib=getattr(args, "max_d_zcalib", None),
        z_magnification=getattr(args, "z_magnification", None),
    )
