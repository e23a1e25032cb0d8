"""The 3D calibration plot: mean sx, sy per z step with their spread, and the fitted curves.

A matplotlib ``Figure`` built without pyplot (no global state, no GUI backend), so the
command line saves it as a PNG and the napari dock widget embeds it in a canvas.
"""

import numpy as np
from matplotlib.figure import Figure

from .core import zfit


def calibration_figure(calibration, curves=None, pixelsize_nm=None, figure=None):
    """Draw a z calibration.

    Parameters
    ----------
    calibration : dict
        Picasso's calibration keys (X/Y Coefficients...).
    curves : dict, optional
        What :func:`napari_picasso.core.zfit.calibrate` returns beside the calibration
        (``z_nm``, ``mean_sx``, ``mean_sy``, ``std_sx``, ``std_sy``); without it only the
        fitted curves are drawn (a calibration loaded from a file).
    pixelsize_nm : float, optional
        Widths in nm instead of px.
    figure : matplotlib.figure.Figure, optional
        Drawn into (cleared first); a new one otherwise.

    Returns
    -------
    matplotlib.figure.Figure
    """
    figure = figure or Figure(figsize=(6, 4), layout="constrained")
    figure.clear()
    ax = figure.add_subplot(1, 1, 1)
    scale = 1.0 if pixelsize_nm is None else float(pixelsize_nm)
    unit = "px" if pixelsize_nm is None else "nm"
    lo, hi = zfit.calibrated_range(calibration)
    if curves is not None and len(curves["z_nm"]):
        lo, hi = float(np.min(curves["z_nm"])), float(np.max(curves["z_nm"]))
        for key, colour, label in (("sx", "tab:red", "mean sx"), ("sy", "tab:blue", "mean sy")):
            mean = curves["mean_" + key] * scale
            std = curves["std_" + key] * scale
            ax.fill_between(curves["z_nm"], mean - std, mean + std, color=colour, alpha=0.2, linewidth=0)
            ax.plot(curves["z_nm"], mean, ".", color=colour, label=label)
    z = np.linspace(lo, hi, 400)
    wx, wy = zfit.calibration_widths(calibration, z)
    ax.plot(z, wx * scale, "-", color="darkred", label="fit wx(z)")
    ax.plot(z, wy * scale, "-", color="navy", label="fit wy(z)")
    ax.axvline(0.0, color="0.6", linewidth=0.8)
    ax.set_xlabel("stage z (nm), 0 where the curves cross")
    ax.set_ylabel(f"PSF width ({unit})")
    ax.set_title(f"3D calibration (magnification factor {zfit.magnification_of(calibration):g})")
    ax.legend(loc="upper center", fontsize="small")
    return figure
