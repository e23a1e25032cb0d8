"""2D Gaussian fit methods: ``mle``, ``lq`` and ``avg`` (see :mod:`napari_picasso.core.gaussfit`)."""

import numpy as np

from ..core import gpu
from ..core.average import average_of_roi
from ..core.camera import excess_noise_factor
from ..core.gaussfit import fit_lq, fit_mle
from ..core.localizations import MLE_FIELDS
from ..core.precision import mortensen_lq_variance
from .base import Fitter

ITERATIVE = ("shared_sigma", "max_iterations", "tolerance_px")


def _fit_mle(spots, parameters, extra_variance):
    return fit_mle(
        spots,
        parameters.max_iterations,
        parameters.tolerance_px,
        parameters.shared_sigma,
        extra_variance=extra_variance,
    )


def _fit_lq(spots, parameters, extra_variance):
    # Least squares weighs every pixel alike: no extra variance.
    return fit_lq(spots, parameters.max_iterations, parameters.tolerance_px, parameters.shared_sigma)


def _fit_mle_gpu(spots, parameters, extra_variance):
    return gpu.fit_mle(
        spots,
        parameters.max_iterations,
        parameters.tolerance_px,
        parameters.shared_sigma,
        extra_variance=extra_variance,
    )


def _fit_lq_gpu(spots, parameters, extra_variance):
    return gpu.fit_lq(spots, parameters.max_iterations, parameters.tolerance_px, parameters.shared_sigma)


def _average(spots, parameters, extra_variance):
    return average_of_roi(spots)


def crlb_columns(locs, fit, parameters):
    """Uncertainties from the Cramer-Rao bound of the MLE, and its likelihood and iterations."""
    excess = excess_noise_factor(parameters.em_gain)
    with np.errstate(invalid="ignore"):
        for field, key in (("lpx", "x"), ("lpy", "y"), ("photons_unc", "photons"), ("bg_unc", "bg")):
            locs[field] = np.sqrt(excess * fit[f"crlb_{key}"])
        locs["sx_unc"] = np.sqrt(excess * fit["crlb_sx"])
        locs["sy_unc"] = np.sqrt(excess * fit["crlb_sy"])
    locs["log_likelihood"] = fit["log_likelihood"]
    locs["iterations"] = fit["iterations"]


def mortensen_columns(locs, fit, parameters):
    """Precision of a least-squares (or centroid) estimate: Mortensen et al. 2010, eq. 6."""
    excess = excess_noise_factor(parameters.em_gain)
    with np.errstate(invalid="ignore", divide="ignore"):
        locs["lpx"] = np.sqrt(mortensen_lq_variance(fit["sx"], fit["photons"], fit["bg"], 1.0, excess))
        locs["lpy"] = np.sqrt(mortensen_lq_variance(fit["sy"], fit["photons"], fit["bg"], 1.0, excess))


MLE = Fitter(
    name="mle",
    title="MLE, integrated Gaussian",
    fields=tuple(MLE_FIELDS),
    parameters=ITERATIVE,
    fit=_fit_mle,
    columns=crlb_columns,
    gpu_fit=_fit_mle_gpu,
)
LQ = Fitter(
    name="lq",
    title="LQ, Gaussian",
    fields=(),
    parameters=ITERATIVE,
    fit=_fit_lq,
    columns=mortensen_columns,
    gpu_fit=_fit_lq_gpu,
)
AVERAGE = Fitter(name="avg", title="Average of ROI", fields=(), parameters=(), fit=_average, columns=mortensen_columns)

FITTERS = (MLE, LQ, AVERAGE)
