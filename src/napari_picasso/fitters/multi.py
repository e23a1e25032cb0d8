"""Multi-emitter MLE: ``mle-multi`` (see :mod:`napari_picasso.core.multifit`).

Each candidate's box is fitted with one emitter, then with more where the deviance and
likelihood-ratio tests ask for them (``--max-emitters``, ``--multi-threshold``); one row
per emitter, ``n_emitters`` the emitters of its window's joint model. Boxes of close
candidates overlap: an emitter is written once, by the window whose centre is nearest.
"""

import numpy as np

from ..core import gpu
from ..core.camera import excess_noise_factor
from ..core.localizations import MLE_FIELDS
from ..core.multifit import fit_multi, owned_rows
from .base import Fitter
from .gaussian import ITERATIVE, crlb_columns

# Candidates are maxima of their 5x5 neighbourhood, not of the whole box: a spot 3 px from
# a brighter one gets a window of its own (the joint fits model the neighbour's tail).
MAXIMUM_RADIUS_PX = 2


def _options(parameters, extra_variance):
    return dict(
        max_emitters=parameters.max_emitters,
        p_value=parameters.multi_threshold,
        max_iterations=parameters.max_iterations,
        tolerance_px=parameters.tolerance_px,
        shared_sigma=parameters.shared_sigma,
        extra_variance=extra_variance,
        excess_noise=excess_noise_factor(parameters.em_gain),
    )


def _fit(spots, parameters, extra_variance):
    return fit_multi(spots, **_options(parameters, extra_variance))


def _fit_gpu(spots, parameters, extra_variance):
    return gpu.fit_multi(spots, **_options(parameters, extra_variance))


def multi_columns(locs, fit, parameters):
    """The joint model's CRLB columns, ``n_emitters``, and each emitter kept once."""
    crlb_columns(locs, fit, parameters)
    locs["n_emitters"] = fit["n_emitters"]
    centre_x = np.rint(locs["x"].astype(np.float64) - fit["x"])
    centre_y = np.rint(locs["y"].astype(np.float64) - fit["y"])
    window = fit["spot"]
    return owned_rows(locs["frame"], locs["x"], locs["y"], window, centre_x, centre_y)


MLE_MULTI = Fitter(
    name="mle-multi",
    title="MLE, multi-emitter",
    fields=(*MLE_FIELDS, ("n_emitters", "u1")),
    parameters=(*ITERATIVE, "max_emitters", "multi_threshold"),
    fit=_fit,
    columns=multi_columns,
    gpu_fit=_fit_gpu,
    rows_per_spot=True,
    maximum_radius_px=MAXIMUM_RADIUS_PX,
)

FITTERS = (MLE_MULTI,)
