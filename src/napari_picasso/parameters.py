"""The localization parameters, each declared once.

:data:`SCHEMA` lists every :class:`Parameter` of a localization run: its attribute
name, default, kind, ``_locs.yaml`` key, command-line flag and help, unit, limits, the
Localize dock's label and section, and whether it belongs to every run or only to the fit
methods that read it (``scope="fit"``, see :mod:`napari_picasso.fitters`). Generated from it:

- :class:`LocalizeParameters`, the values of one run, with its ``_locs.yaml`` document
  (:meth:`~LocalizeParameters.to_info`, in :data:`SCHEMA` order, Picasso's key names) and
  back (:meth:`~LocalizeParameters.from_info`);
- the command line's options (:func:`add_arguments`, :func:`from_arguments`);
- the keys of a watcher's ``groups.yaml`` (:func:`from_mapping`: the long option names);
- the dock's fields (:mod:`napari_picasso._widgets._fields` builds one per parameter).

Adding a parameter: one ``Parameter(...)`` in :data:`SCHEMA` (or :func:`add` from a plugin
or a test) and the code that uses it.
"""

import argparse
import contextlib
import copy
import dataclasses
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import __version__, fitters
from .camera_offset import parse_dark_frames
from .core import gpu, zfit
from .core.background import STATISTICS, check_window
from .core.colours import parse_colours
from .core.identify import check_box
from .io.channels import load_channels
from .io.errors import ParameterError
from .io.zcalib import load_calibration
from .splitter import channel_shape, check_calibration, is_split

