"""3D astigmatic fit methods: ``mle-3d`` and ``lq-3d`` (see :mod:`napari_picasso.core.zfit`).

The 2D fit with free sx, sy, then z from the widths through the calibration: z (nm),
``d_zcalib`` (distance from the calibration curve) and ``lpz``.
"""

import numpy as np

from ..core import zfit
from ..core.camera import excess_noise_factor
from ..core.localizations import MLE_FIELDS, Z_FIELDS
from ..io.errors import ParameterError
from .base import Fitter
from .gaussian import LQ, MLE

Z_PARAMETERS = ("max_iterations", "tolerance_px", "z_calibration", "z_magnification", "max_d_zcalib")


def calibration_in_use(parameters):
    """The 3D calibration the z fit applies: ``z_magnification`` replaces the file's factor."""
    if parameters.z_magnification is None:
        return parameters.z_calibration
    return {**parameters.z_calibration, "Magnification factor": float(parameters.z_magnification)}


def check_calibration(parameters):
    """A 3D fit needs a usable calibration and free sx, sy."""
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


def _z_columns(plane):
    def columns(locs, fit, parameters):
        plane.columns(locs, fit, parameters)
        calibration = calibration_in_use(parameters)
        if "crlb_sx" in fit:
            zfit.add_z(locs, calibration)
        else:  # the widths' uncertainties: CRLB of the 2D model at the fitted values
            crlb = zfit.sigma_crlb(fit["x"], fit["y"], fit["photons"], fit["bg"], fit["sx"], fit["sy"], parameters.box)
            with np.errstate(invalid="ignore"):
                unc = np.sqrt(excess_noise_factor(parameters.em_gain) * crlb)
            zfit.add_z(locs, calibration, unc[:, 0], unc[:, 1])
        if parameters.max_d_zcalib is None:
            return None
        # Per localization, so every chunking of the movie keeps the same rows.
        return locs["d_zcalib"].astype(np.float64) <= float(parameters.max_d_zcalib)

    return columns


MLE_3D = Fitter(
    name="mle-3d",
    title="MLE, integrated Gaussian, 3D astigmatism",
    fields=tuple(MLE_FIELDS + Z_FIELDS),
    parameters=Z_PARAMETERS,
    fit=MLE.fit,
    columns=_z_columns(MLE),
    check=check_calibration,
    gpu_fit=MLE.gpu_fit,
)
LQ_3D = Fitter(
    name="lq-3d",
    title="LQ, Gaussian, 3D astigmatism",
    fields=tuple(Z_FIELDS),
    parameters=Z_PARAMETERS,
    fit=LQ.fit,
    columns=_z_columns(LQ),
    check=check_calibration,
    gpu_fit=LQ.gpu_fit,
)

FITTERS = (MLE_3D, LQ_3D)
