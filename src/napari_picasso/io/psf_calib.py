"""Cubic-spline PSF calibrations: ``<beads movie>_spline_calib.hdf5`` in Picasso 0.11's format.

One HDF5 file: the dataset ``coefficients`` (float32; nominal shape ``(64, nix, niy, niz)``
for ``spline-3d``, ``(16, nix, niy)`` for ``spline-2d``, whose C-order buffer reads
``(niz, niy, nix, z power, y power, x power)``) and the file attribute ``metadata``, a
JSON object with the other keys (``model``, ``n_data``, ``n_intervals``, ``z_center``,
``z_init``, ``z_step_nm``, ``magnification_factor``, ``photon_scale``, ``box``,
``pixelsize``, ...). Picasso's ``picasso.io.load_spline_calibration`` opens ours and
:func:`load_psf_calibration` opens Picasso's. Written under a temporary name and renamed
when complete.
"""

import json
from pathlib import Path

import h5py
import numpy as np

from .atomic import replacing
from .errors import InputFileError

PSF_SUFFIX = "_spline_calib"
MODELS = ("spline-3d", "spline-2d")
_FIX = "choose a _spline_calib.hdf5 written by 'napari-picasso calibrate-psf' or Picasso 0.11's spline calibration."


def psf_path_for(movie_path, folder=None):
    """``<movie stem>_spline_calib.hdf5`` beside the movie (or in ``folder``).

    Examples
    --------
    >>> psf_path_for("/data/beads.tif").name
    'beads_spline_calib.hdf5'
    """
    movie_path = Path(movie_path)
    return Path(folder or movie_path.parent) / f"{movie_path.stem}{PSF_SUFFIX}.hdf5"


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def save_psf_calibration(path, calibration):
    """Write a calibration dict (``coefficients`` + JSON-serialisable keys) to ``path``."""
    path = Path(path)
    metadata = {key: _plain(value) for key, value in calibration.items() if key != "coefficients"}
    with replacing(path) as part, h5py.File(part, "w") as f:
        f.create_dataset("coefficients", data=np.ascontiguousarray(calibration["coefficients"], dtype=np.float32))
        f.attrs["metadata"] = json.dumps(metadata)
    return path


def load_psf_calibration(path):
    """Read a spline PSF calibration written here or by Picasso 0.11.

    Returns
    -------
    dict
        The metadata keys, ``coefficients`` (float32, as stored) and ``Path``.

    Raises
    ------
    InputFileError
        Missing file, not HDF5, no ``coefficients`` / ``metadata``, a model other than
        ``spline-3d`` / ``spline-2d``, or coefficients that do not match ``n_intervals``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "the PSF calibration file does not exist.", _FIX)
    try:
        with h5py.File(path, "r") as f:
            if "coefficients" not in f or "metadata" not in f.attrs:
                raise InputFileError(path, "no 'coefficients' dataset and 'metadata' attribute.", _FIX)
            calibration = json.loads(f.attrs["metadata"])
            calibration["coefficients"] = f["coefficients"][()].astype(np.float32)
    except OSError as error:
        raise InputFileError(path, f"not a readable HDF5 file ({error}).", _FIX) from None
    except json.JSONDecodeError as error:
        raise InputFileError(path, f"the metadata is not JSON ({error}).", _FIX) from None
    model = calibration.get("model")
    if model not in MODELS:
        raise InputFileError(path, f"model {model!r} is not supported here (only {' and '.join(MODELS)}).", _FIX)
    n_intervals = [int(n) for n in calibration.get("n_intervals", ())]
    expected = (4 ** len(n_intervals)) * int(np.prod(n_intervals)) if n_intervals else -1
    if len(n_intervals) != (3 if model == "spline-3d" else 2) or calibration["coefficients"].size != expected:
        raise InputFileError(path, "the coefficients do not match n_intervals.", _FIX)
    calibration.setdefault("Path", str(path))
    return calibration


def internal_coefficients(calibration):
    """``(niz, niy, nix, 4, 4, 4)`` float64 coefficients (z, y, x powers) of a calibration dict."""
    c = np.asarray(calibration["coefficients"], dtype=np.float64).ravel()
    n_intervals = [int(n) for n in calibration["n_intervals"]]
    if calibration["model"] == "spline-2d":
        nix, niy = n_intervals
        out = np.zeros((1, niy, nix, 4, 4, 4))
        out[0, :, :, 0] = c.reshape(niy, nix, 4, 4)
        return out
    nix, niy, niz = n_intervals
    return c.reshape(niz, niy, nix, 4, 4, 4)


def stored_coefficients(coeff, model):
    """Picasso's ``coefficients`` array (float32, nominal shape) from ``(niz, niy, nix, 4, 4, 4)``."""
    coeff = np.asarray(coeff)
    niz, niy, nix = coeff.shape[:3]
    if model == "spline-2d":
        return np.ascontiguousarray(coeff[0, :, :, 0], dtype=np.float32).reshape(16, nix, niy)
    return np.ascontiguousarray(coeff, dtype=np.float32).reshape(64, nix, niy, niz)
