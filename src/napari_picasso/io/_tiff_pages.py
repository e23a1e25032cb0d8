"""Fast page tables for single-file TIFF movies with one image per page.

tifffile builds a series of N pages by parsing every page (and, for OME-TIFF with one
``TiffData`` per plane, a key frame per plane), which takes seconds for the ~16,000 pages
of a 2 GB movie. Movies of uncompressed 2-D pages only need each page's data offset: this
module walks the IFD chain reading just the tags that give it, and maps OME-XML planes to
pages, so such files open in a fraction of a second. Anything else is left to tifffile.
"""

import struct
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from .errors import InputFileError

_STRIP_OFFSETS, _STRIP_BYTECOUNTS, _WIDTH, _LENGTH = 273, 279, 256, 257
_TILE_WIDTH = 322
_TYPE_SIZES = {1: 1, 3: 2, 4: 4, 16: 8, 13: 4, 18: 8}
_TRUNCATED_FIX = "re-export the movie or wait until the acquisition has finished writing."
_TYPE_CODES = {1: "B", 3: "H", 4: "I", 16: "Q", 13: "I", 18: "Q"}


def walk_pages(path, byteorder, bigtiff, first_ifd, *, growing=False):
    """Data offset, byte count, width and height of every page, in file order.

    Returns a dict of int64 arrays ``offset``, ``nbytes``, ``width``, ``height`` and
    ``ifd`` (where each page's directory starts; a page whose strips are not contiguous
    gets offset -1), or None for tiled pages. The chain ends at a zero offset.

    ``growing=True`` reads a file still being written: the chain ends quietly where it
    leads beyond the end of the file or into a directory not yet complete (the pages
    before it are returned), instead of raising.

    Raises
    ------
    InputFileError
        The file is truncated (an IFD offset beyond its end, an IFD cut by its end) or
        damaged (the chain loops back to an IFD already read; impossible strip tags: no
        strips, a value list beyond the end of the file).
    """
    bo = "<" if byteorder == "<" else ">"
    if bigtiff:
        count_struct, entry_fmt, next_struct, value_size = struct.Struct(bo + "Q"), "HHQQ", struct.Struct(bo + "Q"), 8
    else:
        count_struct, entry_fmt, next_struct, value_size = struct.Struct(bo + "H"), "HHII", struct.Struct(bo + "I"), 4
    entry_size = struct.calcsize(bo + entry_fmt)
    short_shift = (value_size - 2) * 8 if bo == ">" else 0  # inline SHORT in a wider field
    entry_structs = {}
    layouts = {}
    size = Path(path).stat().st_size
    offsets, nbytes, widths, heights, ifds = [], [], [], [], []
    seen = set()
    guess = 512
    with open(path, "rb", buffering=0) as fh:

        def damaged(ifd, problem):
            return InputFileError(
                path,
                f"is damaged: the image directory (IFD) at byte {ifd} {problem}.",
                fix="re-export the movie from the acquisition software, or recover the file from a backup.",
            )

        def array_values(kind, count, field, ifd, what):
            item = _TYPE_SIZES.get(kind)
            if item is None:
                return None
            if count * item <= value_size:
                raw = field.to_bytes(value_size, "little" if bo == "<" else "big")
            else:
                if field + count * item > size:
                    if growing:
                        return ()  # not written yet
                    raise damaged(
                        ifd, f"lists {count} {what} at byte {field}, beyond the end of the file ({size} bytes)"
                    )
                fh.seek(field)
                raw = fh.read(count * item)
            return struct.unpack(f"{bo}{count}{_TYPE_CODES[kind]}", raw[: count * item])

        def scalar(kind, field):
            return (field >> short_shift) & 0xFFFF if kind == 3 else field

        ifd = first_ifd
        while ifd:
            if ifd in seen:
                raise damaged(
                    ifd, f"is reached again after {len(offsets)} images: the chain of image directories loops"
                )
            if ifd + count_struct.size > size:
                if growing:
                    break
                raise InputFileError(
                    path,
                    f"is truncated: image directory {len(offsets) + 1} would start at byte {ifd}, "
                    f"beyond the end of the file ({size} bytes).",
                    fix=_TRUNCATED_FIX,
                )
            seen.add(ifd)
            fh.seek(ifd)
            block = fh.read(guess)
            n_tags = count_struct.unpack_from(block)[0]
            needed = count_struct.size + n_tags * entry_size + next_struct.size
            if len(block) < needed:
                block += fh.read(needed - len(block))
                guess = needed
                if len(block) < needed:
                    if growing:
                        break
                    raise InputFileError(
                        path,
                        f"is truncated: it ends inside the image directory at byte {ifd} (which lists {n_tags} tags).",
                        fix=_TRUNCATED_FIX,
                    )
            parse = entry_structs.get(n_tags)
            if parse is None:
                parse = entry_structs[n_tags] = struct.Struct(bo + entry_fmt * n_tags)
            fields = parse.unpack_from(block, count_struct.size)
            next_ifd = next_struct.unpack_from(block, count_struct.size + n_tags * entry_size)[0]
            codes = fields[0::4]
            # pages of one writer share their tag layout: find the entries once per layout
            where = layouts.get(codes)
            if where is None:
                if growing and _TILE_WIDTH not in codes and (_STRIP_OFFSETS not in codes or 0 in codes):
                    break  # a directory not written yet (zeros where its tags will be)
                if _TILE_WIDTH in codes or _STRIP_OFFSETS not in codes or _STRIP_BYTECOUNTS not in codes:
                    return None  # tiled or odd pages: tifffile handles them
                where = layouts[codes] = tuple(
                    4 * codes.index(c) if c in codes else -1
                    for c in (_STRIP_OFFSETS, _STRIP_BYTECOUNTS, _WIDTH, _LENGTH)
                )
            k_off, k_count, k_width, k_length = where
            count = fields[k_off + 2]
            if count == 0 or count != fields[k_count + 2]:
                raise damaged(ifd, f"lists {count} strip offsets and {fields[k_count + 2]} strip byte counts")
            strip_offsets = (
                (scalar(fields[k_off + 1], fields[k_off + 3]),)
                if count == 1
                else array_values(fields[k_off + 1], count, fields[k_off + 3], ifd, "strip offsets")
            )
            strip_counts = (
                (scalar(fields[k_count + 1], fields[k_count + 3]),)
                if count == 1
                else array_values(fields[k_count + 1], count, fields[k_count + 3], ifd, "strip byte counts")
            )
            width = scalar(fields[k_width + 1], fields[k_width + 3]) if k_width >= 0 else 0
            height = scalar(fields[k_length + 1], fields[k_length + 3]) if k_length >= 0 else 0
            if strip_offsets is None or strip_counts is None:
                return None
            if not strip_offsets or not strip_counts:
                break  # growing: the directory's value lists are not written yet
            ifds.append(ifd)
            contiguous = len(strip_offsets) == 1 or all(
                strip_offsets[i] + strip_counts[i] == strip_offsets[i + 1] for i in range(len(strip_offsets) - 1)
            )
            offsets.append(strip_offsets[0] if contiguous else -1)
            nbytes.append(sum(strip_counts))
            widths.append(width)
            heights.append(height)
            ifd = next_ifd
    return {
        "offset": np.asarray(offsets, dtype=np.int64),
        "nbytes": np.asarray(nbytes, dtype=np.int64),
        "width": np.asarray(widths, dtype=np.int64),
        "height": np.asarray(heights, dtype=np.int64),
        "ifd": np.asarray(ifds, dtype=np.int64),
    }


