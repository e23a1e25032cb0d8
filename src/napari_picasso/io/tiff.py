"""TIFF movies: plain, ImageJ, OME-TIFF, BigTIFF and Micro-Manager stacks (tifffile)."""

from pathlib import Path

import numpy as np
import tifffile

from .errors import InputFileError
from .movies import Movie, register_opener

TIFF_SUFFIXES = (".tif", ".tiff")


def _is_tiff(path):
    return path.is_file() and path.suffix.lower() in TIFF_SUFFIXES


def _micromanager_metadata(tif):
    """Micro-Manager's summary and first-frame metadata, flattened for camera matching."""
    metadata = {}
    try:
        mm = tif.micromanager_metadata
    except Exception:  # a damaged Micro-Manager header is not fatal for reading pixels
        mm = None
    if mm:
        summary = mm.get("Summary", {}) if isinstance(mm, dict) else {}
        metadata["Micro-Manager Metadata"] = _plain(summary)
        camera = summary.get("Camera") if isinstance(summary, dict) else None
        if camera:
            metadata["Camera"] = camera
    try:
        frame_tags = tif.pages.first.tags.get(51123)  # Micro-Manager per-frame metadata
    except Exception:
        frame_tags = None
    if frame_tags is not None and isinstance(frame_tags.value, dict):
        frame = _plain(frame_tags.value)
        metadata.setdefault("Micro-Manager Metadata", {}).update(frame)
        if "Camera" in frame and "Camera" not in metadata:
            metadata["Camera"] = frame["Camera"]
    return metadata


def _plain(value):
    """YAML-safe copy of metadata (numbers, strings, lists, dicts)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class TiffMovie(Movie):
    """A TIFF movie read frame by frame with tifffile.

    Uncompressed, contiguous series (the usual camera output) are read with direct file
    reads at the series offset; anything else page by page through tifffile.
    """

    def __init__(self, path):
        path = Path(path)
        try:
            self._tif = tifffile.TiffFile(path)
        except tifffile.TiffFileError as error:
            raise InputFileError(path, f"is not a readable TIFF file ({error}).") from None
        except (OSError, ValueError, EOFError, IndexError, KeyError) as error:
            raise InputFileError(path, f"is not a readable TIFF file ({error}).") from None
        try:
            series = self._tif.series[0]
            shape = tuple(series.shape)
            dtype = series.dtype
        except Exception as error:
            self._tif.close()
            raise InputFileError(path, f"holds no readable image series ({error}).") from None
        axes = series.axes
        if len(shape) == 2:
            shape = (1,) + shape
        elif len(shape) > 3:
            squeezed = tuple(n for n in shape[:-2] if n > 1)
            if len(squeezed) > 1:
                self._tif.close()
                raise InputFileError(
                    path,
                    f"holds a {len(shape)}-dimensional series (axes {axes}, shape {shape}); "
                    "a movie has one time axis.",
                    fix="choose a position/channel/z when opening it.",
                )
            shape = (int(np.prod(shape[:-2])),) + shape[-2:]
        self._series = series
        self._n_pages = int(np.prod(shape[:-2]))
        self._offset = series.dataoffset
        self._file_dtype = np.dtype(dtype)
        frame_bytes = shape[1] * shape[2] * self._file_dtype.itemsize
        if self._offset is not None:
            needed = self._offset + shape[0] * frame_bytes
            size = path.stat().st_size
            if size < needed:
                self._tif.close()
                raise InputFileError(
                    path,
                    f"is truncated: its header describes {shape[0]} frames "
                    f"({needed} bytes) but the file holds {size} bytes.",
                    fix="re-export the movie or wait until the acquisition has finished.",
                )
        metadata = {"Byte Order": self._tif.byteorder.replace("=", "<")}
        metadata.update(_micromanager_metadata(self._tif))
        super().__init__(path, shape, dtype, metadata)
        self._fh = open(path, "rb") if self._offset is not None else None

    def _read(self, start, stop):
        if self._fh is not None:
            frame_items = self.shape[1] * self.shape[2]
            self._fh.seek(self._offset + start * frame_items * self._file_dtype.itemsize)
            data = np.fromfile(self._fh, dtype=self._file_dtype, count=(stop - start) * frame_items)
            if data.size != (stop - start) * frame_items:
                raise InputFileError(self.path, f"ends before frame {stop - 1}: the file is truncated.")
            return data
        try:
            pages = self._series.pages if hasattr(self._series, "pages") else self._tif.pages
            return np.stack([pages[i].asarray() for i in range(start, stop)])
        except Exception as error:
            raise InputFileError(self.path, f"frames {start}-{stop - 1} are unreadable ({error}).") from None

    def close(self):
        if self._fh is not None:
            self._fh.close()
        self._tif.close()


register_opener(_is_tiff, lambda path, **choices: TiffMovie(path))
