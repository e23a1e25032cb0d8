"""3D calibration files: ``<beads movie>_3d_calib.yaml``.

One YAML document (a mapping) with Picasso's keys: ``X Coefficients`` and
``Y Coefficients`` (lists of 7 numbers, highest power first, z in stage nm, widths in
camera px), ``Number of frames``, ``Step size in nm``, ``Magnification factor``, ``Path``
and ``Frame bounds``; Picasso loads it as a plain mapping, so keys it does not know (our
``Calibrated range (nm)``) do no harm. Written to a temporary name and renamed when
complete.
"""

from pathlib import Path

import yaml

from .atomic import replacing
from .errors import InputFileError
from .metadata import plain

CALIBRATION_SUFFIX = "_3d_calib.yaml"


def calibration_path_for(movie_path, folder=None):
    """``<movie stem>_3d_calib.yaml`` beside the movie (or in ``folder``)."""
    from .locs import locs_path_for

    return locs_path_for(movie_path, suffix=CALIBRATION_SUFFIX[:-5], folder=folder).with_suffix(".yaml")


def save_calibration(path, calibration):
    """Write a calibration dict (see :mod:`napari_picasso.core.zfit`) to ``path``."""
    path = Path(path)
    with replacing(path) as part, open(part, "w", encoding="utf-8") as f:
        yaml.safe_dump(plain(calibration), f, default_flow_style=False, sort_keys=False)
    return path


def load_calibration(path):
    """Read a 3D calibration written here or by Picasso.

    Raises
    ------
    InputFileError
        When the file is missing, is not one YAML mapping or lacks 7 X and Y coefficients.
    """
    path = Path(path)
    fix = "choose the _3d_calib.yaml written by 'napari-picasso calibrate-z' or Picasso's Calibrate 3D."
    if not path.is_file():
        raise InputFileError(path, "the 3D calibration file does not exist.", fix)
    try:
        with open(path, encoding="utf-8") as f:
            documents = [d for d in yaml.safe_load_all(f) if d is not None]
    except yaml.YAMLError as error:
        raise InputFileError(path, f"not a readable YAML file ({error}).", fix) from None
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise InputFileError(
            path,
            f"a 3D calibration is one YAML mapping; this file holds {len(documents)} document(s) (a _locs.yaml?).",
            fix,
        )
    calibration = documents[0]
    for key in ("X Coefficients", "Y Coefficients"):
        value = calibration.get(key)
        if not isinstance(value, list) or len(value) != 7 or not all(isinstance(v, (int, float)) for v in value):
            raise InputFileError(
                path, f"'{key}' must be a list of 7 numbers (a degree-6 polynomial, highest power first).", fix
            )
    magnification = calibration.get("Magnification factor", 0.79)
    if not isinstance(magnification, (int, float)) or magnification <= 0:
        raise InputFileError(path, f"'Magnification factor' must be a positive number; got {magnification!r}.", fix)
    return calibration
