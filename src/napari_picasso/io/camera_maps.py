"""Per-pixel camera maps of an sCMOS camera: offset, readout variance and gain.

Units (the camera's own, as Picasso 0.11 stores them, so a calibration does not depend
on any analysis setting):

- ``offset``: counts (ADU), the dark level of each pixel;
- ``variance``: counts^2 (ADU^2), the readout variance of each pixel (a dark movie's
  temporal variance);
- ``gain``: counts per photoelectron (ADU/e-), optional; without it the scalar
  ``sensitivity`` (electrons per count) applies to every pixel. A flat-field (relative
  response) correction can be folded into it.

Files:

- HDF5 (``.hdf5``, ``.h5``; Picasso 0.11's camera-calibration layout, conventionally
  ``*_scmos_calib.hdf5``): float32 datasets ``offset``, ``variance`` and optionally
  ``gain`` at the root, and a JSON string of metadata in the file attribute ``metadata``;
- ``.npz``: arrays named ``offset``, ``variance`` and optionally ``gain``;
- ``.npy`` or ``.tif``/``.tiff``: one stack of 2 or 3 planes ``(planes, height, width)``
  in the order offset, variance, gain.

Maps cover the movie frame (same height and width as the movie) or the whole sensor: a
calibration of the full sensor applies to a movie acquired with a camera ROI once it is
cut to that ROI (:func:`crop_to_movie`), at the origin the movie's metadata records
(Micro-Manager's ``ROI``, see :func:`~napari_picasso.io.metadata.camera_roi`) or the
user gives. Maps are checked against the movie (and the analysis ROI) before any spot
is cut.
"""

import dataclasses
import json
from pathlib import Path

import numpy as np

from .atomic import replacing
from .errors import InputFileError

MAP_NAMES = ("offset", "variance", "gain")
HDF5_SUFFIXES = (".hdf5", ".h5")


@dataclasses.dataclass
class CameraMaps:
    """Per-pixel maps, float32 ``(height, width)``; see the module docstring for units."""

    offset: np.ndarray
    variance: np.ndarray
    gain: np.ndarray | None = None
    path: Path | None = None
    metadata: dict = dataclasses.field(default_factory=dict)
    origin: tuple | None = None  # (y, x) of these maps in the file's maps, when cut to a camera ROI

    @property
    def shape(self):
        return self.offset.shape

    def photons_per_count(self, sensitivity=1.0, em_gain=1.0):
        """Per-pixel factor from counts above offset to photons."""
        if self.gain is not None:
            return (1.0 / (self.gain * np.float32(em_gain))).astype(np.float32)
        return np.full(self.shape, sensitivity / em_gain, dtype=np.float32)

    def read_variance_photons(self, sensitivity=1.0, em_gain=1.0):
        """Readout variance in photons^2: variance (counts^2) times photons_per_count^2."""
        return (self.variance * self.photons_per_count(sensitivity, em_gain) ** 2).astype(np.float32)


def _from_stack(path, stack):
    stack = np.asarray(stack)
    if stack.ndim != 3 or stack.shape[0] not in (2, 3):
        raise InputFileError(
            path,
            f"holds an array shaped {stack.shape}, not a stack of 2 or 3 maps.",
            fix="save a (2 or 3, height, width) stack in the order offset, variance, gain, "
            "or use an .npz or HDF5 file with named maps.",
        )
    return {name: stack[i] for i, name in enumerate(MAP_NAMES[: stack.shape[0]])}, {}


def _read(path):
    suffix = path.suffix.lower()
    if suffix in HDF5_SUFFIXES:
        import h5py

        with h5py.File(path, "r") as f:
            maps = {name: f[name][()] for name in MAP_NAMES if name in f}
            raw = f.attrs.get("metadata")
        metadata = {}
        if raw is not None:
            try:
                metadata = json.loads(raw)
            except (TypeError, ValueError):
                metadata = {}
        return maps, metadata if isinstance(metadata, dict) else {}
    if suffix == ".npz":
        with np.load(path) as data:
            return {name: data[name] for name in MAP_NAMES if name in data.files}, {}
    if suffix == ".npy":
        return _from_stack(path, np.load(path, allow_pickle=False))
    if suffix in (".tif", ".tiff"):
        import tifffile

        return _from_stack(path, tifffile.imread(path))
    raise InputFileError(
        path,
        f"is not a camera-map file I can read (suffix {suffix!r}).",
        fix="use .hdf5/.h5 (Picasso's camera calibration), .npz, .npy or .tif.",
    )


