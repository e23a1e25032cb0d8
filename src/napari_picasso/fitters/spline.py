"""Cubic-spline PSF fit methods: ``spline-mle``, ``spline-lq`` and ``spline-2d``.

The model is a measured PSF (``--psf CALIB.hdf5``, from ``napari-picasso calibrate-psf`` or
Picasso 0.11), see :mod:`napari_picasso.core.psf_spline`. ``z`` (nm) follows Picasso's
conversion of the spline's axial coordinate, ``lpx``, ``lpy`` (px) and ``lpz`` (nm) are
the square roots of the Cramer-Rao bound of the Poisson model at the estimate (EM gain:
times the excess-noise factor).
"""

import functools
import os

import numpy as np

from ..core import gpu, psf_spline
from ..core.camera import excess_noise_factor
from ..io.errors import InputFileError, ParameterError
from ..io.psf_calib import internal_coefficients, load_psf_calibration
from .base import Fitter

SPLINE_FIELDS = [
    ("log_likelihood", "f4"),
    ("iterations", "u4"),
    ("photons_unc", "f4"),
    ("bg_unc", "f4"),
]
SPLINE_Z_FIELDS = [("z", "f4"), ("lpz", "f4")]
PARAMETERS = ("max_iterations", "tolerance_px", "psf")
DETECTION_SMOOTHING_PX = 2.5
"""Gaussian sigma of the detector's smoothing: a defocused ring or lobe pattern becomes one blob."""
PIXELSIZE_TOLERANCE = 0.01
"""Relative difference of pixel sizes (calibration vs run) accepted."""


@functools.lru_cache(maxsize=4)
def _model(path, mtime_ns, size):
    calibration = load_psf_calibration(path)
    coeff = internal_coefficients(calibration)
    three_d = calibration["model"] == "spline-3d"
    z_center = float(calibration.get("z_center", 0.0))
    z_init = float(calibration.get("z_init", z_center))
    return {
        "calibration": {k: v for k, v in calibration.items() if k != "coefficients"},
        "coeff": coeff,
        "knots": psf_spline.knot_values(coeff),
        "three_d": three_d,
        "photon_scale": float(calibration.get("photon_scale", 1.0)),
        "z_focus": int(round(z_init)) if three_d else 0,
        "z_center": z_center,
        "z_init": z_init,
        "z_step_nm": float(calibration.get("z_step_nm", 1.0)),
        "magnification": float(calibration.get("magnification_factor", 1.0)),
        "box": int(calibration.get("box", coeff.shape[2] + 1)),
        "pixelsize_nm": calibration.get("pixelsize"),
        "sigma_px": float(calibration.get("effective_sigma", 1.0)),
    }


def psf_model(path):
    """The spline model of a calibration file (cached while the file is unchanged).

    Raises
    ------
    InputFileError
        See :func:`napari_picasso.io.psf_calib.load_psf_calibration`.
    """
    path = os.path.abspath(os.fspath(path))
    try:
        stat = os.stat(path)
    except OSError:
        return _model(path, 0, 0)  # raises the loader's error
    return _model(path, stat.st_mtime_ns, stat.st_size)


def z_nm(model, z_slice):
    """Picasso's conversion of the spline's axial coordinate (slice) to z (nm)."""
    step = model["z_step_nm"]
    return (model["z_init"] - z_slice) * step * model["magnification"] + (model["z_center"] - model["z_init"]) * step


