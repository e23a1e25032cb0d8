"""Fiducial picks: circles ``(x, y, r)`` in camera pixels, as YAML.

Ours: a list of mappings ``- {x: 12.5, y: 40.2, r: 1.5}`` (what the napari fiducial
points layer saves). Picasso's circular picks (Render's "Save picks") are read as well:
a mapping with ``Centers`` (``[x, y]`` px) and ``Diameter (nm)`` (with the pixel size)
or ``Diameter`` (px, older files). Written to a temporary name and renamed.
"""

from pathlib import Path

import numpy as np
import yaml

from .atomic import replacing
from .errors import InputFileError


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _from_picasso(path, regions, pixelsize_nm):
    shape = regions.get("Shape", "Circle")
    if shape != "Circle":
        raise InputFileError(path, f"holds {shape} picks; fiducials are picked as circles.")
    if "Diameter (nm)" in regions:
        if pixelsize_nm is None:
            raise InputFileError(
                path,
                "gives the pick diameter in nm but the localization file has no Pixelsize.",
                fix="add Pixelsize to the localization file's YAML, or give picks as a list of {x, y, r} in px.",
            )
        radius = float(regions["Diameter (nm)"]) / float(pixelsize_nm) / 2
    elif "Diameter" in regions:
        radius = float(regions["Diameter"]) / 2
    else:
        raise InputFileError(path, "has Centers but no Diameter (nm).")
    return [{"x": c[0], "y": c[1], "r": radius} for c in regions["Centers"] or []]


def load_fiducial_picks(path, width, height, pixelsize_nm=None):
    """Fiducial picks of a YAML file, checked against the camera frame.

    Parameters
    ----------
    path : path-like
        Our ``[{x, y, r}]`` list or Picasso's circular picks.
    width, height : int
        The localization file's frame, px: every centre must lie inside it.
    pixelsize_nm : float, optional
        For Picasso's ``Diameter (nm)``.

    Returns
    -------
    numpy.ndarray
        ``(n, 3)`` x, y, r, px.

    Raises
    ------
    InputFileError
        Missing or malformed file, no picks, a pick outside the frame or with r <= 0.

    Examples
    --------
    >>> load_fiducial_picks("fiducials.yaml", 256, 256)  # doctest: +SKIP
    array([[12.5, 40.2,  1.5]])
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such picks file.")
    try:
        with open(path) as f:
            content = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputFileError(path, f"is not a YAML file ({error}).") from None
    if isinstance(content, dict) and "Centers" in content:
        content = _from_picasso(path, content, pixelsize_nm)
    if not isinstance(content, list) or not content:
        raise InputFileError(
            path,
            "holds no picks.",
            fix="write one line per fiducial: '- {x: 12.5, y: 40.2, r: 1.5}' (px), or save picks in Picasso Render.",
        )
    picks = []
    for number, pick in enumerate(content, 1):
        if not isinstance(pick, dict) or not all(_number(pick.get(key)) for key in ("x", "y", "r")):
            raise InputFileError(path, f"pick {number} ({pick!r}) is not a mapping of numbers x, y and r (px).")
        picks.append((float(pick["x"]), float(pick["y"]), float(pick["r"])))
    return check_fiducial_picks(picks, width, height, path)


def check_fiducial_picks(picks_px, width, height, source="fiducial picks"):
    """``(n, 3)`` x, y, r picks as an array, checked: r > 0, every centre in the frame.

    Raises
    ------
    InputFileError
        Naming ``source`` (the picks file, or what the picks came from).
    """
    picks = np.asarray(picks_px, dtype=np.float64).reshape(-1, 3)
    if len(picks) == 0:
        raise InputFileError(source, "holds no picks.", fix="pick at least one fiducial, or find them automatically.")
    for number, (x, y, r) in enumerate(picks, 1):
        if not r > 0:
            raise InputFileError(source, f"pick {number} has radius {r:g} px; it must be > 0.")
        if not (0 <= x < width and 0 <= y < height):
            raise InputFileError(
                source,
                f"pick {number} at x {x:g}, y {y:g} px lies outside the {width} x {height} px field "
                "of the localizations.",
                fix="pick fiducials on this file's localizations (coordinates in camera pixels, not nm).",
            )
    return picks


def save_fiducial_picks(path, picks_px):
    """Write ``(n, 3)`` x, y, r (px) as our picks YAML; returns the path."""
    path = Path(path)
    picks = [{"x": float(x), "y": float(y), "r": float(r)} for x, y, r in np.asarray(picks_px).reshape(-1, 3)]
    with replacing(path) as part, open(part, "w") as f:
        yaml.safe_dump(picks, f, sort_keys=False, default_flow_style=None)
    return path
