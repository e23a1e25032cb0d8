"""Data for Compare and Preview, read from a row's localization file.

Fields are read one at a time in blocks of rows (never the whole table), so a
10-million-localization file costs one float array per field. A moved file raises
:class:`~napari_picasso.io.errors.InputFileError` naming it.
"""

from pathlib import Path

import h5py
import numpy as np

from ..core.render import render
from ..io.drift import drift_file_of, load_drift, undrift_document
from ..io.errors import InputFileError
from ..io.locs import LOCS_DATASET, info_pixelsize_nm, load_info

BLOCK_ROWS = 1 << 20


def _open_locs(path):
    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            path,
            "no such file (moved or deleted?).",
            fix="add it again from its new place, or run 'napari-picasso db check'.",
        )
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise InputFileError(path, f"is not a readable HDF5 file ({error}).") from None
    if LOCS_DATASET not in handle:
        handle.close()
        raise InputFileError(path, f"has no '{LOCS_DATASET}' dataset.")
    return handle


def locs_fields(path):
    """The field names of a localization file."""
    with _open_locs(path) as handle:
        return list(handle[LOCS_DATASET].dtype.names)


# Offered first for histograms: what a microscopist compares between parameter groups.
PREFERRED_FIELDS = ("photons", "lpx", "sx", "bg", "net_gradient", "ellipticity")


def histogram_fields(path):
    """The fields of a file to offer for histograms: :data:`PREFERRED_FIELDS` first, then the
    file's others in their order (``frame`` left out: Compare plots it over time)."""
    fields = [f for f in locs_fields(path) if f != "frame"]
    return [f for f in PREFERRED_FIELDS if f in fields] + [f for f in fields if f not in PREFERRED_FIELDS]


def read_fields(path, fields, *, progress=None):
    """Selected fields of a localization file, read in blocks: ``{field: array}``."""
    fields = list(fields)
    with _open_locs(path) as handle:
        dataset = handle[LOCS_DATASET]
        missing = [f for f in fields if f not in dataset.dtype.names]
        if missing:
            raise InputFileError(
                path, f"has no field(s) {', '.join(missing)} (it has {', '.join(dataset.dtype.names)})."
            )
        n = dataset.shape[0]
        out = {f: np.empty(n, dtype=dataset.dtype[f]) for f in fields}
        for start in range(0, n, BLOCK_ROWS):
            stop = min(n, start + BLOCK_ROWS)
            block = dataset.fields(fields)[start:stop] if len(fields) > 1 else None
            for f in fields:
                out[f][start:stop] = block[f] if block is not None else dataset.fields(f)[start:stop]
            if progress is not None:
                progress(stop, n)
    return out


def n_frames_of(path, frames=None):
    """Frames of the movie a file came from (its YAML), or 1 + the largest frame."""
    try:
        return int(load_info(path)[0]["Frames"])
    except (InputFileError, KeyError, IndexError, TypeError, ValueError):
        return int(frames.max()) + 1 if frames is not None and len(frames) else 0


def locs_per_frame(path, *, bin_frames=None, max_points=500, progress=None):
    """Localizations per frame over time, averaged in bins of frames.

    Parameters
    ----------
    bin_frames : int, optional
        Frames per bin (default: enough for at most ``max_points`` bins).
    progress : callable, optional
        ``progress(rows read, rows)`` after each block read.

    Returns
    -------
    dict
        ``frame`` (bin centres), ``locs_per_frame`` (mean per frame in each bin), ``bin_frames``.
    """
    frame = read_fields(path, ["frame"], progress=progress)["frame"]
    n_frames = max(n_frames_of(path, frame), int(frame.max()) + 1 if len(frame) else 0)
    counts = np.bincount(frame.astype(np.int64), minlength=n_frames)[: max(n_frames, 1)] if n_frames else np.zeros(1)
    if bin_frames is None:
        bin_frames = max(1, int(np.ceil(len(counts) / max_points)))
    n_bins = int(np.ceil(len(counts) / bin_frames))
    padded = np.zeros(n_bins * bin_frames)
    padded[: len(counts)] = counts
    sums = padded.reshape(n_bins, bin_frames).sum(axis=1)
    widths = np.minimum(bin_frames, len(counts) - np.arange(n_bins) * bin_frames)
    centres = np.arange(n_bins) * bin_frames + (widths - 1) / 2.0
    return {"frame": centres, "locs_per_frame": sums / widths, "bin_frames": bin_frames}


def field_histograms(paths, field, *, bins=60, value_range=None, percentile=99.5, progress=None):
    """Histograms of one field for several files on common bins.

    ``value_range`` defaults to 0..the ``percentile`` of all files (non-negative fields) or
    the percentile range, so a few outliers don't squash the plot. ``progress(path, rows
    read, rows)`` is called after each block read.

    Returns
    -------
    dict
        ``edges`` and ``counts`` (one array per path, in order), ``density`` (counts / n).
    """
    values = [
        read_fields(p, [field], progress=None if progress is None else (lambda done, n, p=p: progress(p, done, n)))[
            field
        ].astype(np.float64)
        for p in paths
    ]
    values = [v[np.isfinite(v)] for v in values]
    if value_range is None:
        everything = np.concatenate(values) if values else np.zeros(0)
        if len(everything) == 0:
            value_range = (0.0, 1.0)
        else:
            low = 0.0 if everything.min() >= 0 else float(np.percentile(everything, 100 - percentile))
            high = float(np.percentile(everything, percentile))
            value_range = (low, high if high > low else low + 1.0)
    edges = np.linspace(value_range[0], value_range[1], int(bins) + 1)
    counts = [np.histogram(v, bins=edges)[0] for v in values]
    density = [c / max(1, len(v)) for c, v in zip(counts, values)]
    return {"edges": edges, "counts": counts, "density": density}