def _ome_plane_pages(tif, n_pages):
    """How the pages of an OME-TIFF map to its planes.

    Returns
    -------
    tuple, str or None
        ``(sizes, plane_pages)`` for a single-image, single-file OME-TIFF (``sizes`` by
        axis, ``plane_pages[i]`` the page of plane ``i`` in Z/C/T order, -1 where absent);
        ``"plain"`` when the OME-XML is absent or has no image (a plain page sequence);
        ``None`` when only tifffile's series can read it (several images or files,
        multi-sample channels, an unknown dimension order).
    """
    try:
        root = ElementTree.fromstring(tif.ome_metadata)
    except Exception:
        return "plain"  # an .ome.tif name without OME-XML: a plain page sequence

    def local(element):
        return element.tag.rsplit("}", 1)[-1]

    images = [e for e in root if local(e) == "Image"]
    if not images:
        return "plain"
    if len(images) != 1:
        return None  # several images (positions): tifffile's series
    pixels = next((e for e in images[0] if local(e) == "Pixels"), None)
    if pixels is None:
        return None
    attrs = pixels.attrib
    try:
        dims = {d: int(attrs.get(f"Size{d}", 1)) for d in "ZCT"}
    except ValueError:
        return None
    order = attrs.get("DimensionOrder", "XYZCT")[2:]  # fastest first, e.g. "ZCT"
    if sorted(order) != ["C", "T", "Z"]:
        return None
    channels = [e for e in pixels if local(e) == "Channel"]
    if any(int(c.attrib.get("SamplesPerPixel", 1)) != 1 for c in channels):
        return None
    n_planes = dims["Z"] * dims["C"] * dims["T"]
    strides = {}
    stride = 1
    for d in order:
        strides[d] = stride
        stride *= dims[d]
    plane_pages = np.full(n_planes, -1, dtype=np.int64)
    own_name = Path(tif.filehandle.path).name
    tiffdata = [e for e in pixels if local(e) == "TiffData"]
    if not tiffdata:
        plane_pages[:] = np.arange(n_planes)
    stride_z, stride_c, stride_t = strides["Z"], strides["C"], strides["T"]
    for element in tiffdata:
        for child in element:  # a UUID child names the file holding the planes
            if child.attrib.get("FileName", own_name) != own_name:
                return None  # planes in other files: tifffile's multi-file series
        a = element.attrib
        try:
            ifd = int(a.get("IFD", 0))
            first = (
                int(a.get("FirstZ", 0)) * stride_z
                + int(a.get("FirstC", 0)) * stride_c
                + int(a.get("FirstT", 0)) * stride_t
            )
            count = int(a.get("PlaneCount", 1 if "IFD" in a else n_planes))
        except ValueError:
            return None
        if count == 1:
            if first < n_planes:
                plane_pages[first] = ifd
            continue
        count = max(0, min(count, n_planes - first))
        plane_pages[first : first + count] = np.arange(ifd, ifd + count)
    # storage order, outermost first (the flat plane index is C-order over these)
    names = {"T": "time", "C": "channel", "Z": "z"}
    sizes = {names[d]: dims[d] for d in reversed(order) if dims[d] > 1}
    if not sizes:
        sizes = {"time": 1}
    return sizes, plane_pages


