"""TIFF movies: plain, ImageJ, OME-TIFF, BigTIFF and Micro-Manager MMStack (tifffile).

tifffile parses the structure (series, axes, OME-XML, Micro-Manager index maps, multi-file
series); pixels are then read by direct file reads at the planes' offsets wherever the data
are stored uncompressed, so opening is cheap and memory stays flat whatever the length.

Micro-Manager specifics:

- MMStack files with their index map (what Micro-Manager writes) are one series across all
  rollover files and positions (tifffile joins them); the position of the file that was
  opened is the default, ``position=`` picks another.
- MMStack files without an index map (written by other tools) are joined by name: opening
  ``name_MMStack_Pos0.ome.tif`` reads ``name_MMStack_Pos0_1.ome.tif``, ``..._2`` ... after
  it, in order; sibling ``name_MMStack_<label>.ome.tif`` files are the positions.
"""

import contextlib
import json
import logging
import re
import struct
import threading
from pathlib import Path

import numpy as np
import tifffile

from ._tiff_pages import fast_page_table
from .axes import axes_metadata, choose_index, describe_axes, frame_planes, resolve_axes
from .errors import AxisChoiceError, InputFileError, raised_inside
from .metadata import micromanager_metadata, plain
from .movie import Movie

TIFF_SUFFIXES = (".tif", ".tiff")
MM_FRAME_TAG = 51123  # Micro-Manager's per-frame JSON metadata
AXIS_NAMES = {
    "T": "time",
    "Z": "z",
    "C": "channel",
    "R": "position",
    "I": "sequence",
    "Q": "other",
    "P": "phase",
    "A": "angle",
    "H": "lifetime",
    "E": "lambda",
    "L": "exposure",
    "V": "event",
    "M": "mosaic",
}


def is_tiff(path):
    return path.is_file() and path.suffix.lower() in TIFF_SUFFIXES


class _QuietMicroManagerProbe(logging.Filter):
    """Drop tifffile's warnings about a missing Micro-Manager header.

    Files with Micro-Manager's per-frame tag but without its file header (written by
    other tools) are valid; tifffile warns each time it looks for the header.
    """

    def filter(self, record):
        return "read_micromanager_metadata" not in record.getMessage()


logging.getLogger("tifffile").addFilter(_QuietMicroManagerProbe())


class _HeldMessages(logging.Filter):
    """tifffile's log lines about the file this thread's reader is parsing, held back.

    tifffile logs what it tolerates in a damaged file ("invalid page offset ...") on
    stderr; the reader turns what matters into its own :class:`InputFileError` (which
    names the file and the fix), so the raw line would only precede the clean message.
    Other threads' (and other programs') use of tifffile is left alone.
    """

    def __init__(self):
        super().__init__()
        self._local = threading.local()

    def filter(self, record):
        held = getattr(self._local, "held", None)
        if held is None:
            return True
        held.append(record.getMessage())
        return False

    @contextlib.contextmanager
    def holding(self):
        """Collect the messages logged in this thread meanwhile (yields their list)."""
        outer = getattr(self._local, "held", None)
        self._local.held = held = []
        try:
            yield held
        finally:
            self._local.held = outer


_HELD = _HeldMessages()
logging.getLogger("tifffile").addFilter(_HELD)
# tifffile's "invalid page offset N" / "invalid offset to first page N": where the chain of
# image directories goes on.
_IFD_BEYOND = re.compile(r"invalid (?:page )?offset (?:to first page )?(\d+)")


def _check_directory_chain(path, messages):
    """Refuse a file whose chain of image directories points beyond its end (a cut copy).

    tifffile stops at such a link and offers the images before it, which would silently
    be a shorter movie (an ImageJ stack cut in half opens as one frame).
    """
    size = Path(path).stat().st_size
    for message in messages:
        found = _IFD_BEYOND.search(message)
        if found and int(found.group(1)) >= size:
            raise InputFileError(
                path,
                f"is truncated: its image directories continue at byte {found.group(1)}, beyond the "
                f"end of the file ({size} bytes).",
                fix="re-export the movie or wait until the acquisition has finished writing.",
            )


DAMAGED_FIX = "re-export the movie from the acquisition software, or recover the file from a backup."


