"""npe2 writer contributions: a points layer of localizations as ``_locs.hdf5``/``.yaml``,
as a ThunderSTORM CSV or as an ``.smlm`` file.

The structured array is rebuilt from the layer: ``frame``, ``x``, ``y`` from the data
columns (frame, y, x), every feature as a field in the features' order (which is the
order of the file the layer was read from), with the features' dtypes. The layer's YAML
documents are kept and one document recording this save is appended. Rows Picasso's
loader would drop (NaN, outside the image, negative precision ...) are not written.
"""

import warnings
from pathlib import Path

import numpy as np

from . import __version__
from .core.localizations import BASE_FIELDS, valid_rows
from .io.errors import ParameterError
from .io.locs import info_pixelsize_nm, save_locs
from .io.smlm import write_smlm
from .io.thunderstorm import write_thunderstorm_csv

LAYER_KEY = "napari_picasso"
_KNOWN_DTYPES = dict(BASE_FIELDS)


def _features_table(features):
    """Features (a pandas DataFrame or a dict of arrays) as ``{name: numpy array}``."""
    if features is None:
        return {}
    if hasattr(features, "columns"):
        return {str(name): np.asarray(features[name]) for name in features.columns}
    return {str(name): np.asarray(values) for name, values in dict(features).items()}


def layer_to_locs(data, features):
    """Rebuild the structured localization array from points data (frame, y, x) + features."""
    data = np.asarray(data, dtype=np.float64).reshape(-1, 3) if len(data) else np.zeros((0, 3))
    table = _features_table(features)
    fields = [("frame", "u4"), ("x", "f4"), ("y", "f4")]
    for name, values in table.items():
        if name in ("frame", "x", "y"):
            continue
        dtype = values.dtype if values.dtype.kind in "uifb" else np.dtype(_KNOWN_DTYPES.get(name, "f4"))
        fields.append((name, dtype))
    locs = np.zeros(len(data), dtype=fields)
    locs["frame"] = np.rint(data[:, 0]).astype(np.uint32)
    locs["y"] = data[:, 1]
    locs["x"] = data[:, 2]
    for name, _ in fields[3:]:
        values = table[name]
        if len(values) != len(data):
            raise ParameterError(f"feature {name!r} has {len(values)} values for {len(data)} points")
        locs[name] = values
    return locs


def _movie_document(locs, info):
    if info and all(k in info[0] for k in ("Width", "Height", "Frames")):
        return list(info)
    width = int(np.ceil(locs["x"].max())) + 1 if len(locs) else 1
    height = int(np.ceil(locs["y"].max())) + 1 if len(locs) else 1
    frames = int(locs["frame"].max()) + 1 if len(locs) else 1
    return [{"Width": width, "Height": height, "Frames": frames}] + list(info or [])


def _layer_meta(path, meta):
    layer_meta = (meta.get("metadata") or {}).get(LAYER_KEY, {})
    if layer_meta.get("role") == "z":
        # its first axis is z / pixel size, not the frame: written as locs it would be wrong
        raise RuntimeError(
            f"{path.name}: layer {meta.get('name', '')!r} is a 3D view (z, y, x) of "
            "localizations; save their points layer (frame, y, x) instead."
        )
    return layer_meta


def _valid_sorted(path, locs, info):
    keep = valid_rows(locs, info[0]["Width"], info[0]["Height"])
    if not keep.all():
        warnings.warn(
            f"{path.name}: {int((~keep).sum())} points outside the image or with invalid "
            "values were not written (Picasso would drop them).",
            stacklevel=3,
        )
        locs = locs[keep]
    return locs[np.argsort(locs["frame"], kind="stable")]


def _write_in_nm(path, data, meta, writer):
    """A points layer through a writer of a format in nm (ThunderSTORM CSV, .smlm)."""
    layer_meta = _layer_meta(path, meta)
    locs = layer_to_locs(data, meta.get("features"))
    info = _movie_document(locs, layer_meta.get("info") or [])
    source = layer_meta.get("locs_path")
    if source is not None and Path(source).resolve() == path.resolve():
        raise FileExistsError(
            f"{path}: this layer was read from it and inputs are never overwritten; save under a new name."
        )
    pixelsize_nm = info_pixelsize_nm(info)
    if pixelsize_nm is None:
        from ._reader import ask_pixelsize

        pixelsize_nm = ask_pixelsize(path)
    if not pixelsize_nm:
        # not a ValueError: napari would report that as "no writer" and hide the reason
        raise RuntimeError(
            f"{path.name}: this format stores nm and the layer's localizations do not say the camera "
            "pixel size; give it when asked (or save as .hdf5)."
        )
    writer(path, _valid_sorted(path, locs, info), pixelsize_nm=pixelsize_nm)
    return [str(path)]


def write_thunderstorm(path, data, meta):
    """npe2 single-layer writer: a points layer as a ThunderSTORM CSV (nm, frames from 1).

    Returns
    -------
    list of str
        The path written.
    """
    path = Path(path)
    if path.suffix.lower() != ".csv":
        path = path.with_suffix(".csv")
    return _write_in_nm(path, data, meta, write_thunderstorm_csv)


def write_smlm_file(path, data, meta):
    """npe2 single-layer writer: a points layer as an ``.smlm`` file (ShareLoc).

    Returns
    -------
    list of str
        The path written.
    """
    path = Path(path)
    if path.suffix.lower() != ".smlm":
        path = path.with_suffix(".smlm")
    return _write_in_nm(path, data, meta, write_smlm)


def write_locs(path, data, meta):
    """npe2 single-layer writer: save a points layer as ``path`` (.hdf5) + ``.yaml``.

    Returns
    -------
    list of str
        The paths written.
    """
    path = Path(path)
    if path.suffix.lower() != ".hdf5":
        path = path.with_suffix(".hdf5")
    layer_meta = _layer_meta(path, meta)
    locs = layer_to_locs(data, meta.get("features"))
    info = _movie_document(locs, layer_meta.get("info") or [])
    source = layer_meta.get("locs_path")
    if source is not None and Path(source).resolve() == path.resolve():
        # not a ValueError: napari would report that as "no writer" and hide the reason
        raise FileExistsError(
            f"{path}: this layer was read from it and inputs are never overwritten; save under a new name."
        )
    locs = _valid_sorted(path, locs, info)
    info = info + [
        {
            "Generated by": f"napari-picasso {__version__} (napari writer)",
            "Saved from layer": str(meta.get("name", "")),
            "Localizations": int(len(locs)),
        }
    ]
    save_locs(path, locs, info)
    return [str(path), str(path.with_suffix(".yaml"))]
