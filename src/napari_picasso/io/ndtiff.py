"""NDTiff datasets (Micro-Manager 2 / pycro-manager), versions 2 and 3, via ``ndstorage``.

A dataset is a folder holding ``NDTiff.index`` and one or more ``*_NDTiffStack*.tif``
files (version 2 keeps them in a ``Full resolution`` sub-folder). Opening the folder, the
``Full resolution`` folder or any of its stack files opens the dataset. ``ndstorage``
parses the index; each frame is then one direct read at the offset the index gives.
"""

import contextlib
import io
from pathlib import Path

import numpy as np

from .axes import axes_metadata, resolve_axes
from .errors import InputFileError
from .metadata import micromanager_metadata
from .movie import Movie

INDEX_NAME = "NDTiff.index"
FULL_RESOLUTION = "Full resolution"


def dataset_folder(path):
    """The NDTiff dataset folder for a folder or stack file, or None if there is none."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if folder.name == FULL_RESOLUTION:
        folder = folder.parent
    if (folder / INDEX_NAME).is_file() or (folder / FULL_RESOLUTION / INDEX_NAME).is_file():
        return folder
    return None


def is_ndtiff(path):
    if path.is_dir():
        return True  # a folder is only ever an NDTiff dataset; a folder without index is an error
    return path.is_file() and "_NDTiffStack" in path.name and dataset_folder(path) is not None


def _sorted_labels(values):
    values = list(values)
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


class NDTiffMovie(Movie):
    """An NDTiff dataset as a movie (frames along ``time`` unless chosen otherwise).

    Parameters
    ----------
    path : path-like
        The dataset folder, its ``Full resolution`` folder, or a ``*_NDTiffStack.tif`` in it.
    **choices
        ``channel=`` (name or index), ``z=``, ``position=`` ...; ``frame_axis=``.
    """

    def __init__(self, path, **choices):
        import ndstorage

        path = Path(path)
        folder = dataset_folder(path)
        if folder is None:
            raise InputFileError(
                path,
                f"holds no {INDEX_NAME} (nor a '{FULL_RESOLUTION}' folder with one), so it is not an NDTiff dataset.",
                fix="open the dataset folder Micro-Manager wrote (the one with NDTiff.index), or a movie file.",
            )
        try:
            # ndstorage prints progress while it reads the index
            with contextlib.redirect_stdout(io.StringIO()):
                dataset = ndstorage.Dataset(str(folder))
        except Exception as error:
            raise InputFileError(folder, f"is not a readable NDTiff dataset ({error}).") from None
        self._dataset = dataset
        try:
            metadata, shape, dtype = self._open(folder, dataset, dict(choices))
            super().__init__(folder, shape, dtype, metadata)
        except BaseException:
            dataset.close()
            raise

    def _open(self, folder, dataset, choices):
        values = {name: _sorted_labels(v) for name, v in dataset.axes.items()}
        labels = dict(values)
        names = getattr(dataset, "_channel_names", None)
        if "channel" in values and isinstance(names, dict) and names:
            by_index = {index: name for name, index in names.items()}
            if all(v in by_index for v in values["channel"]):
                labels["channel"] = [by_index[v] for v in values["channel"]]
        frame, fixed = resolve_axes(folder, labels, choices, frame_axis="time")
        n_frames = len(values[frame]) if frame else 1
        base = {name: values[name][index] for name, index in fixed.items()}
        self._coords = []
        for i in range(n_frames):
            coords = dict(base)
            if frame:
                coords[frame] = values[frame][i]
            self._coords.append(coords)
        self._version = 3 if hasattr(dataset, "get_image_coordinates_list") else 2
        if dataset.image_height is None or dataset.image_width is None:
            raise InputFileError(
                folder,
                f"its {INDEX_NAME} lists no images; the index is empty or damaged.",
                fix="wait until the acquisition has written images, or re-export the dataset.",
            )
        height, width = int(dataset.image_height), int(dataset.image_width)
        dtype = np.dtype(dataset.dtype)
        stacks = [
            p
            for where in (folder, folder / FULL_RESOLUTION)
            if where.is_dir()
            for p in where.glob("*_NDTiffStack*.tif")
        ]
        stored = sum(p.stat().st_size for p in stacks)
        if height <= 0 or width <= 0 or height * width * dtype.itemsize > stored:
            # NDTiff stores pixels uncompressed: an image cannot be larger than its files
            raise InputFileError(
                folder,
                f"its {INDEX_NAME} describes {width}x{height} images but the stack "
                f"files hold {stored} bytes; the index is damaged.",
                fix="re-export the dataset, or recover NDTiff.index from a backup.",
            )
        image_md = {}
        try:
            image_md = self._read_metadata(self._coords[0])
        except Exception:
            pass  # image metadata is informative; pixels are what must be readable
        metadata = micromanager_metadata(getattr(dataset, "summary_metadata", None), image_md)
        metadata["NDTiff Version"] = (
            f"{dataset.major_version}.{dataset.minor_version}" if hasattr(dataset, "major_version") else "2"
        )
        metadata.update(axes_metadata(labels, frame, fixed))
        return metadata, (n_frames, height, width), dtype

    def _kwargs(self, coords):
        if self._version == 2:
            kwargs = dict(coords)
            kwargs.setdefault("channel", None)  # v2 otherwise assumes channel 0
            return kwargs
        return coords

    def _read_metadata(self, coords):
        return self._dataset.read_metadata(**self._kwargs(coords))

    def _read(self, start, stop):
        out = np.empty((stop - start,) + self.shape[1:], dtype=self.dtype)
        for i in range(start, stop):
            coords = self._coords[i]
            try:
                image = self._dataset.read_image(**self._kwargs(coords))
            except Exception as error:
                raise InputFileError(self.path, f"image {coords} is missing or unreadable ({error}).") from None
            if np.shape(image) != self.shape[1:]:
                raise InputFileError(
                    self.path,
                    f"image {coords} has shape {np.shape(image)}, not "
                    f"{self.shape[1:]}: its {INDEX_NAME} entry is damaged.",
                )
            out[i - start] = image
        return out

    def close(self):
        self._dataset.close()