def load_camera_maps(path):
    """Read and check camera maps from a file (see the module docstring for formats).

    Raises
    ------
    InputFileError
        When the file is missing or unreadable, lacks the offset or variance map, or a map
        has the wrong shape, NaN or infinite values, a negative variance or a gain <= 0.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(
            path, "camera-map file not found.", fix="give the file written by 'napari-picasso camera-calibrate'."
        )
    try:
        maps, metadata = _read(path)
    except InputFileError:
        raise
    except Exception as error:  # noqa: BLE001 - any reader failure is a bad file for the user
        raise InputFileError(path, f"cannot be read as camera maps ({error}).") from None
    missing = [name for name in ("offset", "variance") if name not in maps]
    if missing:
        raise InputFileError(
            path,
            f"has no {' and no '.join(missing)} map.",
            fix="a calibration needs an offset and a variance map; make one from a dark movie with "
            "'napari-picasso camera-calibrate DARK_MOVIE'.",
        )
    shape = np.shape(maps["offset"])
    arrays = {}
    for name, values in maps.items():
        values = np.asarray(values)
        if values.ndim != 2:
            raise InputFileError(path, f"the {name} map has {values.ndim} dimensions, not 2.")
        if values.shape != shape:
            raise InputFileError(
                path,
                f"the {name} map is {values.shape[0]}x{values.shape[1]} but the offset map is {shape[0]}x{shape[1]}.",
                fix="all maps must cover the same pixels.",
            )
        arrays[name] = np.ascontiguousarray(values, dtype=np.float32)
    maps = CameraMaps(arrays["offset"], arrays["variance"], arrays.get("gain"), path, metadata)
    check_values(maps)
    return maps


DARK_FIX = "recompute the calibration from a dark movie with 'napari-picasso camera-calibrate'."
# A dark movie gives no gain: that needs bright movies (a photon-transfer curve).
GAIN_FIX = (
    "recompute the gain map from bright movies (Picasso's sCMOS calibration with a bright series), "
    "or remove it from the file to use the scalar sensitivity (--sensitivity) for every pixel."
)


def check_values(maps):
    """Raise InputFileError for NaN/infinite maps, negative variances or gains <= 0."""
    path = maps.path or "<camera maps>"
    for name in MAP_NAMES:
        values = getattr(maps, name)
        if values is None:
            continue
        bad = ~np.isfinite(values)
        if bad.any():
            y, x = np.argwhere(bad)[0]
            raise InputFileError(
                path,
                f"the {name} map has {int(bad.sum())} NaN or infinite values (first at y={y}, x={x}).",
                fix=GAIN_FIX if name == "gain" else DARK_FIX,
            )
    negative = maps.variance < 0
    if negative.any():
        y, x = np.argwhere(negative)[0]
        raise InputFileError(
            path,
            f"the variance map has {int(negative.sum())} negative values (first at y={y}, x={x}); "
            "a variance is never negative.",
            fix=DARK_FIX,
        )
    if maps.gain is not None and (maps.gain <= 0).any():
        y, x = np.argwhere(maps.gain <= 0)[0]
        raise InputFileError(
            path,
            f"the gain map has {int((maps.gain <= 0).sum())} values <= 0 (first at y={y}, x={x}); gains "
            "are counts per photoelectron and always positive.",
            fix=GAIN_FIX,
        )


def check_against_movie(maps, movie_shape, roi=None, movie_name="movie"):
    """Raise InputFileError unless the maps cover the movie's frames (and the ROI).

    ``movie_shape`` is ``(frames, height, width)`` or ``(height, width)``.
    """
    height, width = movie_shape[-2:]
    map_height, map_width = maps.shape
    if (map_height, map_width) != (height, width):
        raise InputFileError(
            maps.path or "<camera maps>",
            f"the maps are {map_height}x{map_width} pixels but {movie_name}'s frames are {height}x{width}.",
            fix="use maps calibrated with the same camera ROI and binning as the movie "
            "('napari-picasso camera-calibrate' on a dark movie recorded with those settings), "
            "or full-sensor maps with the ROI's origin (--camera-maps-origin Y X).",
        )
    if roi is not None:
        y0, x0, y1, x1 = roi
        if not (0 <= y0 < y1 <= map_height and 0 <= x0 < x1 <= map_width):
            raise InputFileError(
                maps.path or "<camera maps>", f"the ROI {tuple(roi)} lies outside the {map_height}x{map_width} maps."
            )


ORIGIN_FIX = (
    "give the position of the movie's camera ROI on the sensor (its top-left pixel "
    "in the maps): --camera-maps-origin Y X on the command line, "
    "LocalizeParameters(camera_maps_origin=(y, x)), or 'maps origin (y x)' in the Localize dock."
)


def roi_origin(metadata, frame_shape):
    """``(y, x)`` of the movie's frames on the sensor from its metadata's camera ROI, or None.

    Only a recorded ROI of the movie's own frame size counts (another size belongs to
    other settings, e.g. binning).
    """
    roi = (metadata or {}).get("Camera ROI")
    if not isinstance(roi, dict):
        return None
    try:
        x, y, width, height = (int(roi[k]) for k in ("x", "y", "width", "height"))
    except (KeyError, TypeError, ValueError):
        return None
    if (height, width) != tuple(frame_shape):
        return None
    return y, x


def crop_to_movie(maps, frame_shape, origin=None, metadata=None, movie_name="movie"):
    """Maps cut to a movie's frames (full-sensor maps, a movie with a camera ROI).

    Parameters
    ----------
    maps : CameraMaps
    frame_shape : tuple of int
        ``(height, width)`` of the movie's frames.
    origin : tuple of int, optional
        ``(y, x)`` of the movie's top-left pixel in the maps; wins over the metadata.
    metadata : dict, optional
        The movie's metadata; its ``Camera ROI`` gives the origin when ``origin`` is None.

    Returns
    -------
    CameraMaps
        ``maps`` itself when they match the frames and no origin is given, else the cut,
        with ``origin`` set.

    Raises
    ------
    InputFileError
        Maps smaller than the frames, an origin that puts the frames outside the maps,
        or larger maps with no origin from the metadata or the caller (the message says
        which option to give).
    """
    height, width = (int(n) for n in frame_shape)
    map_height, map_width = maps.shape
    where = maps.path or "<camera maps>"
    source = "the given origin"
    if origin is None:
        if (map_height, map_width) == (height, width):
            return maps
        origin = roi_origin(metadata, (height, width))
        source = f"the camera ROI in {movie_name}'s metadata"
    if map_height < height or map_width < width:
        raise InputFileError(
            where,
            f"the maps are {map_height}x{map_width} pixels, smaller than {movie_name}'s {height}x{width} frames.",
            fix="use maps calibrated on the whole sensor, or with the movie's camera ROI and binning "
            "('napari-picasso camera-calibrate' on a dark movie recorded with those settings).",
        )
    if origin is None:
        raise InputFileError(
            where,
            f"the maps are {map_height}x{map_width} pixels (the full sensor?) but {movie_name}'s "
            f"frames are {height}x{width}, and its metadata records no camera ROI of that size to cut "
            "the maps to.",
            fix=ORIGIN_FIX,
        )
    y0, x0 = (int(v) for v in origin)
    if not (0 <= y0 and 0 <= x0 and y0 + height <= map_height and x0 + width <= map_width):
        raise InputFileError(
            where,
            f"{movie_name}'s {height}x{width} frames at origin (y, x) = ({y0}, {x0}) ({source}) lie "
            f"outside the {map_height}x{map_width} maps.",
            fix=f"check the origin; it must satisfy 0 <= y <= {map_height - height} and 0 <= x <= {map_width - width}.",
        )
    window = (slice(y0, y0 + height), slice(x0, x0 + width))

    def cut(values):
        return None if values is None else np.ascontiguousarray(values[window])

    return dataclasses.replace(
        maps, offset=cut(maps.offset), variance=cut(maps.variance), gain=cut(maps.gain), origin=(y0, x0)
    )


def save_camera_maps(path, offset, variance, gain=None, metadata=None):
    """Write maps as HDF5 in Picasso 0.11's camera-calibration layout (temp name, then rename).

    Returns
    -------
    pathlib.Path
    """
    import h5py

    path = Path(path)
    with replacing(path) as part, h5py.File(part, "w") as f:
        for name, values in (("offset", offset), ("variance", variance), ("gain", gain)):
            if values is not None:
                f.create_dataset(name, data=np.ascontiguousarray(values, dtype=np.float32))
        f.attrs["metadata"] = json.dumps(metadata or {}, default=_json_default)
    return path


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def calibration_path_for(movie_path, folder=None):
    """``<stem>_scmos_calib.hdf5`` beside the dark movie (or in ``folder``)."""
    movie_path = Path(movie_path)
    folder = Path(folder) if folder is not None else movie_path.parent
    return folder / f"{movie_path.stem}_scmos_calib.hdf5"


def dark_movie_maps(movie, chunk_frames=256, progress=None):
    """Offset (temporal mean, counts) and readout variance (temporal variance, counts^2).

    Streams the movie in chunks (memory bounded by ``chunk_frames``), merging the
    chunks' means and sums of squared deviations (Chan et al.'s pairwise update), which
    stays accurate for large offsets.

    Returns
    -------
    offset, variance : numpy.ndarray
        float32 ``(height, width)``.
    """
    n_frames, height, width = movie.shape
    if n_frames < 2:
        raise InputFileError(
            getattr(movie, "path", "<movie>"),
            f"has {n_frames} frame; a dark movie needs at least 2 (hundreds or more for a good variance map).",
        )
    count = 0
    mean = np.zeros((height, width), dtype=np.float64)
    m2 = np.zeros((height, width), dtype=np.float64)
    for start in range(0, n_frames, chunk_frames):
        stop = min(n_frames, start + chunk_frames)
        block = np.asarray(movie[start:stop], dtype=np.float64)
        n_b = len(block)
        mean_b = block.mean(axis=0)
        m2_b = ((block - mean_b) ** 2).sum(axis=0)
        delta = mean_b - mean
        total = count + n_b
        mean += delta * (n_b / total)
        m2 += m2_b + delta**2 * (count * n_b / total)
        count = total
        if progress is not None:
            progress(stop, n_frames)
    return mean.astype(np.float32), (m2 / (count - 1)).astype(np.float32)
