"""Micro-Manager-style TIFF files built with tifffile (the format's own writer) for tests.

Each frame is its own IFD carrying Micro-Manager's per-frame JSON tag (51123) as
Micro-Manager writes it; the first IFD of a file carries OME-XML describing the planes.
"""

import json
import uuid

import numpy as np
import tifffile

MM_FRAME_TAG = 51123
CAMERA = "Andor"


def frame_metadata(frame_index, position_label="Pos0"):
    """Per-frame metadata as Micro-Manager 2 writes it (camera label and properties)."""
    return {
        "Camera": CAMERA,
        "Core-Camera": CAMERA,
        f"{CAMERA}-EMGain": "200",
        f"{CAMERA}-ReadoutRate": "17.000 MHz",
        f"{CAMERA}-Pre-Amp-Gain": "Gain 3",
        f"{CAMERA}-Sensitivity/DynamicRange": "16-bit (low noise & high well capacity)",
        "Exposure-ms": 50.0,
        "PixelSizeUm": 0.13,
        "FrameIndex": frame_index,
        "PositionName": position_label,
    }


def _ome_xml(name, planes, height, width, dtype="uint16"):
    """OME-XML for ``planes``: a list of (file name, file uuid, ifd) in T order."""
    tiffdata = "".join(
        f'<TiffData FirstT="{t}" IFD="{ifd}" PlaneCount="1"><UUID FileName="{fname}">urn:uuid:{fuuid}</UUID></TiffData>'
        for t, (fname, fuuid, ifd) in enumerate(planes)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" '
        f'UUID="urn:uuid:{planes[0][1]}">'
        f'<Image ID="Image:0" Name="{name}"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" '
        f'Type="{dtype}" SizeX="{width}" SizeY="{height}" SizeZ="1" SizeC="1" SizeT="{len(planes)}" '
        'PhysicalSizeX="0.13" PhysicalSizeY="0.13">'
        '<Channel ID="Channel:0:0" SamplesPerPixel="1"/>'
        f"{tiffdata}</Pixels></Image></OME>"
    )


def write_mmstack(folder, frames, prefix="run", position="Pos0", frames_per_file=None, master_ome=False):
    """Write ``frames`` (T, Y, X) as ``<prefix>_MMStack_<position>.ome.tif`` (+ rollovers).

    ``frames_per_file`` splits them into rollover files ``..._1.ome.tif`` ...; with
    ``master_ome`` the first file's OME-XML lists every plane of every file (by UUID and
    file name), otherwise each file's OME-XML describes its own planes.

    Returns the list of files, first first.
    """
    n_frames, height, width = frames.shape
    per_file = frames_per_file or n_frames
    chunks = [(i, frames[i : i + per_file]) for i in range(0, n_frames, per_file)]
    base = f"{prefix}_MMStack_{position}"
    names = [f"{base}.ome.tif" if k == 0 else f"{base}_{k}.ome.tif" for k in range(len(chunks))]
    uuids = [str(uuid.uuid4()) for _ in chunks]
    all_planes = [(names[k], uuids[k], j) for k, (_, chunk) in enumerate(chunks) for j in range(len(chunk))]
    paths = []
    for k, (first_frame, chunk) in enumerate(chunks):
        if master_ome:
            description = _ome_xml(base, all_planes, height, width) if k == 0 else None
        else:
            own = [(names[k], uuids[k], j) for j in range(len(chunk))]
            description = _ome_xml(f"{base}_{k}", own, height, width)
        path = folder / names[k]
        with tifffile.TiffWriter(path, bigtiff=False) as tif:
            for j, frame in enumerate(chunk):
                tag = json.dumps(frame_metadata(first_frame + j, position))
                tif.write(
                    np.ascontiguousarray(frame),
                    photometric="minisblack",
                    description=description if j == 0 else None,
                    metadata=None,
                    extratags=[(MM_FRAME_TAG, "s", 0, tag, True)],
                )
        paths.append(path)
    return paths