def check_psf(parameters, three_d=None):
    """A spline fit needs a calibration of the run's box and pixel size (and of its kind)."""
    name = parameters.fit_method
    if not parameters.psf:
        raise ParameterError(
            f"fit method {name!r} needs a PSF calibration: --psf CALIB_spline_calib.hdf5 "
            "(make one from a bead z-stack with 'napari-picasso calibrate-psf')."
        )
    try:
        model = psf_model(parameters.psf)
    except InputFileError as error:
        raise ParameterError(str(error)) from None
    if model["box"] != parameters.box:
        raise ParameterError(
            f"the PSF calibration {parameters.psf} was made for a {model['box']}-px box, this run uses "
            f"{parameters.box} px; set --box {model['box']} (or calibrate again with --box {parameters.box})."
        )
    pixelsize = model["pixelsize_nm"]
    if pixelsize and abs(float(pixelsize) - parameters.pixelsize_nm) > PIXELSIZE_TOLERANCE * float(pixelsize):
        raise ParameterError(
            f"the PSF calibration {parameters.psf} was made at {float(pixelsize):g} nm per pixel, this run uses "
            f"{parameters.pixelsize_nm:g} nm; set --pixelsize {float(pixelsize):g} if that is the camera's, "
            "or calibrate with beads imaged on this setup."
        )
    if three_d and not model["three_d"]:
        raise ParameterError(
            f"the PSF calibration {parameters.psf} is a 2-D model (spline-2d); fit it with "
            "--fit spline-2d, or calibrate with --model spline-3d for z."
        )


def _fitter(three_d, mle, fit_spline=psf_spline.fit_spline):
    """The fit of a spline method with ``fit_spline`` (the CPU's or :func:`napari_picasso.core.gpu.fit_spline`)."""

    def fit(spots, parameters, extra_variance):
        model = psf_model(parameters.psf)
        out = fit_spline(
            spots,
            model["coeff"],
            photon_scale=model["photon_scale"],
            z_focus=model["z_focus"],
            three_d=three_d and model["three_d"],
            mle=mle,
            max_iterations=parameters.max_iterations,
            tolerance=parameters.tolerance_px,
            extra_variance=extra_variance if mle else None,
            knots=model["knots"],
        )
        out["sx"] = out["sy"] = np.full(len(out["x"]), model["sigma_px"])
        if three_d:
            out["z_nm"] = z_nm(model, out["z"])
            out["lpz_nm"] = np.sqrt(out["crlb_z"]) * model["z_step_nm"] * model["magnification"]
        return out

    return fit


def _columns(three_d):
    def columns(locs, fit, parameters):
        excess = excess_noise_factor(parameters.em_gain)
        with np.errstate(invalid="ignore"):
            for field, key in (("lpx", "x"), ("lpy", "y"), ("photons_unc", "photons"), ("bg_unc", "bg")):
                locs[field] = np.sqrt(excess * fit[f"crlb_{key}"])
            if three_d:
                locs["z"] = fit["z_nm"]
                locs["lpz"] = np.sqrt(excess) * fit["lpz_nm"]
        locs["log_likelihood"] = fit["log_likelihood"]
        locs["iterations"] = fit["iterations"]
        return None

    return columns


SPLINE_MLE = Fitter(
    name="spline-mle",
    title="MLE, cubic-spline PSF, 3D",
    fields=tuple(SPLINE_FIELDS + SPLINE_Z_FIELDS),
    parameters=PARAMETERS,
    fit=_fitter(True, True),
    columns=_columns(True),
    check=functools.partial(check_psf, three_d=True),
    gpu_fit=_fitter(True, True, gpu.fit_spline),
    detection_smoothing_px=DETECTION_SMOOTHING_PX,
)
SPLINE_LQ = Fitter(
    name="spline-lq",
    title="LQ, cubic-spline PSF, 3D",
    fields=tuple(SPLINE_FIELDS + SPLINE_Z_FIELDS),
    parameters=PARAMETERS,
    fit=_fitter(True, False),
    columns=_columns(True),
    check=functools.partial(check_psf, three_d=True),
    gpu_fit=_fitter(True, False, gpu.fit_spline),
    detection_smoothing_px=DETECTION_SMOOTHING_PX,
)
SPLINE_2D = Fitter(
    name="spline-2d",
    title="MLE, cubic-spline PSF, 2D",
    fields=tuple(SPLINE_FIELDS),
    parameters=PARAMETERS,
    fit=_fitter(False, True),
    columns=_columns(False),
    check=check_psf,
    gpu_fit=_fitter(False, True, gpu.fit_spline),
    detection_smoothing_px=DETECTION_SMOOTHING_PX,
)

FITTERS = (SPLINE_MLE, SPLINE_LQ, SPLINE_2D)