DETECTORS = ("gradient", "snr")
KINDS = ("int", "float", "bool", "choice", "text", "path", "file", "pair", "rectangle", "rectangles")
SECTIONS = ("identification", "photons", "fit")
UNSET = object()  # a custom reader found nothing in the document


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One localization parameter, as the schema declares it.

    Attributes
    ----------
    name : str
        Attribute of :class:`LocalizeParameters` (units in the name: ``pixelsize_nm``).
    default : object
        Its value when not given; ``None`` makes it optional ("off", "unset").
    kind : str
        One of :data:`KINDS`: how a value is read from text, YAML or a dock field.
    help : str
        One line for ``--help``, the dock's tooltip and the manual.
    flag : str
        Long command-line option; without the dashes also its ``groups.yaml`` key.
    yaml_key : str or None
        Key in the ``_locs.yaml`` localization document (None: written by ``write``).
    short : str or None
        Short command-line option.
    metavar : str or tuple or None
        What ``--help`` shows for the value(s).
    unit : str
        Unit of the value, shown in help and dock labels.
    minimum, maximum : float or None
        Limits of numbers (inclusive), or of each number of a pair or rectangle.
    above_minimum : bool
        The value must be strictly above ``minimum``.
    odd : bool
        Whole numbers that must be odd (the box).
    choices : tuple or callable
        ``((value, title), ...)`` of a ``choice``, or a callable returning them.
    label : str
        The dock's label.
    section : str
        The dock's section (:data:`SECTIONS`).
    scope : str
        ``"run"``: every run; ``"fit"``: only fit methods listing it in
        :attr:`~napari_picasso.fitters.base.Fitter.parameters` (written to their
        ``_locs.yaml`` only, hidden in the dock otherwise, refused when set otherwise).
    detector : str or None
        Applies with this detector only (the dock disables it otherwise).
    dock : str
        ``"field"``: the dock makes a field for it; ``"custom"``: a dock section draws it.
    off_text : str or None
        Optional numbers: what help and the dock show for ``None`` (the dock's 0).
    step, decimals : float, int or None
        The dock's spin box step and decimals.
    write : callable or None
        ``write(parameters) -> dict`` of YAML entries, for keys that are not
        ``{yaml_key: value}``.
    read : callable or None
        ``read(document) -> value or UNSET``, the inverse of ``write``.
    load : callable or None
        ``file`` parameters: ``load(path) -> value`` (a calibration file -> its dict).
    check : callable or None
        ``check(value)`` raising :class:`ParameterError` for values beyond limits.
    always_written : bool
        ``scope="fit"`` parameters written to ``_locs.yaml`` for every fit method.
    words : tuple of str
        Words a number parameter also takes (``baseline: auto``), kept as they are.
    omit_default : bool
        Leave the key out of ``_locs.yaml`` while the value is the default (parameters added
        after files were written: those files stay the same bytes).
    many : bool
        ``text`` parameters that take several words: the option repeats or takes several
        values (``--colour A:0:0.5 B:0.5:1``), joined by spaces.
    """

    name: str
    default: object
    kind: str
    help: str
    flag: str
    yaml_key: str | None = None
    short: str | None = None
    metavar: str | tuple | None = None
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    above_minimum: bool = False
    odd: bool = False
    choices: tuple | Callable = ()
    label: str = ""
    section: str = "fit"
    scope: str = "run"
    detector: str | None = None
    dock: str = "field"
    off_text: str | None = None
    step: float | None = None
    decimals: int | None = None
    write: Callable | None = None
    read: Callable | None = None
    load: Callable | None = None
    check: Callable | None = None
    always_written: bool = False
    words: tuple = ()
    omit_default: bool = False
    many: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"parameter {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.section not in SECTIONS:
            raise ValueError(f"parameter {self.name!r}: section {self.section!r} is not one of {SECTIONS}")
        if not self.flag.startswith("--"):
            raise ValueError(f"parameter {self.name!r}: flag {self.flag!r} must start with '--'")

    # -- description -------------------------------------------------------------------------
    @property
    def key(self):
        """The ``groups.yaml`` key: the long option without its dashes."""
        return self.flag[2:]

    @property
    def optional(self):
        return self.default is None

    @property
    def title(self):
        """How errors name it: ``"box (--box)"``."""
        return f"{self.label or self.name} ({self.flag})"

    def choice_items(self):
        """``((value, title), ...)`` of a ``choice``."""
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def default_value(self):
        return copy.deepcopy(self.default)

    def default_text(self):
        """The default as ``--help`` shows it."""
        if self.kind == "bool":
            return "on" if self.default else "off"
        if self.default is None:
            return self.off_text or "none"
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return str(self.default)

    def help_text(self):
        unit = f", {self.unit}" if self.unit and self.unit not in self.help else ""
        return f"{self.help}{unit} (default: {self.default_text()})".replace("%", "%%")

    def applies(self, fitter, detector=None):
        """True when the parameter matters for a run with ``fitter`` and ``detector``."""
        if self.scope == "fit" and not fitter.uses(self.name):
            return False
        return self.detector is None or detector is None or detector == self.detector

    # -- values ------------------------------------------------------------------------------
    def convert(self, value):
        """A user's value (command-line text, YAML, a dock field) as this parameter stores it.

        Raises
        ------
        ParameterError
            Naming the parameter, the valid values and the value given.
        """
        if value is None or (isinstance(value, str) and not value.strip() and self.kind != "bool"):
            if self.optional or self.kind in ("text", "path", "file"):
                return None
            raise ParameterError(f"{self.title} needs a value ({self._expected()}).")
        if isinstance(value, str) and value.strip().lower() in self.words:
            return value.strip().lower()
        converted = getattr(self, f"_convert_{self.kind}")(value)
        if converted is None:
            return None
        if self.check is not None:  # first: its message says more than the limits
            self.check(converted)
        if self.kind in ("int", "float", "pair", "rectangle", "rectangles"):
            self._limit_each(converted, value)
        return converted

    def _expected(self):
        kinds = {
            "int": "a whole number",
            "float": "a number",
            "bool": "true or false",
            "pair": "two whole numbers",
            "rectangle": "four whole numbers",
            "rectangles": "rectangles of four whole numbers",
        }
        text = kinds.get(self.kind, "")
        if self.kind == "choice":
            text = "one of " + ", ".join(value for value, _ in self.choice_items())
        limits = []
        if self.minimum is not None:
            limits.append(f"{'>' if self.above_minimum else '>='} {self.minimum:g}")
        if self.maximum is not None:
            limits.append(f"<= {self.maximum:g}")
        if self.odd:
            limits.append("odd")
        expected = " ".join([text, " and ".join(limits)]).strip()
        return " or ".join([expected, *self.words])

    def _refuse(self, value):
        raise ParameterError(f"{self.title} must be {self._expected()}; got {value!r}.")

    def _number(self, value, whole):
        if isinstance(value, bool):
            self._refuse(value)
        try:
            number = float(str(value).strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            self._refuse(value)
        if not math.isfinite(number) or (whole and number != int(number)):
            self._refuse(value)
        return int(number) if whole else number

    def _within_limits(self, number, value):
        low, high = self.minimum, self.maximum
        if low is not None and (number < low or (self.above_minimum and number == low)):
            self._refuse(value)
        if high is not None and number > high:
            self._refuse(value)
        if self.odd and number % 2 == 0:
            self._refuse(value)
        return number

    def _convert_int(self, value):
        return self._number(value, whole=True)

    def _convert_float(self, value):
        return self._number(value, whole=False)

    def _limit_each(self, values, original):
        for number in values if isinstance(values, tuple) else (values,):
            if isinstance(number, tuple):
                self._limit_each(number, original)
            else:
                self._within_limits(number, original)

    def _convert_bool(self, value):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise ParameterError(f"{self.title} is a switch: write true or false; got {value!r}.")

    def _convert_choice(self, value):
        names = [name for name, _ in self.choice_items()]
        if value not in names:
            self._refuse(value)
        return value

    def _convert_text(self, value):
        if self.many and isinstance(value, (list, tuple)):
            value = " ".join(str(v).strip() for v in value)
        return str(value).strip()

    def _convert_path(self, value):
        # Absolute: the path travels to Dask workers (another folder, perhaps another machine)
        # and into the _locs.yaml, read later from anywhere.
        return os.path.abspath(os.path.expanduser(os.fspath(value)))

    def _convert_file(self, value):
        if isinstance(value, dict):
            return value
        return self.load(Path(os.path.expanduser(os.fspath(value))))

    def _numbers(self, value, count):
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        try:
            items = list(value)
        except TypeError:
            items = [value]
        if len(items) != count:
            words = {2: "two", 4: "four"}.get(count, str(count))
            raise ParameterError(f"{self.title} must be {words} whole numbers ({self._metavar_text()}); got {value!r}.")
        return tuple(self._number(item, whole=True) for item in items)

    def _metavar_text(self):
        return " ".join(self.metavar) if isinstance(self.metavar, tuple) else str(self.metavar)

    def _convert_pair(self, value):
        return self._numbers(value, 2)

    def _convert_rectangle(self, value):
        return self._numbers(value, 4)

    def _convert_rectangles(self, value):
        if isinstance(value, str):
            try:
                rectangles = parse_rectangles(value)
            except ValueError as error:
                raise ParameterError(f"{self.title}: {error}") from None
        else:
            rectangles = [self._numbers(item, 4) for item in value]
        return tuple(tuple(int(v) for v in r) for r in rectangles) or None

    def yaml_value(self, value):
        """``value`` as the YAML document stores it (lists for tuples, plain numbers)."""
        if value is None or value in self.words:
            return value
        if self.kind in ("pair", "rectangle"):
            return list(value)
        if self.kind == "rectangles":
            return [list(r) for r in value]
        kinds = {"int": int, "float": float, "bool": bool, "path": str}
        return kinds.get(self.kind, lambda v: v)(value)

    def from_yaml_value(self, value):
        """The inverse of :meth:`yaml_value` (values as read back, unchecked)."""
        if value is None:
            return None
        if self.kind in ("pair", "rectangle"):
            return tuple(value)
        if self.kind == "rectangles":
            return tuple(tuple(r) for r in value)
        return value


# -- the schema -----------------------------------------------------------------------------
def _fit_method_choices():
    return tuple((name, fitters.get(name).title) for name in fitters.names())


def _write_fit_method(parameters):
    return {"Fit method": parameters.fit_method, "Fit method name": fitter_of(parameters).title}


def _read_roi(info):
    # Several rectangles: "ROI" is their bounding box, "ROIs" the rectangles.
    if info.get("ROIs") or not info.get("ROI"):
        return None
    return tuple(info["ROI"])


def _write_rois(parameters):
    if not parameters.rois:
        return {}
    return {"ROI": list(rois_bounding_box(parameters.rois)), "ROIs": [list(r) for r in parameters.rois]}


def _read_rois(info):
    return tuple(tuple(r) for r in info["ROIs"]) if info.get("ROIs") else None


def _write_z_calibration(parameters):
    if not parameters.z_calibration:
        return {}
    # Picasso's 3D fit merges the calibration's keys into its document.
    return {"Calibration path": parameters.z_calibration.get("Path", "N/A"), **parameters.z_calibration}


def _read_z_calibration(info):
    if "X Coefficients" not in info:
        return None
    calibration = {k: info[k] for k in (*zfit.CALIBRATION_KEYS, zfit.RANGE_KEY) if k in info}
    if "Calibration magnification factor" in info:  # the document's factor was an override
        calibration["Magnification factor"] = info["Calibration magnification factor"]
    return calibration


def _write_z_magnification(parameters):
    if parameters.z_magnification is None or not parameters.z_calibration:
        return {}
    # "Magnification factor" is the one applied (as in Picasso when overridden).
    return {
        "Calibration magnification factor": zfit.magnification_of(parameters.z_calibration),
        "Magnification factor": float(parameters.z_magnification),
    }


def _read_z_magnification(info):
    if "X Coefficients" in info and "Calibration magnification factor" in info:
        return info["Magnification factor"]
    return None


def _write_max_d_zcalib(parameters):
    if not parameters.z_calibration:
        return {}
    value = parameters.max_d_zcalib
    return {"Max. d_zcalib": None if value is None else float(value)}


def _read_max_d_zcalib(info):
    return info.get("Max. d_zcalib") if "X Coefficients" in info else None


def _check_box(value):
    try:
        check_box(value)
    except ValueError as error:
        raise ParameterError(str(error)) from None


def _check_background_window(value):
    parse_background_frames(value)


def _check_colours(value):
    try:
        parse_colours(value)
    except ValueError as error:
        raise ParameterError(f"colour windows (--colour): {error}") from None


def _check_dark_frames(value):
    parse_dark_frames(value)


def _check_device(value):
    if value == "gpu" and not gpu.cuda_available():
        raise ParameterError(
            "--device gpu: numba finds no CUDA GPU on this computer (an NVIDIA GPU, its driver and "
            'pip install "napari-picassosr[gpu]" are needed); use --device auto or cpu.'
        )


def _check_p_value(value):
    if not 0.0 < value < 1.0:
        raise ParameterError(
            "the multi-emitter p-value (--multi-threshold) must lie strictly between 0 and 1, e.g. 0.002; "
            f"got {value!r}."
        )


# In the order of the _locs.yaml document (Picasso's key names first); the dock shows each
# section's fields in this order too.
SCHEMA = [
    Parameter(
        "box",
        7,
        "int",
        "odd box side (rule of thumb: 6 sigma + 1, rounded up to odd)",
        "--box",
        "Box Size",
        short="-b",
        unit="px",
        minimum=3,
        maximum=51,
        odd=True,
        check=_check_box,
        label="box (px)",
        section="identification",
        step=2,
    ),
    Parameter(
        "min_net_gradient",
        5000.0,
        "float",
        "minimum net gradient, Picasso's scale (raw counts)",
        "--gradient",
        "Min. Net Gradient",
        short="-g",
        minimum=0,
        label="min net gradient",
        section="identification",
        detector="gradient",
        step=100,
    ),
    Parameter(
        "fit_method",
        "mle",
        "choice",
        "fit method",
        "--fit",
        write=_write_fit_method,
        read=lambda info: info.get("Fit method", UNSET),
        short="-f",
        choices=_fit_method_choices,
        label="fit",
    ),
    Parameter(
        "shared_sigma",
        False,
        "bool",
        "fit one sigma instead of free sx, sy",
        "--shared-sigma",
        "Shared sigma",
        label="one sigma (symmetric PSF)",
        scope="fit",
        always_written=True,
    ),
    Parameter(
        "roi",
        None,
        "rectangle",
        "region of interest (end exclusive)",
        "--roi",
        "ROI",
        metavar=("Y0", "X0", "Y1", "X1"),
        unit="camera px",
        minimum=0,
        off_text="the whole frame",
        read=_read_roi,
        label="ROI (px)",
        section="identification",
        dock="custom",
    ),
    Parameter(
        "frame_range",
        None,
        "pair",
        "frames FIRST to STOP - 1",
        "--frames",
        "Frame Bounds",
        metavar=("FIRST", "STOP"),
        minimum=0,
        off_text="all frames",
        label="frames",
        section="identification",
        dock="custom",
    ),
    Parameter(
        "baseline",
        100.0,
        "float",
        "camera offset, or auto: measured on the dark frames the movie starts with (see --dark-frames)",
        "--baseline",
        "Baseline",
        unit="counts",
        minimum=0,
        words=("auto",),
        label="baseline (counts)",
        section="photons",
        step=1,
    ),
    Parameter(
        "sensitivity",
        1.0,
        "float",
        "electrons per count",
        "--sensitivity",
        "Sensitivity",
        unit="e-/count",
        minimum=0,
        above_minimum=True,
        label="sensitivity (e-/count)",
        section="photons",
        step=0.01,
        decimals=4,
    ),
    Parameter(
        "em_gain",
        1.0,
        "float",
        "EM gain (1: none)",
        "--gain",
        "Gain",
        minimum=1,
        label="EM gain",
        section="photons",
        dock="custom",
    ),
    Parameter(
        "qe",
        1.0,
        "float",
        "quantum efficiency (metadata only)",
        "--qe",
        "Qe",
        minimum=0,
        maximum=1,
        above_minimum=True,
        label="quantum efficiency",
        section="photons",
        step=0.01,
    ),
    Parameter(
        "pixelsize_nm",
        130.0,
        "float",
        "camera pixel size in the sample plane",
        "--pixelsize",
        "Pixelsize",
        unit="nm",
        minimum=0,
        above_minimum=True,
        maximum=100_000,
        label="pixel size (nm)",
        step=1,
    ),
    Parameter(
        "tolerance_px",
        1e-3,
        "float",
        "convergence: an accepted step moves x and y less than this",
        "--tolerance",
        "Convergence Criterion",
        unit="px",
        minimum=0,
        above_minimum=True,
        maximum=1,
        label="convergence (px)",
        scope="fit",
        step=1e-4,
        decimals=6,
    ),
    Parameter(
        "max_iterations",
        100,
        "int",
        "iteration limit of the fit",
        "--max-iterations",
        "Max. Iterations",
        minimum=1,
        maximum=100_000,
        label="max. iterations",
        scope="fit",
    ),
    Parameter(
        "camera",
        None,
        "text",
        "name of the camera (recorded in the metadata)",
        "--camera",
        "Camera",
        metavar="NAME",
        off_text="none",
        write=lambda p: {"Camera": p.camera} if p.camera else {},
        label="camera",
        section="photons",
        dock="custom",
    ),
    Parameter(
        "detector",
        "gradient",
        "choice",
        "gradient: net gradient (Picasso); snr: signal-to-noise threshold from the camera noise model",
        "--detector",
        "Detector",
        choices=(("gradient", "net gradient"), ("snr", "SNR")),
        label="detector",
        section="identification",
    ),
    Parameter(
        "snr_threshold",
        1.0,
        "float",
        "snr detector: filtered signal above FACTOR x the noise",
        "--snr-threshold",
        "SNR threshold",
        metavar="FACTOR",
        minimum=0,
        above_minimum=True,
        label="SNR threshold",
        section="identification",
        detector="snr",
        step=0.1,
    ),
    Parameter(
        "debounce_px",
        4.0,
        "float",
        "snr detector: of two candidates closer than R the stronger is kept",
        "--debounce-px",
        "Debounce (px)",
        metavar="R",
        unit="px",
        minimum=0,
        maximum=100,
        label="debounce (px)",
        section="identification",
        detector="snr",
        step=0.5,
    ),
    Parameter(
        "read_noise_e",
        1.5,
        "float",
        "camera read noise, electrons rms, without camera maps: the snr detector's noise model and a uniform "
        "variance in every MLE (Huang et al. 2013)",
        "--read-noise",
        "Read noise (e-)",
        metavar="E",
        minimum=0,
        maximum=1000,
        label="read noise (e- rms)",
        section="photons",
        step=0.1,
    ),
    Parameter(
        "background_frames",
        None,
        "text",
        "background = median of these frames relative to each frame, Python "
        "slice notation, e.g. -30:0 (the 30 frames before; --background-frames=-30:0 also works); used for "
        "detection",
        "--background-frames",
        "Background frames",
        metavar="SLICE",
        off_text="no background",
        check=_check_background_window,
        label="background frames",
        section="identification",
    ),
    Parameter(
        "background_statistic",
        "median",
        "choice",
        "statistic of the background frames",
        "--background-statistic",
        "Background statistic",
        choices=(("median", "median"), ("mean", "mean")),
        label="background statistic",
        section="identification",
    ),
    Parameter(
        "subtract_background",
        False,
        "bool",
        "subtract the --background-frames estimate before fitting",
        "--subtract-background",
        "Subtract background",
        label="subtract background before fitting",
        section="identification",
    ),
    Parameter(
        "start_frame",
        0,
        "int",
        "localize from frame N on (earlier frames still feed background windows)",
        "--start-frame",
        "Start frame",
        metavar="N",
        minimum=0,
        label="start frame",
        section="identification",
    ),
    Parameter(
        "camera_maps",
        None,
        "path",
        "sCMOS offset/variance(/gain) maps (.hdf5 from camera-calibrate or Picasso, "
        ".npz, .npy, .tif): per-pixel photon conversion and sCMOS MLE",
        "--camera-maps",
        "Camera maps",
        metavar="PATH",
        label="sCMOS maps",
        section="photons",
    ),
    Parameter(
        "camera_maps_origin",
        None,
        "pair",
        "top-left pixel (y x) of the movie's camera ROI in full-sensor --camera-maps",
        "--camera-maps-origin",
        "Camera maps origin",
        metavar=("Y", "X"),
        minimum=0,
        off_text="the ROI the movie's metadata records",
        write=lambda p: {} if p.camera_maps_origin is None else {"Camera maps origin": list(p.camera_maps_origin)},
        label="maps origin (y x)",
        section="photons",
    ),
    Parameter(
        "z_calibration",
        None,
        "file",
        "3D calibration (_3d_calib.yaml from calibrate-z or Picasso)",
        "--zcalib",
        write=_write_z_calibration,
        read=_read_z_calibration,
        load=load_calibration,
        metavar="CALIB.yaml",
        label="3D calibration",
        scope="fit",
    ),
    Parameter(
        "z_magnification",
        None,
        "float",
        "magnification factor (refractive-index mismatch) replacing the calibration's",
        "--magnification",
        write=_write_z_magnification,
        read=_read_z_magnification,
        metavar="FACTOR",
        minimum=0,
        above_minimum=True,
        maximum=10,
        off_text="the calibration's",
        label="magnification",
        scope="fit",
        step=0.01,
        decimals=4,
    ),
    Parameter(
        "max_d_zcalib",
        None,
        "float",
        "keep localizations with d_zcalib <= D (distance from the calibration "
        "curve, sqrt(px), per localization; Picasso's rule is 2 x the rms d_zcalib, which the summary prints)",
        "--max-d-zcalib",
        write=_write_max_d_zcalib,
        read=_read_max_d_zcalib,
        metavar="D",
        minimum=0,
        above_minimum=True,
        maximum=10,
        off_text="off",
        label="max. d_zcalib",
        scope="fit",
        step=0.005,
        decimals=4,
    ),
    Parameter(
        "rois",
        None,
        "rectangles",
        "several regions of interest 'y0,x0,y1,x1; ...' (end exclusive): spots centred in any are kept",
        "--rois",
        write=_write_rois,
        read=_read_rois,
        metavar="RECTANGLES",
        unit="camera px",
        off_text="none",
        label="ROI (px)",
        section="identification",
        dock="custom",
    ),
    Parameter(
        "dark_frames",
        None,
        "text",
        "frames START:STOP that --baseline auto measures the camera offset on",
        "--dark-frames",
        "Dark frames requested",
        metavar="START:STOP",
        off_text="the frames before the laser comes on, found automatically",
        check=_check_dark_frames,
        label="dark frames",
        section="photons",
        omit_default=True,
    ),
    Parameter(
        "device",
        "auto",
        "choice",
        "where identification and the fit run: auto = a CUDA GPU when numba finds one, else the CPU",
        "--device",
        "Device",
        choices=(("auto", "GPU if present"), ("cpu", "CPU"), ("gpu", "GPU (CUDA)")),
        check=_check_device,
        label="device",
        section="fit",
        omit_default=True,
    ),
    Parameter(
        "splitter",
        "none",
        "choice",
        "image splitter: two spectral channels side by side (left-right) or one above the other "
        "(top-bottom) on one camera; channel 0 is the left (top) half; needs --channels and --fit mle-ratio",
        "--splitter",
        "Splitter",
        choices=(("none", "none"), ("left-right", "left-right"), ("top-bottom", "top-bottom")),
        label="image splitter",
        section="identification",
        omit_default=True,
    ),
    Parameter(
        "splitter_flip",
        False,
        "bool",
        "channel 1 of the --splitter is mirrored along the split",
        "--flip",
        "Splitter flip",
        label="channel 1 mirrored",
        section="identification",
        omit_default=True,
    ),
    Parameter(
        "channels",
        None,
        "file",
        "channel calibration of the --splitter (_channels.yaml from calibrate-channels)",
        "--channels",
        "Channel calibration",
        load=load_channels,
        metavar="CAL.yaml",
        label="channel calibration",
        section="identification",
        omit_default=True,
    ),
    Parameter(
        "colours",
        None,
        "text",
        "colour windows of the ratio photons_1 / photons (mle-ratio): NAME:LO:HI ..., LO <= ratio < HI, "
        "not overlapping; the colour field is the window's index (-1: none)",
        "--colour",
        "Colour windows",
        metavar="NAME:LO:HI",
        off_text="none",
        check=lambda value: _check_colours(value),
        write=lambda p: (
            {} if not p.colours else {"Colour windows": p.colours, "Colours": list(parse_colours(p.colours)[0])}
        ),
        read=lambda info: info.get("Colour windows"),
        label="colour windows",
        omit_default=True,
        many=True,
    ),
    Parameter(
        "max_emitters",
        5,
        "int",
        "mle-multi: most emitters fitted jointly in one box",
        "--max-emitters",
        "Max. emitters",
        metavar="K",
        minimum=1,
        maximum=10,
        label="max. emitters",
        scope="fit",
    ),
    Parameter(
        "multi_threshold",
        0.002,
        "float",
        "mle-multi: p-value of the goodness-of-fit and likelihood-ratio tests that add an emitter "
        "(smaller: fewer emitters)",
        "--multi-threshold",
        "Multi-emitter p-value",
        metavar="P",
        check=_check_p_value,
        label="multi p-value",
        scope="fit",
        step=0.001,
        decimals=4,
    ),
    Parameter(
        "psf",
        None,
        "path",
        "cubic-spline PSF calibration (_spline_calib.hdf5 from calibrate-psf or Picasso 0.11)",
        "--psf",
        "PSF calibration",
        metavar="CALIB.hdf5",
        label="PSF calibration",
        scope="fit",
    ),
]


def parameter(name):
    """The :class:`Parameter` called ``name``."""
    for item in SCHEMA:
        if item.name == name:
            return item
    raise KeyError(f"no localization parameter {name!r}")


def names():
    return [item.name for item in SCHEMA]


@contextlib.contextmanager
def added(*new):
    """Parameters added to :data:`SCHEMA` for the duration of a ``with`` block (tests, plugins
    that add theirs temporarily)."""
    for item in new:
        add(item)
    try:
        yield new
    finally:
        for item in new:
            SCHEMA.remove(item)


def add(item):
    """Append a :class:`Parameter` to :data:`SCHEMA` (a name or flag already taken is refused)."""
    if any(p.name == item.name or p.flag == item.flag for p in SCHEMA):
        raise ValueError(f"a parameter called {item.name!r} or flagged {item.flag!r} exists already")
    SCHEMA.append(item)
    return item


# -- the values of one run ------------------------------------------------------------------
class LocalizeParameters:
    """Everything that decides a localization run: one value per :data:`SCHEMA` parameter.

    Keyword arguments set values by name (the others take their defaults); values are kept
    as given: :func:`validate_parameters` checks them, :func:`from_arguments`,
    :func:`from_mapping` and the dock convert what users type. Instances do not change:
    :meth:`replace` makes a changed copy.

    Examples
    --------
    >>> p = LocalizeParameters(box=9, min_net_gradient=3000)
    >>> p.replace(fit_method="lq").fit_method
    'lq'
    >>> LocalizeParameters.from_info(p.to_info()) == p
    True
    """

    def __init__(self, **values):
        known = {item.name for item in SCHEMA}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(f"unknown localization parameter(s) {', '.join(unknown)}; known: {', '.join(names())}")
        for item in SCHEMA:
            value = values[item.name] if item.name in values else item.default_value()
            object.__setattr__(self, item.name, value)

    def __setattr__(self, name, value):
        raise AttributeError("LocalizeParameters do not change; use .replace(name=value)")

    def __getattr__(self, name):
        # A parameter added to the schema after this instance was made: its default.
        try:
            return parameter(name).default_value()
        except KeyError:
            raise AttributeError(name) from None

    def as_dict(self):
        """``{name: value}`` of every parameter."""
        return {item.name: getattr(self, item.name) for item in SCHEMA}

    def replace(self, **changes):
        return LocalizeParameters(**{**self.as_dict(), **changes})

    def __eq__(self, other):
        return isinstance(other, LocalizeParameters) and self.as_dict() == other.as_dict()

    __hash__ = None

    def __repr__(self):
        changed = [
            f"{item.name}={getattr(self, item.name)!r}" for item in SCHEMA if getattr(self, item.name) != item.default
        ]
        return f"LocalizeParameters({', '.join(changed)})"

    def to_info(self):
        """The localization document of ``_locs.yaml`` (Picasso's key names)."""
        fitter = fitter_of(self)
        info = {"Generated by": f"napari-picasso {__version__}"}
        for item in SCHEMA:
            if item.scope == "fit" and not (item.always_written or fitter.uses(item.name)):
                continue
            if item.omit_default and getattr(self, item.name) == item.default:
                continue
            if item.write is not None:
                info.update(item.write(self))
            else:
                info[item.yaml_key] = item.yaml_value(getattr(self, item.name))
        return info

    @classmethod
    def from_info(cls, info):
        """Parameters from a localization document written by :meth:`to_info`."""
        values = {}
        for item in SCHEMA:
            if item.read is not None:
                value = item.read(info)
            else:
                value = info.get(item.yaml_key, UNSET)
            if value is not UNSET:
                values[item.name] = item.from_yaml_value(value) if item.read is None else value
        return cls(**values)


def fitter_of(parameters):
    """The :class:`~napari_picasso.fitters.base.Fitter` of the parameters' fit method."""
    return fitters.get(parameters.fit_method)


def detection_only(parameters):
    """The parameters with the fit's options at their defaults: what detection reads (a
    preview before a 3D calibration is chosen, for example)."""
    # The splitter's detection is its own (the registered sum): it keeps its fit method.
    default_fit = "mle-ratio" if is_split(parameters) else parameter("fit_method").default
    return parameters.replace(
        fit_method=default_fit, **{item.name: item.default_value() for item in SCHEMA if item.scope == "fit"}
    )


def rois_bounding_box(rois):
    """``(y0, x0, y1, x1)`` around several rectangles."""
    rois = np.asarray(rois, dtype=np.int64).reshape(-1, 4)
    return (int(rois[:, 0].min()), int(rois[:, 1].min()), int(rois[:, 2].max()), int(rois[:, 3].max()))


def format_rectangles(rectangles):
    """``"y0, x0, y1, x1; ..."`` (what the dock's ROI field and ``--rois`` take)."""
    return "; ".join(", ".join(str(int(v)) for v in r) for r in rectangles)


def parse_rectangles(text):
    """Rectangles from ``"y0, x0, y1, x1; ..."``.

    Raises
    ------
    ValueError
        Saying which rectangle is not four integers with y0 < y1 and x0 < x1.
    """
    rectangles = []
    for part in str(text).replace("\n", ";").split(";"):
        part = part.strip()
        if not part:
            continue
        try:
            values = [int(float(v)) for v in part.replace(",", " ").split()]
        except (ValueError, OverflowError):  # words, nan; inf and 1e400
            raise ValueError(f"ROI {part!r} is not four numbers y0, x0, y1, x1.") from None
        if len(values) != 4:
            raise ValueError(f"ROI {part!r} is not four numbers y0, x0, y1, x1.")
        if not (values[0] < values[2] and values[1] < values[3]):
            y0, y1 = sorted(values[0::2])
            x0, x1 = sorted(values[1::2])
            hint = f" (write {y0}, {x0}, {y1}, {x1})" if y0 < y1 and x0 < x1 else ""
            raise ValueError(f"ROI {part!r} must be y0, x0, y1, x1 with y0 < y1 and x0 < x1{hint}.")
        rectangles.append(tuple(values))
    return rectangles


def roi_keywords(text, height, width, *, box=None):
    """The ROI of typed rectangles, checked against a frame: the one reading of the dock's
    ROI field, for its preview and its Localize alike.

    Parameters
    ----------
    text : str
        ``"y0, x0, y1, x1; ..."`` in camera pixels, end exclusive; empty: the whole frame.
    height, width : int
        The movie's frame size.
    box : int, optional
        Box size: a single rectangle smaller than one box is refused (as
        :func:`validate_parameters` does).

    Returns
    -------
    dict
        :class:`LocalizeParameters` keywords: ``{}`` (the whole frame), ``{"roi": rect}``
        (one rectangle) or ``{"rois": (rect, ...)}`` (several).

    Raises
    ------
    ParameterError
        Saying which rectangle is wrong and how to write it.

    Examples
    --------
    >>> roi_keywords("4, 4, 30, 30", 64, 64)
    {'roi': (4, 4, 30, 30)}
    >>> roi_keywords(" ", 64, 64)
    {}
    >>> roi_keywords("4, 4, 30, 30; 34, 30, 60, 60", 64, 64)["rois"]
    ((4, 4, 30, 30), (34, 30, 60, 60))
    """
    empty = "; leave the field empty for the whole frame."
    try:
        rectangles = parse_rectangles(text)
    except ValueError as error:
        raise ParameterError(str(error).rstrip(".") + empty) from None
    for rect in rectangles:
        y0, x0, y1, x1 = rect
        if not (0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width):
            raise ParameterError(
                f"ROI {format_rectangles([rect])} lies outside the {height}x{width} frame; "
                f"use 0 <= y0 < y1 <= {height} and 0 <= x0 < x1 <= {width}{empty}"
            )
    if len(rectangles) == 1:
        y0, x0, y1, x1 = rectangles[0]
        if box is not None and (y1 - y0 < box or x1 - x0 < box):
            raise ParameterError(f"ROI {format_rectangles(rectangles)} is smaller than one box ({box} px).")
        return {"roi": rectangles[0]}
    return {"rois": tuple(rectangles)} if rectangles else {}


# -- checks -----------------------------------------------------------------------------------
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


def check_values(parameters, name=None):
    """Every value within its parameter's limits, and the fit method's own conditions.

    Raises
    ------
    ParameterError
        Naming the parameter, its valid values and (when given) the movie ``name``.
    """
    fitter = fitter_of(parameters)
    for item in SCHEMA:
        value = getattr(parameters, item.name)
        try:
            item.convert(value)
        except ParameterError as error:
            raise ParameterError(f"{name}: {error}" if name else str(error)) from None
        if item.scope == "fit" and item.optional and value is not None and not fitter.uses(item.name):
            users = [n for n in fitters.names() if fitters.get(n).uses(item.name)]
            raise ParameterError(
                f"the {item.title} applies to the {' and '.join(users)} fit methods only; choose one of them "
                "or leave it unset."
            )
    if parameters.device == "gpu" and fitter.gpu_fit is None:
        raise ParameterError(f"the {fitter.name} fit method runs on the CPU only; use --device auto or cpu with it.")
    if fitter.check is not None:
        fitter.check(parameters)


def _check_splitter(parameters, shape, name):
    """The splitter options; ``(height, width)`` of what positions refer to (one channel)."""
    if not is_split(parameters):
        for option, flag in (("channels", "--channels"), ("splitter_flip", "--flip")):
            if getattr(parameters, option):
                raise ParameterError(f"{flag} belongs to an image splitter: give --splitter too, or leave it out.")
        if parameters.colours and parameters.fit_method != "mle-ratio":
            raise ParameterError("colour windows (--colour) need the splitter's ratio: --fit mle-ratio.")
        return tuple(int(v) for v in shape[-2:])
    if parameters.fit_method != "mle-ratio":
        raise ParameterError(
            f"--splitter {parameters.splitter} fits both channels together: use --fit mle-ratio "
            f"(not {parameters.fit_method})."
        )
    check_calibration(parameters, shape, name)
    return channel_shape(shape, parameters.splitter, name)


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
        With a message that says what is wrong and how to fix it; ``name`` (the movie's)
        starts the messages about values.
    """
    values_of = name
    name = name or "movie"
    n_frames, height, width = shape
    height, width = _check_splitter(parameters, shape, name)
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
    check_values(parameters, values_of)
    if parameters.dark_frames is not None and parameters.baseline != "auto":
        raise ParameterError(
            f"dark frames (--dark-frames) {parameters.dark_frames!r} are where --baseline auto measures the camera "
            "offset; with a baseline given they would be ignored: give --baseline auto, or leave them out."
        )
    check_background_frames(parameters, n_frames, name)
    if n_frames < 1:
        raise ParameterError(f"the {name} holds no frames; there is nothing to localize.")
    roi = parameters.roi
    if roi is None:
        roi = (0, 0, height, width)
        if height < parameters.box or width < parameters.box:
            raise ParameterError(
                f"the box ({parameters.box} px) is larger than the {name}'s {height}x{width} frame; "
                f"give a box of at most {min(height, width) - (1 - min(height, width) % 2)} px (odd)."
            )
    else:
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


# -- the command line and groups.yaml ---------------------------------------------------------
def _argument_type(item):
    def convert(text):
        try:
            return item.convert(text)
        except ParameterError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = item.kind  # argparse names the type in some messages
    return convert


def number_argument(flag, kind="int", *, label=None, minimum=None, maximum=None, above_minimum=False):
    """An argparse ``type`` for a number option outside the schema, checked like the schema's.

    Out-of-range values are refused while parsing, with the schema's message (the option,
    its valid range and the value given), e.g. ``--workers``, ``--settle-seconds``.

    Examples
    --------
    >>> convert = number_argument("--block-frames", label="frames per task", minimum=1)
    >>> convert("200")
    200
    >>> convert("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: frames per task (--block-frames) must be a whole number >= 1; got '0'.
    """
    name = flag.lstrip("-").replace("-", "_")
    item = Parameter(
        name, None, kind, "", flag, label=label or name, minimum=minimum, maximum=maximum, above_minimum=above_minimum
    )
    return _argument_type(item)


def add_arguments(parser, *, exclude=(), only=None, title="localization"):
    """Add the localization options (every :data:`SCHEMA` parameter not in ``exclude``) to
    an :class:`argparse.ArgumentParser`, as a group called ``title``.

    ``only`` restricts choice parameters to some of their values (``{"fit_method":
    ("mle", "lq")}``): the others are neither offered nor accepted. The values land in
    ``args.<parameter name>``; :func:`from_arguments` converts them.
    """
    only = only or {}
    group = parser.add_argument_group(title)
    for item in SCHEMA:
        if item.name in exclude:
            continue
        flags = [item.flag] + ([item.short] if item.short else [])
        options = {"dest": item.name, "help": item.help_text()}
        if item.kind == "bool":
            options.update(action="store_true", default=bool(item.default))
        elif item.kind in ("pair", "rectangle"):
            options.update(nargs=len(item.metavar), metavar=item.metavar, type=_argument_type(_ELEMENT))
        elif item.kind == "choice":
            names_ = [value for value, _ in item.choice_items() if value in only.get(item.name, (value,))]
            options.update(choices=names_, default=item.default, metavar="{" + ",".join(names_) + "}")
        else:
            options.update(default=item.default, metavar=item.metavar)
            if item.many:
                options.update(action="extend", nargs="+")
            if item.kind != "file":  # a file is read by from_arguments: its errors name the file
                options["type"] = _argument_type(item)
        group.add_argument(*flags, **options)
    _accept_negative_slices(parser)


# Elements of pairs and rectangles: whole numbers (their parameter checks the rest).
_ELEMENT = Parameter("element", 0, "int", "", "--element", label="value")


def _accept_negative_slices(parser):
    # argparse reads "-30:0" as an unknown option; let it pass as a value like "-30".
    # Without the (private) matcher, users write --background-frames=-30:0.
    matcher = getattr(parser, "_negative_number_matcher", None)
    if matcher is not None:
        parser._negative_number_matcher = re.compile(rf"{matcher.pattern}|^-\d+:-?\d*(:\d+)?$")


def from_arguments(args):
    """:class:`LocalizeParameters` from parsed options (those :func:`add_arguments` added).

    Raises
    ------
    ParameterError, InputFileError
        A value out of its limits; a file option naming an unusable file.
    """
    values = {}
    for item in SCHEMA:
        if hasattr(args, item.name):
            values[item.name] = item.convert(getattr(args, item.name))
    return LocalizeParameters(**values)


def from_mapping(mapping, *, folder=None, check_path=None):
    """:class:`LocalizeParameters` from ``{long option name: value}`` (a ``groups.yaml`` group).

    Keys are the ``localize`` command's long options without dashes (``gradient``,
    ``shared-sigma`` or ``shared_sigma``); relative file paths are taken from ``folder``
    (the groups file's folder). ``check_path(path)`` sees every file path before it is read
    and raises ValueError to refuse it (the browser app keeps them inside its data folders).

    Raises
    ------
    ParameterError
        For an unknown option or an unusable value.
    """
    by_key = {item.key: item for item in SCHEMA}
    values = {}
    for raw_key, value in mapping.items():
        key = str(raw_key).replace("_", "-")
        item = by_key.get(key)
        if item is None:
            raise ParameterError(
                f"unknown option {raw_key!r}; use the localize command's long option names: "
                f"{', '.join(sorted(by_key))}."
            )
        if item.kind == "bool" and not isinstance(value, bool):
            raise ParameterError(f"{raw_key!r} is a switch: write true or false, not {value!r}.")
        if value is None:
            continue
        if item.kind in ("path", "file") and isinstance(value, (str, os.PathLike)):
            if folder is not None:
                value = Path(folder) / os.path.expanduser(os.fspath(value))
            if check_path is not None:
                try:
                    check_path(os.fspath(value))
                except ValueError as error:
                    raise ParameterError(f"{raw_key}: {error}") from None
        values[item.name] = item.convert(value)
    return LocalizeParameters(**values)
