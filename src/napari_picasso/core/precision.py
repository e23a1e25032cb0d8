"""Localization precision formulas (Mortensen et al. 2010, Nat. Methods 7:377)."""

import numpy as np


def mortensen_lq_variance(sigma_px, photons, bg_photons, pixel_px=1.0, excess_noise=1.0):
    """Variance (px^2) of a least-squares Gaussian position estimate along one axis.

    var = F * sa^2 / N * (16/9 + 8 pi sa^2 b / (N a^2)), sa^2 = s^2 + a^2 / 12.

    Parameters
    ----------
    sigma_px : array_like
        PSF standard deviation along the axis (px).
    photons : array_like
        Emitter photons N.
    bg_photons : array_like
        Background photons per pixel b.
    pixel_px : float
        Pixel size a in the unit of ``sigma_px`` (1 when everything is in pixels).
    excess_noise : float
        F: 2 with EM gain, 1 without.
    """
    sigma_px = np.asarray(sigma_px, dtype=np.float64)
    photons = np.asarray(photons, dtype=np.float64)
    sa2 = sigma_px**2 + pixel_px**2 / 12.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return excess_noise * sa2 / photons * (16.0 / 9.0 + 8.0 * np.pi * sa2 * bg_photons / (photons * pixel_px**2))


def mortensen_mle_variance(sigma_px, photons, bg_photons, pixel_px=1.0, excess_noise=1.0, n_points=2000):
    """Variance (px^2) that a maximum-likelihood estimator reaches (Mortensen's eq. 5).

    var = F * sa^2 / N * (1 + int_0^1 ln(t) / (1 + t / tau) dt)^-1,
    tau = 2 pi sa^2 b / (N a^2).
    """
    sigma_px, photons, bg_photons = np.broadcast_arrays(
        np.asarray(sigma_px, float), np.asarray(photons, float), np.asarray(bg_photons, float)
    )
    sa2 = sigma_px**2 + pixel_px**2 / 12.0
    tau = 2.0 * np.pi * sa2 * bg_photons / (photons * pixel_px**2)
    # Midpoint rule on t in (0, 1]; ln(t) is integrable at 0.
    t = (np.arange(n_points) + 0.5) / n_points
    tau_ = np.maximum(tau[..., None], 1e-300)
    integral = np.mean(np.log(t) / (1.0 + t / tau_), axis=-1)
    integral = np.where(tau > 0, integral, 0.0)
    return excess_noise * sa2 / photons / (1.0 + integral)