def _open_tiff(path):
    try:
        tif = tifffile.TiffFile(path)
    except Exception as error:  # tifffile raises many kinds for a broken header
        with open(path, "rb") as f:
            head = f.read(4)
        if head[:2] not in (b"II", b"MM"):
            raise InputFileError(
                path,
                f"is not a readable TIFF file: it starts with {head!r}, a TIFF with b'II' or b'MM'.",
                fix="check the file's real format and rename it accordingly.",
            ) from None
        raise InputFileError(path, f"is not a readable TIFF file ({error}).") from None
    try:
        _ = tif.pages.first
    except IndexError:  # tifffile found no valid first image directory
        tif.close()
        raise InputFileError(
            path,
            "is damaged: it starts like a TIFF but its first image directory (IFD) is "
            "missing or lies outside the file.",
            fix=DAMAGED_FIX,
        ) from None
    return tif


# What tifffile raises while parsing damaged structures (beside its own TiffFileError):
# values read from the file become indices, keys, struct formats and array shapes.
_PARSE_ERRORS = (
    tifffile.TiffFileError,
    struct.error,
    IndexError,
    KeyError,
    ValueError,
    TypeError,
    RuntimeError,
    ArithmeticError,
    MemoryError,
)


def _frame_metadata(tif):
    """Micro-Manager's per-frame JSON of the first page, as a dict (or None)."""
    try:
        tag = tif.pages.first.tags.get(MM_FRAME_TAG)
    except Exception:
        return None
    if tag is None:
        return None
    value = tag.value
    if isinstance(value, (bytes, str)):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _summary(tif):
    try:
        mm = tif.micromanager_metadata
    except Exception:  # a damaged Micro-Manager header is not fatal for reading pixels
        mm = None
    if isinstance(mm, dict) and isinstance(mm.get("Summary"), dict):
        return mm["Summary"]
    return None


_OME_PIXEL_SIZE = re.compile(
    r'<(?:\w+:)?Pixels\b[^>]*?\bPhysicalSizeX="([^"]+)"(?:[^>]*?\bPhysicalSizeXUnit="([^"]+)")?'
)
_OME_DETECTOR = re.compile(r"<(?:\w+:)?Detector\b([^>]*)>")
_XML_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')


def _ome_metadata(tif):
    """Pixel size and detector from OME-XML, where present.

    Read with regular expressions: a Micro-Manager OME-XML lists every plane, and parsing
    all of it for two attributes would cost as much as opening the movie.
    """
    if not tif.is_ome:
        return {}
    try:
        text = tif.ome_metadata or ""
    except Exception:
        return {}
    metadata = {}
    match = _OME_PIXEL_SIZE.search(text)
    if match:
        scale = {"µm": 1.0, "um": 1.0, "nm": 1e-3, "mm": 1e3}.get(match.group(2) or "µm")
        try:
            if scale:
                metadata["Pixel Size (um)"] = float(match.group(1)) * scale
        except ValueError:
            pass
    match = _OME_DETECTOR.search(text)
    if match:
        metadata["OME Detector"] = dict(_XML_ATTRIBUTE.findall(match.group(1)))
    return metadata


def _movie_metadata(tif):
    metadata = {"Byte Order": tif.byteorder.replace("=", "<")}
    metadata.update(_ome_metadata(tif))
    metadata.update(micromanager_metadata(_summary(tif), _frame_metadata(tif)))
    return metadata


def _first_series(tif, path):
    series = tif.series
    if not series:
        raise InputFileError(path, "holds no images tifffile can read as a series.", fix=DAMAGED_FIX)
    return series[0]


