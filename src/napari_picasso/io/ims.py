"""Imaris ``.ims`` movies (HDF5), read with h5py on every operating system.

Layout: ``DataSet/ResolutionLevel <r>/TimePoint <t>/Channel <c>/Data`` holds a (z, y, x)
block per time point and channel, possibly padded beyond the image; the image size is in
the channel group's ``ImageSizeX/Y/Z`` attributes (or ``DataSetInfo/Image`` ``X/Y/Z``).
Attributes are stored as arrays of single characters. Frames run along time (or z for a
single time point); ``channel=`` picks a channel, ``level=`` a resolution level (0, full
resolution, by default).
"""

import re
import threading
from pathlib import Path

import h5py
import numpy as np

from .axes import axes_metadata, choose_index, resolve_axes
from .errors import InputFileError, raised_inside
from .movie import Movie

# What h5py raises on damaged files (HDF5 library errors surface as these).
_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)
DAMAGED_FIX = "re-export the file from Imaris (or the acquisition software), or recover it from a backup."


def is_ims(path):
    return path.is_file() and path.suffix.lower() == ".ims"


def attribute_text(value):
    """An Imaris attribute (array of single bytes, bytes or str) as text."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "S":
            return b"".join(value.ravel().tolist()).decode("utf-8", "replace")
        return " ".join(str(v) for v in value.ravel().tolist())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _numbered(group, word):
    """``{n: name}`` of sub-groups named ``<word> <n>``, in numeric order."""
    found = {}
    for name in group:
        match = re.fullmatch(rf"{word} (\d+)", name)
        if match:
            found[int(match.group(1))] = name
    return dict(sorted(found.items()))


def _size(attrs, key):
    try:
        return int(float(attribute_text(attrs[key])))
    except (KeyError, ValueError):
        return None


class ImsMovie(Movie):
    """An Imaris file as a movie.

    Parameters
    ----------
    path : path-like
    **choices
        ``channel=`` (name or index), ``z=``, ``time=``, ``frame_axis=``, ``level=``.
    """

    def __init__(self, path, level=0, **choices):
        path = Path(path)
        try:
            self._file = h5py.File(path, "r")
        except OSError as error:
            raise InputFileError(path, f"is not a readable Imaris (HDF5) file ({error}).") from None
        self._lock = threading.Lock()
        try:
            try:
                metadata, shape, dtype = self._open(path, level, dict(choices))
            except _H5_ERRORS as error:
                if isinstance(error, InputFileError) or not raised_inside(error, "h5py"):
                    raise
                raise InputFileError(
                    path, f"is damaged: its HDF5 structure is unreadable ({error}).", fix=DAMAGED_FIX
                ) from error
            super().__init__(path, shape, dtype, metadata)
        except BaseException:
            self._file.close()
            raise

    def _open(self, path, level, choices):
        f = self._file
        levels = _numbered(f["DataSet"], "ResolutionLevel") if "DataSet" in f else {}
        if not levels:
            raise InputFileError(
                path,
                "holds no image data (no DataSet/ResolutionLevel groups); it is not an Imaris "
                f"image file (top-level groups: {', '.join(f.keys()) or 'none'}).",
            )
        level_index = list(levels)[choose_index(path, "level", list(levels), level)]
        group = f["DataSet"][levels[level_index]]
        times = _numbered(group, "TimePoint")
        if not times:
            raise InputFileError(path, f"holds no time points at resolution level {level_index}.")
        channels = _numbered(group[times[next(iter(times))]], "Channel")
        if not channels:
            raise InputFileError(path, "holds no channels with image data.")
        first = group[times[next(iter(times))]][channels[next(iter(channels))]]
        if "Data" not in first:
            raise InputFileError(path, "holds no 'Data' image block in its first channel.")
        data = first["Data"]
        info = f.get("DataSetInfo/Image")
        info_attrs = info.attrs if info is not None else {}
        z = _size(first.attrs, "ImageSizeZ") or _size(info_attrs, "Z") or data.shape[0]
        height = _size(first.attrs, "ImageSizeY") or _size(info_attrs, "Y") or data.shape[1]
        width = _size(first.attrs, "ImageSizeX") or _size(info_attrs, "X") or data.shape[2]
        if level_index > 0 or z > data.shape[0] or height > data.shape[1] or width > data.shape[2]:
            z, height, width = (min(a, b) for a, b in zip((z, height, width), data.shape))
        channel_labels = []
        for c in channels:
            name_group = f.get(f"DataSetInfo/Channel {c}")
            name = (
                attribute_text(name_group.attrs["Name"])
                if name_group is not None and "Name" in name_group.attrs
                else ""
            )
            channel_labels.append(name or c)
        if len(set(channel_labels)) != len(channel_labels):
            channel_labels = list(channels)
        axes = {"time": list(times), "channel": channel_labels, "z": list(range(z))}
        frame, fixed = resolve_axes(path, axes, choices, frame_axis="time")
        n_frames = len(axes[frame]) if frame else 1
        self._group = group
        self._frames = []
        time_names, channel_names = list(times.values()), list(channels.values())
        for i in range(n_frames):
            index = dict(fixed)
            if frame:
                index[frame] = i
            self._frames.append((f"{time_names[index['time']]}/{channel_names[index['channel']]}/Data", index["z"]))
        self._height, self._width = height, width
        metadata = {
            "Imaris": {k: attribute_text(v) for k, v in info_attrs.items()},
            "Resolution Level": level_index,
            **axes_metadata(axes, frame, fixed),
        }
        try:
            extent = float(metadata["Imaris"]["ExtMax0"]) - float(metadata["Imaris"]["ExtMin0"])
            metadata["Pixel Size (um)"] = extent / width
        except (KeyError, ValueError):
            pass
        return metadata, (n_frames, height, width), data.dtype

    def _read(self, start, stop):
        out = np.empty((stop - start,) + self.shape[1:], dtype=self.dtype)
        h, w = self._height, self._width
        with self._lock:
            i = start
            while i < stop:
                name, z = self._frames[i]
                j = i + 1  # consecutive z planes of one block are read in one call
                while j < stop and self._frames[j][0] == name and self._frames[j][1] == z + (j - i):
                    j += 1
                try:
                    out[i - start : j - start] = self._group[name][z : z + (j - i), :h, :w]
                except _H5_ERRORS as error:
                    if not raised_inside(error, "h5py"):
                        raise
                    raise InputFileError(self.path, f"frames {i}-{j - 1} are unreadable ({error}).") from None
                i = j
        return out

    def close(self):
        self._file.close()