MAX_PREVIEW_SIDE_PX = 4096
"""The largest side of a preview render, output px (a float32 image of at most 64 MB)."""


def preview_oversampling(width_px, height_px, oversampling, max_side_px=MAX_PREVIEW_SIDE_PX):
    """The oversampling a preview renders with: ``oversampling``, reduced to keep both sides <= ``max_side_px``.

    Parameters
    ----------
    width_px, height_px : float
        The camera frame, camera px.
    oversampling : float
        Output pixels per camera pixel asked for.
    max_side_px : int
        The largest side of the image, output px.

    Returns
    -------
    float
        Output pixels per camera pixel, at most ``oversampling``.
    """
    largest_px = max(float(width_px), float(height_px), 1.0)
    return min(float(oversampling), max_side_px / largest_px)


def render_preview(locs, info, *, oversampling=8.0, max_side_px=MAX_PREVIEW_SIDE_PX):
    """A Gaussian render of a table's localizations over its camera frame, for a preview.

    Parameters
    ----------
    locs : mapping or numpy.ndarray
        ``x``, ``y`` (camera px), ``lpx``, ``lpy``.
    info : list of dict
        The file's YAML documents; the first gives ``Width`` and ``Height`` (else the
        localizations' extent).
    oversampling : float
        Output pixels per camera pixel asked for (reduced by :func:`preview_oversampling`).

    Returns
    -------
    dict
        ``image``, ``oversampling`` (used) and ``requested_oversampling``, ``image_scale``
        and ``image_translate`` (put the image on camera px), ``width_px``, ``height_px``.

    Examples
    --------
    >>> import numpy as np
    >>> locs = {"x": np.array([5.0]), "y": np.array([3.0]), "lpx": np.array([0.1]), "lpy": np.array([0.1])}
    >>> render_preview(locs, [{"Width": 16, "Height": 8}], oversampling=4)["image"].shape
    (32, 64)
    """
    x, y = np.asarray(locs["x"]), np.asarray(locs["y"])
    movie = info[0] if info else {}
    width = int(movie.get("Width") or (np.ceil(x.max() + 1) if len(x) else 1))
    height = int(movie.get("Height") or (np.ceil(y.max() + 1) if len(y) else 1))
    used = preview_oversampling(width, height, oversampling, max_side_px)
    image, _ = render(
        locs,
        oversampling=used,
        viewport=(-0.5, -0.5, height - 0.5, width - 0.5),
        blur="gaussian",
        min_blur_px=1.0 / used,
    )
    # The viewport starts at the camera frame's edge (-0.5: pixel centres are integers);
    # output pixel j starts at -0.5 + j / oversampling, its centre half a pixel later.
    offset = -0.5 + 0.5 / used
    return {
        "image": image,
        "oversampling": used,
        "requested_oversampling": float(oversampling),
        "image_scale": (1.0 / used, 1.0 / used),
        "image_translate": (offset, offset),
        "width_px": width,
        "height_px": height,
    }


def preview_data(
    path, oversampling=8.0, max_points=100_000, seed=0, progress=None, with_points=True, max_side_px=MAX_PREVIEW_SIDE_PX
):
    """Layers' data for a file: points (a deterministic subset) and a rendered image.

    ``progress(rows read, rows)`` is called after each block read. The image has at most
    ``max_side_px`` output pixels a side: for a large camera frame the oversampling is
    reduced (:func:`preview_oversampling`; the one used is returned). ``with_points=False``
    leaves the points out (a page that shows the image only).

    Returns
    -------
    dict
        ``points_yx`` (n, 2) camera px (only ``with_points``), ``image`` (Gaussian render
        of all localizations), ``oversampling`` (output px per camera px of the image) and
        ``requested_oversampling``, ``image_scale`` and ``image_translate`` (put the image
        on camera px), ``width_px`` and ``height_px`` (the camera frame), ``pixelsize_nm``,
        ``n_locs``, ``name``.
    """
    fields = read_fields(path, ["x", "y", "lpx", "lpy"], progress=progress)
    info = load_info(path)
    n = len(fields["x"])
    data = {
        **render_preview(fields, info, oversampling=oversampling, max_side_px=max_side_px),
        "pixelsize_nm": info_pixelsize_nm(info[1:]),
        "n_locs": n,
        "name": Path(path).stem,
    }
    if with_points:
        keep = np.arange(n)
        if n > max_points:
            keep = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
        data["points_yx"] = np.column_stack([fields["y"][keep], fields["x"][keep]]).astype(np.float64)
    return data


def drift_trace(locs_path, info=None):
    """The drift an undrifted file was corrected for, for the Drift plot.

    Parameters
    ----------
    locs_path : path-like
        A row's file.
    info : list of dict, optional
        Its YAML documents (read when omitted).

    Returns
    -------
    dict or None
        ``drift`` (``(n_frames, 2 or 3)``: x, y px, z nm), ``pixelsize_nm`` (None when
        unknown) and ``method``; None for a file with no undrift step or whose drift file
        is gone.
    """
    info = load_info(locs_path) if info is None else info
    found = undrift_document(info)
    drift_file = drift_file_of(locs_path, info)
    if found is None or drift_file is None:
        return None
    return {"drift": load_drift(drift_file, with_z=True), "pixelsize_nm": info_pixelsize_nm(info), "method": found[0]}