# -- one tifffile series -------------------------------------------------------------
class _SeriesPart:
    """The planes of one tifffile series, read by direct file reads where possible."""

    def __init__(self, tif, series, path):
        self.tif = tif
        self.series = series
        self.path = path
        axes, shape = series.axes, tuple(series.shape)
        if "S" in axes and shape[axes.index("S")] > 1:
            raise InputFileError(
                path,
                f"holds colour images (axes {axes}, shape {shape}); a camera movie is grayscale.",
            )
        if "Y" not in axes or "X" not in axes or not all(isinstance(n, (int, np.integer)) for n in shape):
            raise InputFileError(
                path,
                f"is damaged: its images have no height and width (axes {axes!r}, shape {shape}).",
                fix=DAMAGED_FIX,
            )
        keep = [(a, n) for a, n in zip(axes, shape) if a not in "YXS"]
        self.height = shape[axes.index("Y")]
        self.width = shape[axes.index("X")]
        # Unnamed axes ('Q', 'I': e.g. a shaped TIFF written in chunks is QQYX) are plain
        # page sequences: adjacent ones merge into one (the flat page order is unchanged).
        merged = []
        for code, n in keep:
            if code in "QI" and merged and merged[-1][0] == "I":
                merged[-1] = ("I", merged[-1][1] * n)
            else:
                merged.append(("I" if code in "QI" else code, n))
        self.sizes = {}
        for code, n in merged:
            name = AXIS_NAMES.get(code, code.lower())
            unique, k = name, 2
            while unique in self.sizes:
                unique, k = f"{name}{k}", k + 1
            self.sizes[unique] = n
        key = series.keyframe
        if int(np.prod(key.shape)) != self.height * self.width:
            raise InputFileError(path, f"stores planes of shape {key.shape}, not single images.")
        self.file_dtype = np.dtype(series.dtype).newbyteorder(tif.byteorder)
        self.plane_items = self.height * self.width
        self.final = bool(key.is_final)
        size = Path(tif.filehandle.path).stat().st_size
        plane_bytes = self.plane_items * self.file_dtype.itemsize
        if (self.final and plane_bytes > size) or self.plane_items > 2**32:
            # uncompressed planes lie inside the file: a larger one is a damaged size tag
            raise InputFileError(
                path,
                f"is damaged: it describes {self.width}x{self.height} images ({plane_bytes} bytes "
                f"each) in a file of {size} bytes.",
                fix=DAMAGED_FIX,
            )
        self.offset = series.dataoffset if (self.final and not series.is_multifile) else None
        self.handles = {}
        self.lock = threading.Lock()
        if self.offset is not None:
            n_planes = int(np.prod(list(self.sizes.values()) or [1]))
            needed = self.offset + n_planes * self.plane_items * self.file_dtype.itemsize
            size = Path(tif.filehandle.path).stat().st_size
            if size < needed:
                raise InputFileError(
                    path,
                    f"is truncated: its header describes {n_planes} images ({needed} bytes) "
                    f"but the file holds {size} bytes.",
                    fix="re-export the movie or wait until the acquisition has finished writing.",
                )

    def _handle(self, filename):
        fh = self.handles.get(filename)
        if fh is None:
            fh = self.handles[filename] = open(filename, "rb")
        return fh

    def _read_into(self, filename, offset, dest, what):
        """Fill the contiguous array ``dest`` with the file's bytes at ``offset`` (no copy)."""
        fh = self._handle(filename)
        fh.seek(offset)
        view = memoryview(dest.reshape(-1).view(np.uint8))
        if fh.readinto(view) != view.nbytes:
            raise InputFileError(filename, f"ends inside {what}: the file is truncated.")
        if not self.file_dtype.isnative:
            dest.byteswap(inplace=True)

    def read_into(self, planes, out):
        """Read planes (flat series indices) into ``out`` (``(n, height, width)``, native)."""
        if len(planes) == 0:
            return out
        plane_bytes = self.plane_items * self.file_dtype.itemsize
        with self.lock:
            if self.offset is not None:
                filename = self.tif.filehandle.path
                breaks = np.flatnonzero(np.diff(planes) != 1) + 1
                for run in np.split(np.arange(len(planes)), breaks):
                    first = int(planes[run[0]])
                    self._read_into(
                        filename,
                        self.offset + first * plane_bytes,
                        out[run[0] : run[-1] + 1],
                        f"images {first}-{first + len(run) - 1}",
                    )
                return out
            for i, plane in enumerate(planes):
                self._read_plane(int(plane), out[i])
        return out

    def _read_plane(self, plane, dest):
        try:
            page = self.series[plane]
        except Exception as error:
            raise InputFileError(self.path, f"image {plane} is unreadable ({error}).") from None
        if page is None or not page.dataoffsets or page.dataoffsets[0] == 0:
            raise InputFileError(self.path, f"image {plane} is missing: the file set is truncated or incomplete.")
        if self.final:
            self._read_into(page.parent.filehandle.path, page.dataoffsets[0], dest, f"image {plane}")
            return
        try:
            dest[...] = np.asarray(self.series.asarray(key=plane)).reshape(self.height, self.width)
        except Exception as error:
            raise InputFileError(self.path, f"image {plane} is unreadable ({error}).") from None

    def close(self):
        for fh in self.handles.values():
            fh.close()
        self.handles.clear()


