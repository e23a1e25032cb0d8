"""Nikon ``.nd2`` movies via the ``nd2`` package.

An nd2 file is a sequence of frames over its loops (time ``T``, positions ``P``, z ``Z``),
each frame holding every channel. Frames run along time (or the only other loop);
``channel=`` (name or index), ``position=`` and ``z=`` fix the rest.
"""

import re
import struct
import threading
from pathlib import Path

import numpy as np

from .axes import axes_metadata, resolve_axes
from .errors import InputFileError, raised_inside
from .metadata import plain
from .movie import Movie

# What the nd2 package raises on damaged files.
_PARSE_ERRORS = (ValueError, KeyError, IndexError, struct.error, OSError, TypeError, ArithmeticError)
ND2_AXES = {"T": "time", "Z": "z", "C": "channel", "P": "position"}


def is_nd2(path):
    return path.is_file() and path.suffix.lower() == ".nd2"


class ND2Movie(Movie):
    """A Nikon nd2 file as a movie.

    Parameters
    ----------
    path : path-like
    **choices
        ``channel=``, ``position=``, ``z=``, ``time=``, ``frame_axis=``.
    """

    def __init__(self, path, **choices):
        import nd2

        path = Path(path)
        try:
            self._file = nd2.ND2File(path)
        except Exception as error:
            raise InputFileError(path, f"is not a readable nd2 file ({error}).") from None
        self._lock = threading.Lock()
        try:
            try:
                metadata, shape, dtype = self._open(path, dict(choices))
            except _PARSE_ERRORS as error:
                # nd2 reads its chunks lazily: damage can surface on the first attribute read
                if isinstance(error, InputFileError) or not raised_inside(error, "nd2"):
                    raise
                raise InputFileError(
                    path,
                    f"is damaged: nd2 cannot read its structure ({error}).",
                    fix="re-export the file from NIS-Elements, or recover it from a backup.",
                ) from error
            super().__init__(path, shape, dtype, metadata)
        except BaseException:
            self._file.close()
            raise

    def _open(self, path, choices):
        f = self._file
        if f.is_rgb:
            raise InputFileError(path, "holds colour (RGB) images; a camera movie is grayscale.")
        sizes = dict(f.sizes)
        height, width = sizes.pop("Y"), sizes.pop("X")
        self._n_channels = sizes.get("C", 1)
        axes = {}
        for code, n in sizes.items():
            axes[ND2_AXES.get(code, code.lower())] = list(range(n))
        if "channel" in axes:
            try:
                names = [c.channel.name for c in f.metadata.channels]
                if len(names) == len(axes["channel"]) and len(set(names)) == len(names):
                    axes["channel"] = names
            except Exception:
                pass
        frame, fixed = resolve_axes(path, axes, choices, frame_axis="time")
        loop_codes = [code for code in f.sizes if code not in ("C", "Y", "X", "S")]
        sequence = {}
        for seq, loop in enumerate(f.loop_indices):
            sequence[tuple(loop.get(code, 0) for code in loop_codes)] = seq
        n_frames = len(axes[frame]) if frame else 1
        self._channel = fixed.get("channel", 0) if frame != "channel" else None
        self._frames = []
        for i in range(n_frames):
            index = dict(fixed)
            if frame:
                index[frame] = i
            key = tuple(index.get(ND2_AXES.get(code, code.lower()), 0) for code in loop_codes)
            self._frames.append((sequence[key], index.get("channel", 0)))
        metadata = {
            **axes_metadata(axes, frame, fixed),
            "ND2 Text Info": plain(dict(f.text_info or {})),
        }
        description = (f.text_info or {}).get("description", "")
        match = re.search(r"Camera Name:\s*([^\r\n]+)", description)
        if match:
            metadata["Camera"] = match.group(1).strip()
        try:
            metadata["Pixel Size (um)"] = float(f.voxel_size().x)
        except Exception:
            pass
        return metadata, (n_frames, height, width), f.dtype

    def _read(self, start, stop):
        out = np.empty((stop - start,) + self.shape[1:], dtype=self.dtype)
        with self._lock:
            for i in range(start, stop):
                seq, channel = self._frames[i]
                try:
                    frame = np.asarray(self._file.read_frame(seq))
                except Exception as error:
                    raise InputFileError(self.path, f"frame {i} is unreadable ({error}).") from None
                if frame.ndim == 3:
                    frame = frame[channel]
                out[i - start] = frame
        return out

    def close(self):
        self._file.close()

    def __del__(self):
        # napari drops layers without closing their data; nd2 warns about open files
        file = getattr(self, "_file", None)
        if file is not None and not file.closed:
            file.close()
