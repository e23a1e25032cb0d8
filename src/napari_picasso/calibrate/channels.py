"""Channel calibration of an image splitter from a beads movie (``_channels.yaml``).

Beads visible in both halves are localized in each half by the pipeline (its 2D MLE),
averaged over the frames into one position per bead, matched across the halves (the
displacement most bead pairs share, then nearest neighbours through an affine map) and
the map from channel-1 px to channel-0 px is fitted by least squares: affine
(``1, x, y``) or second order (``poly2``, for real optics). ``rms_residual_nm`` is the rms
distance between the mapped channel-1 beads and their channel-0 partners.
"""

import numpy as np
from matplotlib.figure import Figure
from scipy.spatial import cKDTree

from ..core.channelmap import TERMS, apply_map, fit_map
from ..io.channels import map_document
from ..io.errors import InputFileError, ParameterError
from ..io.movies import open_movie
from ..pipeline import localize
from ..splitter import channel_shape, split_frames

MODELS = tuple(TERMS)
MIN_BEADS = {"affine": 4, "poly2": 8}


def bead_positions(locs, radius_px=1.0, min_fraction=0.5):
    """One mean position per bead: localizations within ``radius_px`` of a bead of the
    frame with most localizations; beads seen in fewer than ``min_fraction`` of the frames
    are dropped.

    Examples
    --------
    >>> locs = np.zeros(4, dtype=[("frame", "u4"), ("x", "f4"), ("y", "f4")])
    >>> locs["frame"] = [0, 0, 1, 1]; locs["x"] = [5, 20, 5.2, 20.2]; locs["y"] = [5, 5, 5, 5]
    >>> np.round(bead_positions(locs), 2).tolist()
    [[5.1, 5.0], [20.1, 5.0]]
    """
    if len(locs) == 0:
        return np.zeros((0, 2))
    frames, counts = np.unique(locs["frame"], return_counts=True)
    seeds = locs[locs["frame"] == frames[np.argmax(counts)]]
    points = np.column_stack([locs["x"], locs["y"]]).astype(np.float64)
    distance, nearest = cKDTree(np.column_stack([seeds["x"], seeds["y"]])).query(points)
    near = distance <= radius_px
    n = np.bincount(nearest[near], minlength=len(seeds))
    sums = np.stack([np.bincount(nearest[near], weights=points[near, a], minlength=len(seeds)) for a in (0, 1)], 1)
    keep = n >= max(1, min_fraction * len(frames))
    return sums[keep] / n[keep, None]


def match_beads(channel0, channel1, *, max_shift_px=None, tolerance_px=1.0):
    """Pairs ``(i0, i1)`` of bead indices in channel 0 and channel 1.

    The displacement that most bead pairs share (1 px bins, refined by their median)
    gives a first match within 2 px; an affine map of it then matches nearest
    neighbours within ``tolerance_px``.

    Examples
    --------
    >>> c0 = np.array([[5.0, 5], [20, 6], [8, 25], [30, 30], [15, 15]])
    >>> i0, i1 = match_beads(c0, c0[::-1] + [3.0, -2.0])
    >>> i1.tolist()
    [4, 3, 2, 1, 0]
    """
    empty = (np.zeros(0, int), np.zeros(0, int))
    if len(channel0) == 0 or len(channel1) == 0:
        return empty
    d = channel0[:, None, :] - channel1[None, :, :]
    if max_shift_px is not None:
        d = np.where(np.abs(d).max(axis=2, keepdims=True) <= max_shift_px, d, np.nan)
    flat = d.reshape(-1, 2)
    flat = flat[np.isfinite(flat).all(axis=1)]
    if len(flat) == 0:
        return empty
    bins = np.rint(flat).astype(np.int64)
    keys, counts = np.unique(bins, axis=0, return_counts=True)
    best = keys[np.argmax(counts)]
    shift = np.median(flat[(np.abs(flat - best) <= 1.0).all(axis=1)], axis=0)
    i0, i1 = _nearest_pairs(channel0, channel1 + shift, 2.0)
    if len(i0) >= 3:
        cx, cy = fit_map(channel1[i1, 0], channel1[i1, 1], channel0[i0, 0], channel0[i0, 1], "affine")
        mapped = np.column_stack(apply_map(cx, cy, channel1[:, 0], channel1[:, 1]))
        i0, i1 = _nearest_pairs(channel0, mapped, tolerance_px)
    return i0, i1


def _nearest_pairs(a, b, radius):
    """Mutual nearest neighbours within ``radius``: index arrays into a and b."""
    d_ab, j = cKDTree(b).query(a)
    _, i = cKDTree(a).query(b)
    mutual = (i[j] == np.arange(len(a))) & (d_ab <= radius)
    return np.flatnonzero(mutual), j[mutual]