class _OffsetPart(_SeriesPart):
    """Planes at known file offsets (from :func:`fast_page_table`), read in runs."""

    def __init__(self, tif, path, sizes, offsets, height, width, dtype):
        self.tif = tif
        self.series = None
        self.path = path
        self.sizes = dict(sizes)
        self.height, self.width = int(height), int(width)
        self.file_dtype = np.dtype(dtype).newbyteorder(tif.byteorder)
        self.plane_items = self.height * self.width
        self.final = True
        self.offset = None
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.handles = {}
        self.lock = threading.Lock()

    def read_into(self, planes, out):
        if len(planes) == 0:
            return out
        plane_bytes = self.plane_items * self.file_dtype.itemsize
        offsets = self.offsets[np.asarray(planes, dtype=np.int64)]
        filename = self.tif.filehandle.path
        # consecutive planes stored back to back are one read
        breaks = np.flatnonzero(np.diff(offsets) != plane_bytes) + 1
        with self.lock:
            for run in np.split(np.arange(len(planes)), breaks):
                self._read_into(
                    filename,
                    int(offsets[run[0]]),
                    out[run[0] : run[-1] + 1],
                    f"images {int(planes[run[0]])}-{int(planes[run[-1]])}",
                )
        return out


# -- Micro-Manager file sets -------------------------------------------------------------
def _split_ending(name):
    lower = name.lower()
    for ending in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if lower.endswith(ending):
            return name[: -len(ending)], name[-len(ending) :]
    return name, ""


def rollover_files(path):
    """``name.ome.tif`` followed by ``name_1.ome.tif``, ``name_2.ome.tif`` ... that exist."""
    path = Path(path)
    stem, ending = _split_ending(path.name)
    files = [path]
    n = 1
    while (path.parent / f"{stem}_{n}{ending}").is_file():
        files.append(path.parent / f"{stem}_{n}{ending}")
        n += 1
    return files


def _rollover_start(path):
    """The first file of the rollover series ``path`` belongs to (itself if it is first)."""
    stem, ending = _split_ending(path.name)
    match = re.fullmatch(r"(.*)_(\d+)", stem)
    if match:
        first = path.parent / f"{match.group(1)}{ending}"
        if first.is_file() and path in rollover_files(first):
            return first
    return path


def mmstack_positions(path):
    """``{label: first file}`` of the positions of a Micro-Manager set (by file name)."""
    path = Path(path)
    if "_MMStack" not in path.name:
        return {}
    prefix = path.name.split("_MMStack")[0] + "_MMStack"
    candidates = sorted(p for p in path.parent.glob(f"{glob_escape(prefix)}*") if is_tiff(p))
    continuations = {f for p in candidates for f in rollover_files(p)[1:]}
    positions = {}
    for p in candidates:
        if p in continuations:
            continue
        stem, _ = _split_ending(p.name)
        label = stem[len(prefix) :].lstrip("_") or "0"
        positions[label] = p
    return positions


def glob_escape(text):
    return re.sub(r"([*?[])", r"[\1]", text)


# -- the movie ---------------------------------------------------------------------------
def _series_axes(tif, series, part):
    """Axis labels of a series: channel names and position labels where the file has them."""
    axes = {name: list(range(n)) for name, n in part.sizes.items()}
    summary = _summary(tif) or {}
    names = summary.get("ChNames")
    if "channel" in axes and isinstance(names, list) and len(names) == len(axes["channel"]):
        axes["channel"] = [str(n) for n in names]
    if "position" in axes:
        labels = [
            p.get("Label")
            for p in summary.get("InitialPositionList") or summary.get("StagePositions") or []
            if isinstance(p, dict)
        ]
        if len(labels) == len(axes["position"]) and all(isinstance(x, str) for x in labels):
            axes["position"] = labels
    return axes