def fast_page_table(tif, path):
    """``(sizes, plane offsets, height, width, dtype)`` for simple page-per-image TIFFs.

    Returns None where tifffile must build the series (Micro-Manager index maps, ImageJ
    and shaped files it reads without walking pages, compressed, tiled or colour pages,
    multi-image or multi-file OME).
    """
    if tif.is_mmstack or tif.is_shaped or tif.is_imagej or tif.is_micromanager and _has_index_map(tif):
        return None
    first = tif.pages.first
    if len(first.shape) != 2 or not all(isinstance(n, (int, np.integer)) and n > 0 for n in first.shape):
        return None  # tifffile's series (TiffMovie checks the frame size it reports)
    if not first.is_final or first.samplesperpixel != 1 or first.ndim != 2 or first.dtype is None:
        return None
    table = walk_pages(path, tif.byteorder, tif.is_bigtiff, first.offset)
    if table is None or len(table["offset"]) == 0:
        return None
    height, width = first.shape
    n_pages = len(table["offset"])
    mapping = _ome_plane_pages(tif, n_pages) if tif.is_ome else "plain"
    if mapping is None:
        return None
    if mapping != "plain":
        sizes, plane_pages = mapping
    else:
        same = (table["width"] == width) & (table["height"] == height)
        if not same.all():
            return None  # mixed page shapes (thumbnails ...): tifffile's series
        sizes, plane_pages = {"sequence": n_pages}, np.arange(n_pages)
    plane_bytes = height * width * np.dtype(first.dtype).itemsize
    if (plane_pages >= n_pages).any():
        missing = int((plane_pages >= n_pages).sum())
        raise InputFileError(
            path,
            f"is truncated: its metadata describes {len(plane_pages)} images but {missing} of "
            f"them are not in the file (it holds {n_pages} pages).",
            fix="re-export the movie or wait until the acquisition has finished writing.",
        )
    if (plane_pages < 0).any():
        return None
    offsets = table["offset"][plane_pages]
    if (offsets < 0).any() or (table["nbytes"][plane_pages] < plane_bytes).any():
        return None
    file_size = Path(path).stat().st_size
    if (offsets + plane_bytes > file_size).any():
        last = int(np.flatnonzero(offsets + plane_bytes > file_size)[0])
        raise InputFileError(
            path,
            f"is truncated: image {last} of {len(offsets)} ends beyond the end of the file ({file_size} bytes).",
            fix="re-export the movie or wait until the acquisition has finished writing.",
        )
    return sizes, offsets, height, width, np.dtype(first.dtype)


def _has_index_map(tif):
    try:
        return "IndexMap" in (tif.micromanager_metadata or {})
    except Exception:
        return False
