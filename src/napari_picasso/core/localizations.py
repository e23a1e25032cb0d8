"""The localization table: Picasso's ``locs`` record layout.

Coordinates are camera pixels with the centre of the top-left pixel at (0, 0); x is the
column and y the row. Field names, types and order follow the shared locs-format spec so
that files open in Picasso unchanged.
"""

import numpy as np

BASE_FIELDS = [
    ("frame", "u4"),
    ("x", "f4"),
    ("y", "f4"),
    ("photons", "f4"),
    ("sx", "f4"),
    ("sy", "f4"),
    ("bg", "f4"),
    ("lpx", "f4"),
    ("lpy", "f4"),
    ("ellipticity", "f4"),
    ("net_gradient", "f4"),
]

MLE_FIELDS = [
    ("log_likelihood", "f4"),
    ("iterations", "u4"),
    ("photons_unc", "f4"),
    ("bg_unc", "f4"),
    ("sx_unc", "f4"),
    ("sy_unc", "f4"),
]

Z_FIELDS = [("z", "f4"), ("d_zcalib", "f4"), ("lpz", "f4")]

LINK_FIELDS = [("len", "u4"), ("n", "u4"), ("photon_rate", "f4")]

GROUP_FIELDS = [("group", "i4")]

BASE_DTYPE = np.dtype(BASE_FIELDS)
MLE_DTYPE = np.dtype(BASE_FIELDS + MLE_FIELDS)

# Fields Picasso's loader rejects when negative.
NON_NEGATIVE_FIELDS = ("lpx", "lpy", "photons", "sx", "sy", "ellipticity")


def ellipticity(sx, sy):
    """(max(sx, sy) - min(sx, sy)) / max(sx, sy), elementwise."""
    sx = np.asarray(sx, dtype=np.float32)
    sy = np.asarray(sy, dtype=np.float32)
    larger = np.maximum(sx, sy)
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((larger - np.minimum(sx, sy)) / larger).astype(np.float32)


def valid_rows(locs, width, height):
    """Boolean mask of rows that Picasso's loader keeps.

    A row is dropped when any float field is NaN/inf, the position lies outside
    ``0 <= x < width`` and ``0 <= y < height``, or one of ``lpx, lpy, photons, sx, sy,
    ellipticity`` is negative.
    """
    keep = np.ones(len(locs), dtype=bool)
    for name in locs.dtype.names:
        if locs.dtype[name].kind == "f":
            keep &= np.isfinite(locs[name])
    for name in NON_NEGATIVE_FIELDS:
        if name in locs.dtype.names:
            keep &= locs[name] >= 0
    keep &= (locs["x"] >= 0) & (locs["x"] < width) & (locs["y"] >= 0) & (locs["y"] < height)
    return keep


def empty_locs(dtype=MLE_DTYPE):
    """A zero-row localization table of ``dtype``."""
    return np.zeros(0, dtype=dtype)
