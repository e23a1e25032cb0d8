"""Picasso's ``.raw`` movies: headerless frames described by a ``.yaml`` beside them."""

import threading
from pathlib import Path

import numpy as np
import yaml

from .atomic import replacing
from .axes import resolve_axes
from .errors import InputFileError
from .movie import Movie

RAW_KEYS = ("Width", "Height", "Frames", "Data Type", "Byte Order")


def raw_info_path(path):
    """The ``.yaml`` that describes a ``.raw`` movie: same name, ``.yaml`` ending."""
    return Path(path).with_suffix(".yaml")


def read_raw_info(path):
    """The movie document of a ``.raw`` movie's ``.yaml``, checked for the needed keys."""
    path = Path(path)
    info_path = raw_info_path(path)
    if not info_path.exists():
        raise InputFileError(
            path,
            f"no {info_path.name} beside the movie, so its size and type are unknown.",
            fix=f"write {info_path.name} with the keys {', '.join(RAW_KEYS)} "
            "(e.g. 'Width: 128', 'Data Type: uint16', 'Byte Order: <').",
        )
    try:
        with open(info_path) as f:
            info = next(iter(yaml.safe_load_all(f)), None)
    except yaml.YAMLError as error:
        raise InputFileError(info_path, f"is not valid YAML ({error}).") from None
    except UnicodeDecodeError as error:
        raise InputFileError(info_path, f"is not a text file ({error}).") from None
    if not isinstance(info, dict):
        raise InputFileError(info_path, "does not hold a mapping of movie keys.")
    missing = [k for k in RAW_KEYS if k not in info]
    if missing:
        raise InputFileError(info_path, f"lacks {', '.join(missing)}.", fix=f"add {', '.join(missing)} to it.")
    return info


def write_raw_info(path, width, height, frames, data_type="uint16", byte_order="<", **extra):
    """Write the ``.yaml`` beside a ``.raw`` movie (written to a temporary name first)."""
    info = {
        "Width": int(width),
        "Height": int(height),
        "Frames": int(frames),
        "Data Type": str(np.dtype(data_type).name),
        "Byte Order": byte_order,
        **extra,
    }
    target = raw_info_path(path)
    with replacing(target) as part, open(part, "w") as f:
        yaml.safe_dump(info, f, sort_keys=False)
    return target


def check_raw_size(path, width, height, frames, file_dtype, described_by=None, fix=None):
    """Raise :class:`InputFileError` unless ``path`` holds exactly the movie described.

    Width x Height x Frames x bytes per pixel must be the file's size: a smaller file is
    truncated (or still being written), a larger one is described wrongly (a wrong Width,
    or Frames short of the real count), never a longer movie read in part.

    Used on opening (the ``.yaml`` describes it) and before a description is written (the
    napari dialog gives ``described_by`` and a ``fix``, in which ``{frames_held}`` stands
    for the whole frames the file holds), so a wrong description is refused instead of
    being saved beside the movie.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> movie = pathlib.Path(tempfile.mkdtemp()) / "m.raw"
    >>> _ = movie.write_bytes(bytes(2 * 4 * 4 * 3))
    >>> check_raw_size(movie, 4, 4, 3, "uint16")  # exact: no error
    >>> check_raw_size(movie, 4, 4, 2, "uint16")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    napari_picasso.io.errors.InputFileError: ...m.raw: holds 96 bytes but m.yaml describes 2 frames...
    """
    path = Path(path)
    file_dtype = np.dtype(file_dtype)
    frame_bytes = int(width) * int(height) * file_dtype.itemsize
    expected = frame_bytes * int(frames)
    size = path.stat().st_size
    if size == expected:
        return
    wrong = "the description" if described_by else "the .yaml"
    described = (
        f"holds {size} bytes but {described_by or raw_info_path(path).name} describes {frames} "
        f"frames of {width}x{height} {file_dtype.name} ({expected} bytes)"
    )
    frames_held = size // max(1, frame_bytes)
    if size < expected:
        raise InputFileError(
            path,
            f"{described}; the movie is truncated or {wrong} is wrong.",
            fix=(
                fix
                or "correct Frames/Width/Height/Data Type in the .yaml, or wait until the "
                "acquisition has finished writing."
            ).format(frames_held=frames_held),
        )
    whole = "" if size % max(1, frame_bytes) else f" (the file holds {frames_held} whole frames of that size)"
    raise InputFileError(
        path,
        f"{described}: the file is larger than described, so {wrong} is wrong{whole}.",
        fix=(fix or "correct Frames/Width/Height/Data Type in the .yaml so that they describe the whole file.").format(
            frames_held=frames_held
        ),
    )


class RawMovie(Movie):
    """A flat binary movie described by a same-named ``.yaml``.

    ``frames`` reads that many frames instead of the ``.yaml``'s ``Frames`` (the frames a
    movie still being written holds so far, :mod:`napari_picasso.io.follow`).
    """

    def __init__(self, path, *, frames=None):
        path = Path(path)
        info = read_raw_info(path)
        try:
            width, height = int(info["Width"]), int(info["Height"])
            n_frames = int(info["Frames"] if frames is None else frames)
            file_dtype = np.dtype(str(info["Data Type"])).newbyteorder(str(info["Byte Order"]))
        except (TypeError, ValueError) as error:
            raise InputFileError(raw_info_path(path), f"has an unusable value: {error}.") from None
        if frames is None:  # a movie being written holds more: the frames given are complete
            check_raw_size(path, width, height, n_frames, file_dtype)
        super().__init__(path, (n_frames, height, width), file_dtype, info)
        self._file_dtype = file_dtype
        self._frame_items = width * height
        self._file = open(path, "rb")
        # napari's slicing and a localization worker may read from different threads
        self._lock = threading.Lock()

    def _read(self, start, stop):
        # pread-style reads keep memory flat (a memmap would leave every touched page
        # resident in this process).
        count = (stop - start) * self._frame_items
        with self._lock:
            self._file.seek(start * self._frame_items * self._file_dtype.itemsize)
            data = np.fromfile(self._file, dtype=self._file_dtype, count=count)
        return data.astype(self.dtype, copy=False)

    def close(self):
        self._file.close()


def is_raw(path):
    """True for a ``.raw`` path (its ``.yaml`` is checked when it is opened)."""
    return path.suffix.lower() == ".raw"


def open_raw(path, **choices):
    """A :class:`RawMovie`; ``choices`` must be empty (a ``.raw`` movie has no axes)."""
    resolve_axes(path, {}, choices)
    return RawMovie(path)
