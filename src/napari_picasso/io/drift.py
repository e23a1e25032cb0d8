"""Drift trajectory files: ``<name>_drift.txt``, one line ``x y`` (px) per frame, or
``x y z`` with z in nm for 3D localizations.

The layout Picasso reads and writes: plain text, space-separated, no header, one row
per frame (frame 0 first). Written to a temporary name and renamed when complete.
"""

import os
from pathlib import Path

import numpy as np

from .errors import InputFileError


def drift_path_for(locs_path):
    """``<name>_drift.txt`` beside the localization file ``<name>.hdf5``."""
    locs_path = Path(locs_path)
    return locs_path.with_name(locs_path.stem + "_drift.txt")


def save_drift(path, drift_px):
    """Write an ``(n_frames, 2)`` drift (x, y px) or ``(n_frames, 3)`` (x, y px, z nm) as text."""
    path = Path(path)
    drift_px = np.asarray(drift_px, dtype=np.float64)
    if drift_px.ndim != 2 or drift_px.shape[1] not in (2, 3):
        raise ValueError(f"drift must be (n_frames, 2) or (n_frames, 3), got {drift_px.shape}")
    part = path.with_name(path.name + ".part")
    with open(part, "wb") as f:
        np.savetxt(f, drift_px, fmt="%.6e", newline="\r\n")
    os.replace(part, path)
    return path


def load_drift(path, with_z=False):
    """Read a drift file (ours or Picasso's) as an ``(n_frames, 2)`` array (x, y px), or
    with ``with_z`` all its columns (a third is z, nm)."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "no such file.")
    try:
        drift = np.loadtxt(path, ndmin=2)
    except ValueError as error:
        raise InputFileError(path, f"is not a drift file of numbers ({error}).") from None
    if drift.shape[1] not in (2, 3):
        raise InputFileError(path, f"has {drift.shape[1]} columns; a drift file has x y (z) per frame.")
    return drift if with_z else drift[:, :2]
