"""Channel calibrations of an image splitter: ``<beads movie>_channels.yaml``.

One YAML mapping::

    map: {model: poly2, terms: ['1', 'x', 'y', 'x^2', 'x*y', 'y^2'], x: [...], y: [...]}
    rms_residual_nm: 1.9
    splitter: left-right        # how the camera frame is split (and flip: mirrored channel 1)
    flip: false
    camera_width: 256           # the whole camera frame the calibration was made on
    camera_height: 128
    ...

(or ``map: {model: affine, matrix: [[a, b, c], [d, e, f]]}``, ``X = a x + b y + c``). The
map takes channel-1 camera px (of its half, after the flip) to channel-0 camera px.
Written to a temporary name and renamed when complete.
"""

from pathlib import Path

import numpy as np
import yaml

from ..core.channelmap import TERMS
from .atomic import replacing
from .errors import InputFileError
from .metadata import plain

CHANNELS_SUFFIX = "_channels.yaml"
SPLITTERS = ("left-right", "top-bottom")
_FIX = "choose the _channels.yaml written by 'napari-picasso calibrate-channels'."


def channels_path_for(movie_path, folder=None):
    """``<movie stem>_channels.yaml`` beside the movie (or in ``folder``)."""
    movie_path = Path(movie_path)
    return Path(folder or movie_path.parent) / (movie_path.stem + CHANNELS_SUFFIX)


def map_document(cx, cy):
    """The ``map:`` mapping of coefficients ``cx``, ``cy`` (terms order of :data:`TERMS`).

    Examples
    --------
    >>> map_document([3.0, 1.0, 0.0], [4.0, 0.0, 1.0])
    {'model': 'affine', 'matrix': [[1.0, 0.0, 3.0], [0.0, 1.0, 4.0]]}
    """
    cx = [float(v) for v in cx]
    cy = [float(v) for v in cy]
    if len(cx) == 3:
        return {"model": "affine", "matrix": [[cx[1], cx[2], cx[0]], [cy[1], cy[2], cy[0]]]}
    return {"model": "poly2", "terms": list(TERMS["poly2"]), "x": cx, "y": cy}


def map_coefficients(calibration):
    """``(cx, cy)`` arrays of a calibration's map, in the terms order of :data:`TERMS`.

    Examples
    --------
    >>> cx, cy = map_coefficients({"map": map_document([3.0, 1.0, 0.0], [4.0, 0.0, 1.0])})
    >>> cx.tolist(), cy.tolist()
    ([3.0, 1.0, 0.0], [4.0, 0.0, 1.0])
    """
    document = calibration["map"]
    if document["model"] == "affine":
        (a, b, c), (d, e, f) = document["matrix"]
        return np.array([c, a, b], float), np.array([f, d, e], float)
    return np.asarray(document["x"], float), np.asarray(document["y"], float)


def save_channels(path, calibration):
    """Write a channel calibration (a dict in the layout above) to ``path``."""
    path = Path(path)
    with replacing(path) as part, open(part, "w", encoding="utf-8") as f:
        yaml.safe_dump(plain(calibration), f, default_flow_style=None, sort_keys=False)
    return path


def _check_map(path, document):
    if not isinstance(document, dict) or document.get("model") not in TERMS:
        raise InputFileError(path, "'map' must be a mapping with model: affine or model: poly2.", _FIX)
    if document["model"] == "affine":
        matrix = document.get("matrix")
        ok = isinstance(matrix, list) and len(matrix) == 2 and all(isinstance(r, list) and len(r) == 3 for r in matrix)
        if not ok:
            raise InputFileError(path, "an affine map needs matrix: [[a, b, c], [d, e, f]].", _FIX)
        return
    if list(document.get("terms", [])) != list(TERMS["poly2"]):
        raise InputFileError(path, f"a poly2 map lists its terms {list(TERMS['poly2'])}.", _FIX)
    for key in ("x", "y"):
        if not isinstance(document.get(key), list) or len(document[key]) != 6:
            raise InputFileError(path, f"a poly2 map needs 6 coefficients in '{key}'.", _FIX)


def load_channels(path):
    """Read a channel calibration.

    Raises
    ------
    InputFileError
        When the file is missing, not one YAML mapping, or lacks a usable map, splitter
        and camera size.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "the channel calibration file does not exist.", _FIX)
    try:
        with open(path, encoding="utf-8") as f:
            documents = [d for d in yaml.safe_load_all(f) if d is not None]
    except yaml.YAMLError as error:
        raise InputFileError(path, f"not a readable YAML file ({error}).", _FIX) from None
    if len(documents) != 1 or not isinstance(documents[0], dict) or "map" not in documents[0]:
        raise InputFileError(path, "a channel calibration is one YAML mapping with a 'map' key.", _FIX)
    calibration = documents[0]
    _check_map(path, calibration["map"])
    if calibration.get("splitter") not in SPLITTERS:
        raise InputFileError(path, f"'splitter' must be one of {', '.join(SPLITTERS)}.", _FIX)
    for key in ("camera_width", "camera_height"):
        if not isinstance(calibration.get(key), int) or calibration[key] <= 0:
            raise InputFileError(path, f"'{key}' (px of the whole camera frame) must be a positive whole number.", _FIX)
    calibration.setdefault("Path", str(path.resolve()))
    return calibration