def fit_channels(channel0, channel1, model="poly2", pixelsize_nm=130.0):
    """Fit the map of matched beads; ``(cx, cy, residuals_px)`` (``(n, 2)`` channel-0 px)."""
    if model not in MODELS:
        raise ParameterError(f"unknown --model {model!r}; choose one of {', '.join(MODELS)}.")
    cx, cy = fit_map(channel1[:, 0], channel1[:, 1], channel0[:, 0], channel0[:, 1], model)
    mapped = np.column_stack(apply_map(cx, cy, channel1[:, 0], channel1[:, 1]))
    return cx, cy, mapped - channel0


def rms_nm(residuals_px, pixelsize_nm):
    """Root mean square length of residual vectors, nm."""
    if len(residuals_px) == 0:
        return float("nan")
    return float(np.sqrt(np.mean(np.sum(residuals_px**2, axis=1))) * pixelsize_nm)


def calibrate_frames(frames, parameters, *, splitter, flip=False, model="poly2", progress=None, name="movie"):
    """Channel calibration of beads frames ``(n, height, width)`` (camera counts).

    Returns
    -------
    calibration : dict
        The ``_channels.yaml`` mapping (:mod:`napari_picasso.io.channels`).
    beads : dict
        ``channel0``, ``channel1`` (matched bead positions, px) and ``residuals_px``
        (mapped channel 1 minus channel 0), for the residual figure.
    """
    if model not in MODELS:
        raise ParameterError(f"unknown --model {model!r}; choose one of {', '.join(MODELS)}.")
    if parameters.fit_method != "mle":
        raise ParameterError("beads are localized with --fit mle.")
    frames = np.asarray(frames)
    height, width = channel_shape(frames.shape, splitter, name)
    halves = split_frames(frames, splitter, flip)
    positions = []
    for channel in halves:
        locs = localize(np.ascontiguousarray(channel), parameters, progress=progress)
        positions.append(bead_positions(locs))
    i0, i1 = match_beads(*positions, max_shift_px=max(height, width) / 4)
    if len(i0) < MIN_BEADS[model]:
        raise InputFileError(
            name,
            f"only {len(i0)} beads were found in both channels ({len(positions[0])} in channel 0, "
            f"{len(positions[1])} in channel 1); a {model} map needs at least {MIN_BEADS[model]}.",
            "check --splitter/--flip, lower --gradient, or image more beads across the field.",
        )
    channel0, channel1 = positions[0][i0], positions[1][i1]
    pixelsize = float(parameters.pixelsize_nm)
    residual = {m: fit_channels(channel0, channel1, m)[2] for m in MODELS}
    cx, cy, residuals = fit_channels(channel0, channel1, model)
    calibration = {
        "map": map_document(cx, cy),
        "rms_residual_nm": rms_nm(residuals, pixelsize),
        "rms_residual_nm_by_model": {m: rms_nm(r, pixelsize) for m, r in residual.items()},
        "splitter": splitter,
        "flip": bool(flip),
        "camera_width": int(frames.shape[2]),
        "camera_height": int(frames.shape[1]),
        "pixelsize_nm": pixelsize,
        "n_beads": int(len(i0)),
    }
    return calibration, {"channel0": channel0, "channel1": channel1, "residuals_px": residuals}


def calibrate_movie(movie_path, parameters, **options):
    """:func:`calibrate_frames` of a beads movie file (read whole: beads movies are short)."""
    with open_movie(movie_path) as movie:
        frames = (
            movie[0 : movie.shape[0]] if not hasattr(movie, "read_frames") else movie.read_frames(0, movie.shape[0])
        )
        return calibrate_frames(frames, parameters, name=str(movie_path), **options)


def residual_figure(calibration, beads, figure=None):
    """The residual field: an arrow per bead (mapped channel 1 -> channel 0), exaggerated.

    Examples
    --------
    >>> beads = {"channel0": np.zeros((1, 2)), "channel1": np.zeros((1, 2)), "residuals_px": np.zeros((1, 2))}
    >>> calibration = {"map": {"model": "affine"}, "rms_residual_nm": 1.0, "pixelsize_nm": 100}
    >>> residual_figure(calibration, beads).axes[0].get_title()
    'affine map: rms residual 1.0 nm (arrows x1000)'
    """
    figure = figure or Figure(figsize=(6, 5))
    figure.clear()
    ax = figure.add_subplot(1, 1, 1)
    p = beads["channel0"]
    r = beads["residuals_px"] * calibration["pixelsize_nm"]
    scale = 1000.0
    ax.quiver(
        p[:, 0],
        p[:, 1],
        r[:, 0] * scale / calibration["pixelsize_nm"],
        r[:, 1] * scale / calibration["pixelsize_nm"],
        angles="xy",
        scale_units="xy",
        scale=1,
    )
    ax.set_xlabel("x (channel-0 px)")
    ax.set_ylabel("y (channel-0 px)")
    ax.invert_yaxis()
    ax.set_aspect("equal")
    ax.set_title(
        f"{calibration['map']['model']} map: rms residual {calibration['rms_residual_nm']:.1f} nm (arrows x{scale:g})"
    )
    return figure
