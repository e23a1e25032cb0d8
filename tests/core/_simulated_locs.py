"""Localization tables simulated directly: true blinking positions + Gaussian noise."""

import numpy as np

from napari_picasso import fitters
from napari_picasso.simulate import blinking_sites


def noisy_locs(truth, precision_px, seed=0, drift_x_px=None, drift_y_px=None):
    """A locs table (MLE dtype) of ``truth`` with Gaussian errors of ``precision_px``.

    ``drift_x_px`` / ``drift_y_px`` (per frame) are added to the positions.
    """
    rng = np.random.default_rng(seed)
    locs = np.zeros(len(truth), dtype=fitters.get("mle").dtype)
    locs["frame"] = truth["frame"]
    locs["x"] = truth["x"] + rng.normal(0.0, precision_px, len(truth))
    locs["y"] = truth["y"] + rng.normal(0.0, precision_px, len(truth))
    if drift_x_px is not None:
        locs["x"] += drift_x_px[truth["frame"]]
        locs["y"] += drift_y_px[truth["frame"]]
    locs["photons"] = truth["photons"]
    locs["sx"] = truth["sx"]
    locs["sy"] = truth["sy"]
    locs["bg"] = 50.0
    locs["lpx"] = precision_px
    locs["lpy"] = precision_px
    locs["net_gradient"] = 5000.0
    locs["iterations"] = 5
    return locs


def blinking_table(n_frames=3000, size=128, n_sites=300, precision_px=0.1, seed=0, **kinetics):
    """(locs, truth) of randomly placed blinking sites."""
    kinetics = {"mean_on_frames": 4.0, "mean_off_frames": 60.0, **kinetics}
    truth = blinking_sites(n_frames, size, size, n_sites=n_sites, seed=seed, **kinetics)
    return noisy_locs(truth, precision_px, seed=seed + 1), truth
