"""Camera counts to photons, and the noise factor of the camera's amplification."""

import numpy as np


def counts_to_photons(counts, baseline, sensitivity, em_gain=1.0):
    """Convert camera counts to detected photons.

    photons = (counts - baseline) * sensitivity / em_gain

    Parameters
    ----------
    counts : array_like
        Camera counts (ADU).
    baseline : float
        Camera offset in counts.
    sensitivity : float
        Electrons per count (the camera's conversion factor).
    em_gain : float
        EM gain (1 for conventional amplification).

    Returns
    -------
    numpy.ndarray of float32
        Photons. Quantum efficiency is not applied (it is kept in metadata only, as in
        Picasso).
    """
    if em_gain <= 0:
        raise ValueError(f"EM gain must be positive, got {em_gain}")
    if sensitivity <= 0:
        raise ValueError(f"sensitivity must be positive, got {sensitivity}")
    scale = np.float32(sensitivity / em_gain)
    return (np.asarray(counts, dtype=np.float32) - np.float32(baseline)) * scale


def excess_noise_factor(em_gain):
    """Variance factor of the gain register: 2 for EM gain > 1, else 1."""
    return 2.0 if em_gain > 1 else 1.0
