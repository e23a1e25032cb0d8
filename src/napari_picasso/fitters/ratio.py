"""Ratiometric multi-colour through an image splitter: ``mle-ratio``.

One joint maximum-likelihood fit per molecule over both channels
(:mod:`napari_picasso.core.channelfit`): shared x, y, per-channel photons, background
and width. The pipeline hands it spot pairs (:class:`napari_picasso.splitter.SpotPairs`)
instead of single spots. Rows: ``photons`` = ``photons_0 + photons_1``, ``bg`` =
``bg_0 + bg_1`` (photons per pixel of the registered sum), ``sx = sy`` = channel 0's
width, ``lpx``/``lpy`` from the joint Fisher matrix, ``ratio = photons_1 / photons`` and
``colour``, the index of the ``--colour`` window the ratio falls in (-1: none). The
camera's read noise enters the likelihood and the Fisher matrix as in ``mle``.
"""

import functools

import numpy as np

from ..core import gpu
from ..core.camera import excess_noise_factor
from ..core.channelfit import fit_two_channels
from ..core.colours import colour_index, parse_colours
from ..io.errors import ParameterError
from .base import Fitter

RATIO_FIELDS = (
    ("photons_0", "f4"),
    ("photons_1", "f4"),
    ("bg_0", "f4"),
    ("bg_1", "f4"),
    ("ratio", "f4"),
    ("colour", "i2"),
    ("sx_1", "f4"),
    ("log_likelihood", "f4"),
    ("iterations", "u4"),
)


def _fit(pairs, parameters, extra_variance, fit_two_channels=fit_two_channels):
    fit = fit_two_channels(
        pairs.spots,
        pairs.offsets,
        pairs.jacobians,
        max_iterations=parameters.max_iterations,
        tolerance_px=parameters.tolerance_px,
        read_variance=(parameters.read_noise_e / parameters.em_gain) ** 2,
    )
    fit["photons"] = fit["photons_0"] + fit["photons_1"]
    fit["bg"] = fit["bg_0"] + fit["bg_1"]
    fit["sx"] = fit["sy"] = fit["s_0"]
    return fit


def _columns(locs, fit, parameters):
    excess = excess_noise_factor(parameters.em_gain)
    with np.errstate(invalid="ignore", divide="ignore"):
        locs["lpx"] = np.sqrt(excess * fit["crlb_x"])
        locs["lpy"] = np.sqrt(excess * fit["crlb_y"])
        ratio = fit["photons_1"] / fit["photons"]
    for field in ("photons_0", "photons_1", "bg_0", "bg_1", "log_likelihood", "iterations"):
        locs[field] = fit[field]
    locs["sx_1"] = fit["s_1"]
    locs["ratio"] = ratio
    _, windows = parse_colours(parameters.colours)
    locs["colour"] = colour_index(ratio, windows)
    return None


def _check(parameters):
    if parameters.splitter in (None, "none") or not parameters.channels:
        raise ParameterError(
            "fit method 'mle-ratio' fits both channels of an image splitter: give --splitter left-right "
            "(or top-bottom) and the channel calibration --channels CAL.yaml (from calibrate-channels)."
        )


MLE_RATIO = Fitter(
    name="mle-ratio",
    title="MLE, two splitter channels, ratiometric colour",
    fields=RATIO_FIELDS,
    parameters=("max_iterations", "tolerance_px"),
    fit=_fit,
    columns=_columns,
    check=_check,
    gpu_fit=functools.partial(_fit, fit_two_channels=gpu.fit_two_channels),
)

FITTERS = (MLE_RATIO,)