def _own_position(tif, series):
    """The MMStack position index the opened file holds, if it holds exactly one."""
    if series.kind != "mmstack":
        return None
    try:
        index_map = tif.micromanager_metadata["IndexMap"]
    except Exception:
        return None
    positions = np.unique(np.asarray(index_map)[:, 3])
    return int(positions[0]) if len(positions) == 1 else None


class TiffMovie(Movie):
    """A TIFF movie (plain, ImageJ, OME, BigTIFF, MMStack) read frame by frame.

    Parameters
    ----------
    path : path-like
        The TIFF file (for a rollover series, its first file or any of them).
    **choices
        ``position=``, ``channel=``, ``z=``, ``time=`` ... fix the axes besides the frame
        axis (labels or indices); ``frame_axis=`` names the frame axis.
    """

    def __init__(self, path, **choices):
        path = Path(path)
        self._parts = []
        try:
            try:
                with _HELD.holding() as messages:
                    metadata, shape, dtype = self._open(path, dict(choices))
                _check_directory_chain(path, messages)
            except _PARSE_ERRORS as error:
                if isinstance(error, InputFileError) or not raised_inside(error, "tifffile"):
                    raise  # ours: a clear message already, or a bug to see as it is
                raise InputFileError(
                    path,
                    f"is damaged: tifffile cannot parse its structure ({type(error).__name__}: {error}).",
                    fix=DAMAGED_FIX,
                ) from error
            super().__init__(path, shape, dtype, metadata)
        except BaseException:
            self.close()
            raise

    def _add_part(self, tif, series, path):
        part = _SeriesPart(tif, series, path)
        self._parts.append([part, None])
        return part

    def _open(self, path, choices):
        tif = _open_tiff(path)
        if "_MMStack" in path.name and not tif.is_mmstack:
            return self._open_by_name(path, tif, choices)
        try:
            fast = fast_page_table(tif, path)
        except BaseException:
            tif.close()
            raise
        if fast is not None:
            part = _OffsetPart(tif, path, *fast)
            self._parts.append([part, None])
            axes = _series_axes(tif, None, part)
            frame, fixed = resolve_axes(path, axes, choices, frame_axis="time")
            self._parts[0][1] = frame_planes(part.sizes, frame, fixed)
            metadata = _movie_metadata(tif)
            metadata.update(self._axes_metadata(axes, frame, fixed))
            return metadata, (len(self._parts[0][1]), part.height, part.width), part.file_dtype
        try:
            series_list = tif.series
        except Exception as error:
            tif.close()
            raise InputFileError(path, f"holds no readable image series ({error}).") from None
        if not series_list:
            tif.close()
            raise InputFileError(path, "holds no images.")
        first = series_list[0]
        # one file (or one tifffile multi-file series); several equal series are positions
        same = [s for s in series_list if s.shape == first.shape and s.dtype == first.dtype]
        position_files = None
        if len(same) > 1 and "R" not in first.axes:
            labels = [s.name or str(i) for i, s in enumerate(same)]
            if len(set(labels)) != len(labels):
                labels = list(range(len(same)))
            position_files = labels
            series_choice = choices.pop("position", choices.pop("series", None))
            if series_choice is None:
                tif.close()
                raise AxisChoiceError(
                    path,
                    f"holds {len(same)} image series (positions: {describe_axes({'position': labels})}).",
                    fix="choose one with position=.",
                    axes={"position": labels},
                    frame_axis="time",
                )

            series = same[choose_index(path, "position", labels, series_choice)]
        else:
            series = first
            if "position" not in choices:
                own = _own_position(tif, series)
                if own is not None:
                    choices["position"] = own
        part = self._add_part(tif, series, path)
        axes = _series_axes(tif, series, part)
        frame, fixed = resolve_axes(path, axes, choices, frame_axis="time")
        self._parts[0][1] = frame_planes(part.sizes, frame, fixed)
        metadata = _movie_metadata(tif)
        metadata.update(self._axes_metadata(axes, frame, fixed))
        if position_files is not None:
            metadata["Position"] = plain(labels[same.index(series)])
            metadata.setdefault("Choices", {})["position"] = metadata["Position"]
        if series.is_multifile:
            files = sorted({Path(p.parent.filehandle.path).name for p in series if p is not None})
            metadata["Files"] = files
        n_frames = len(self._parts[0][1])
        return metadata, (n_frames, part.height, part.width), part.file_dtype

    def _open_by_name(self, path, tif, choices):
        positions = mmstack_positions(path)
        start = _rollover_start(path)
        position = choices.pop("position", None)
        own_label = next((label for label, p in positions.items() if p == start), None)
        if position is not None and len(positions) > 0:
            labels = list(positions)
            label = labels[choose_index(path, "position", labels, position)]
            start = positions[label]
            own_label = label
        elif position not in (None, 0, "0"):
            raise InputFileError(path, f"has no position {position!r} (no other positions beside it).")
        if start != path:
            tif.close()
            tif = _open_tiff(start)
        try:
            fast = fast_page_table(tif, start)
            # a file whose OME-XML already spans the rollover files is one series
            multifile = fast is None and _first_series(tif, start).is_multifile
        except BaseException:
            tif.close()
            raise
        files = [start] if multifile else rollover_files(start)
        frame_axis = None
        metadata = None
        for i, filename in enumerate(files):
            if i > 0:
                tif = _open_tiff(filename)
            try:
                if i > 0:
                    fast = fast_page_table(tif, filename)
                if fast is not None:
                    part = _OffsetPart(tif, filename, *fast)
                    self._parts.append([part, None])
                else:
                    part = self._add_part(tif, _first_series(tif, filename), filename)
            except BaseException:
                if not self._parts or self._parts[-1][0].tif is not tif:
                    tif.close()  # not yet owned by a part (close() closes the parts)
                raise
            axes = _series_axes(tif, None, part)
            part_choices = dict(choices)
            if frame_axis is not None and frame_axis in axes:
                part_choices["frame_axis"] = frame_axis
            frame, fixed = resolve_axes(filename, axes, part_choices, frame_axis="time")
            self._parts[-1][1] = frame_planes(part.sizes, frame, fixed)
            if i == 0:
                frame_axis = frame
                metadata = _movie_metadata(tif)
                metadata.update(self._axes_metadata(axes, frame, fixed))
                first_part = part
            elif (part.height, part.width, part.file_dtype) != (
                first_part.height,
                first_part.width,
                first_part.file_dtype,
            ):
                raise InputFileError(
                    filename,
                    f"holds {part.width}x{part.height} {part.file_dtype.name} images, unlike "
                    f"{files[0].name} ({first_part.width}x{first_part.height}); it does not continue that series.",
                )
        if own_label is not None and len(positions) > 1:
            metadata["Position"] = own_label
            metadata["Positions"] = list(positions)
            metadata.setdefault("Choices", {})["position"] = own_label
        if multifile:
            files = sorted({Path(p.parent.filehandle.path) for p in tif.series[0] if p is not None})
        metadata["Files"] = [f.name for f in files]
        n_frames = sum(len(planes) for _, planes in self._parts)
        return metadata, (n_frames, first_part.height, first_part.width), first_part.file_dtype

    @staticmethod
    def _axes_metadata(axes, frame, fixed):
        return axes_metadata(axes, frame, fixed)

    def _read(self, start, stop):
        with _HELD.holding():  # a damaged image raises InputFileError: tifffile's lines are noise
            return self._read_frames(start, stop)

    def _read_frames(self, start, stop):
        out = np.empty((stop - start,) + self.shape[1:], dtype=self.dtype)
        offset = 0
        for part, planes in self._parts:
            n = len(planes)
            lo, hi = max(start, offset), min(stop, offset + n)
            if lo < hi:
                part.read_into(planes[lo - offset : hi - offset], out[lo - start : hi - start])
            offset += n
            if offset >= stop:
                break
        return out

    def close(self):
        for part, _ in self._parts:
            part.close()
            part.tif.close()
        self._parts = []
