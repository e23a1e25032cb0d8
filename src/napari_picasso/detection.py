"""The detection stage of the pipeline: detector choice, camera noise model, background.

:mod:`napari_picasso.pipeline` calls these; the preview widget calls
:func:`detect_frame` ("Test detection") so that it shows exactly what a run would find.

Background range (``LocalizeParameters.background_frames``): Python slice notation,
relative to the current frame, as the user writes it: ``"START:STOP"`` or
``"START:STOP:STEP"`` with integers, START < STOP. For frame ``i`` the background is
the median (or mean) of frames ``i+START, i+START+STEP, ... < i+STOP``: ``"-30:0"`` is the
30 frames before each frame, ``"-15:16"`` the 31 frames centred on it. Near the movie's
ends the window is shifted inside the movie, keeping its length (see
:mod:`napari_picasso.core.background`).
"""

import dataclasses
from pathlib import Path

import numpy as np

from .camera_offset import estimate_baseline
from .core import gpu
from .core.background import estimate_background, frames_needed
from .core.camera import excess_noise_factor
from .core.frames import frames_as_float32
from .core.identify import gaussian_smooth, identify
from .core.snr_detect import net_gradients, snr_identify
from .io.camera_maps import check_against_movie, crop_to_movie, load_camera_maps
from .io.errors import ParameterError
from .parameters import DETECTORS, check_background_frames, fitter_of, validate_parameters
from .splitter import is_split, split_for_detection


@dataclasses.dataclass
class NoiseModel:
    """Per-pixel camera model: counts -> photons and readout variance (photons^2)."""

    offset: np.ndarray
    photons_per_count: np.ndarray
    read_variance: np.ndarray
    excess: float
    per_pixel: bool


def noise_model(parameters, frame_shape, camera_maps=None):
    """The camera model of a run, as ``(height, width)`` maps.

    With sCMOS maps: their offset, gain (or the scalar sensitivity) and variance;
    otherwise the scalar baseline, sensitivity / EM gain and (read noise / EM gain)^2.
    """
    height, width = frame_shape
    excess = excess_noise_factor(parameters.em_gain)
    if camera_maps is not None:
        return NoiseModel(
            camera_maps.offset,
            camera_maps.photons_per_count(parameters.sensitivity, parameters.em_gain),
            camera_maps.read_variance_photons(parameters.sensitivity, parameters.em_gain),
            excess,
            True,
        )
    shape = (height, width)
    read_sd_photons = parameters.read_noise_e / parameters.em_gain
    return NoiseModel(
        np.full(shape, parameters.baseline, dtype=np.float32),
        np.full(shape, parameters.sensitivity / parameters.em_gain, dtype=np.float32),
        np.full(shape, read_sd_photons**2, dtype=np.float32),
        excess,
        False,
    )


_ESTIMATES = {}  # (movie identity, dark frames) -> BaselineEstimate: previews measure once


def on_gpu(parameters):
    """True when this run identifies and fits on a CUDA GPU (``--device gpu``, or ``auto``
    with a GPU present)."""
    return parameters.device == "gpu" or (parameters.device == "auto" and gpu.cuda_available())


def resolve_baseline(parameters, movie):
    """``parameters`` with ``baseline="auto"`` replaced by the offset measured on the movie's
    dark frames, and the YAML entries that say how (empty for a baseline given).

    The measured value is rounded to 0.001 counts, the value the ``_locs.yaml`` records, so a
    run repeated from the file's parameters gives the same localizations.

    Raises
    ------
    ParameterError
        No dark frames found, or frames given that are not dark.
    """
    if parameters.baseline != "auto":
        return parameters, {}
    requested = parameters.dark_frames or "auto"
    key = (_movie_identity(movie), requested)
    estimate = _ESTIMATES.get(key) if key[0] is not None else None
    if estimate is None:
        estimate = estimate_baseline(movie, requested)
        if key[0] is not None:
            _ESTIMATES.clear()  # one movie at a time is what a dock previews
            _ESTIMATES[key] = estimate
    entries = estimate.info()
    baseline = entries.pop("Baseline")
    return parameters.replace(baseline=baseline, dark_frames=None), entries


def _movie_identity(movie):
    path = getattr(movie, "path", None)
    try:
        stat = Path(path).stat()
    except (TypeError, OSError):
        return None
    return (str(path), stat.st_size, stat.st_mtime_ns, tuple(movie.shape))


def load_maps(parameters, movie_shape, roi=None, name="movie", metadata=None, loader=None):
    """Load and check the run's camera maps (``None`` without ``parameters.camera_maps``).

    Full-sensor maps are cut to the movie's camera ROI: at
    ``parameters.camera_maps_origin`` when set, else where the movie ``metadata``
    records the ROI (:func:`~napari_picasso.io.camera_maps.crop_to_movie`).

    ``loader(path)`` reads the file (default
    :func:`~napari_picasso.io.camera_maps.load_camera_maps`); a distributed worker passes
    one that keeps what it has read for its next blocks.
    """
    if not parameters.camera_maps:
        return None
    maps = (loader or load_camera_maps)(parameters.camera_maps)
    maps = crop_to_movie(maps, movie_shape[-2:], getattr(parameters, "camera_maps_origin", None), metadata, name)
    check_against_movie(maps, movie_shape, roi, name)
    return maps


def with_maps_origin(parameters, movie_shape, metadata=None, name="movie"):
    """``parameters`` with ``camera_maps_origin`` set where full-sensor maps are cut.

    The origin found in the movie's metadata becomes explicit, so the ``_locs.yaml``
    records it and every worker of a distributed run cuts the maps identically.
    """
    if not parameters.camera_maps or parameters.camera_maps_origin is not None:
        return parameters
    maps = load_maps(parameters, movie_shape, None, name, metadata)
    return parameters if maps.origin is None else parameters.replace(camera_maps_origin=tuple(maps.origin))


def centres_in_rois(y_px, x_px, rois):
    """True for the spots whose centre pixel lies in any rectangle ``(y0, x0, y1, x1)``."""
    y_px = np.asarray(y_px)[:, np.newaxis]
    x_px = np.asarray(x_px)[:, np.newaxis]
    rois = np.asarray(rois, dtype=np.int64).reshape(-1, 4)
    inside = (y_px >= rois[:, 0]) & (y_px < rois[:, 2]) & (x_px >= rois[:, 1]) & (x_px < rois[:, 3])
    return inside.any(axis=1)


def _in_rois(found, parameters):
    # Several ROI rectangles: detection ran in their bounding box; keep centres in any.
    rois = getattr(parameters, "rois", None)
    if not rois:
        return found
    keep = centres_in_rois(found[1], found[2], rois)
    return tuple(a[keep] for a in found)


def detect(frames, parameters, roi, background=None, noise=None):
    """Candidates of a block of frames with the parameters' detector.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n, height, width)`` float32 camera counts.
    roi : tuple of int
        ``(y0, x0, y1, x1)``.
    background : numpy.ndarray, optional
        Background of each frame in counts (same shape as ``frames``).
    noise : NoiseModel, optional
        Defaults to :func:`noise_model` without maps.

    Returns
    -------
    frame_index, y_px, x_px, score, net_gradient : numpy.ndarray
        ``score`` is the net gradient (gradient detector) or the SNR (snr detector);
        ``net_gradient`` is Picasso's net gradient of every candidate either way.
        With ``parameters.rois`` only candidates centred in one of the rectangles.
    """
    noise = noise or noise_model(parameters, frames.shape[1:])
    if parameters.detector == "snr":
        fi, y, x, score = snr_identify(
            frames,
            parameters.snr_threshold,
            noise.offset,
            noise.photons_per_count,
            noise.read_variance,
            noise.excess,
            background,
            parameters.debounce_px,
            parameters.box,
            roi,
        )
        fi, y, x, score = _in_rois((fi, y, x, score), parameters)
        counts = frames if background is None else frames - background
        return fi, y, x, score, net_gradients(counts, fi, y, x, parameters.box)
    if parameters.detector != "gradient":
        raise ParameterError(f"unknown detector {parameters.detector!r}; choose {' or '.join(DETECTORS)}.")
    counts = frames
    if background is not None:
        counts = frames - background
    elif noise.per_pixel:
        # The fixed pattern of sCMOS offsets is not signal: remove it (net gradients do
        # not depend on a uniform offset, so Picasso's scale is kept).
        counts = frames - (noise.offset - noise.offset.mean())
    fitter = fitter_of(parameters)
    if fitter.detection_smoothing_px > 0:
        counts = gaussian_smooth(counts, fitter.detection_smoothing_px)
    find = gpu.identify_frames if on_gpu(parameters) else identify
    radius = None if fitter.maximum_radius_px is None else min(fitter.maximum_radius_px, parameters.box // 2)
    found = find(counts, parameters.min_net_gradient, parameters.box, roi, maximum_radius_px=radius)
    fi, y, x, ng = _in_rois(found, parameters)
    return fi, y, x, ng, ng


def read_with_background(movie, start, stop, parameters, window, n_frames, buffer=None):
    """Frames ``start:stop`` (float32) and their background (counts, or None).

    Reads only the frames the chunk's background windows need beyond the chunk. Without
    a background the frames are converted into ``buffer`` when it fits (see
    :func:`~napari_picasso.core.frames.frames_as_float32`): the result is then a view of
    it, valid until the buffer is used again.
    """
    if window is None:
        return _read(movie, start, stop, buffer), None
    lo, hi = frames_needed(start, stop, *window, n_frames)
    lo_read, hi_read = min(lo, start), max(hi, stop)
    block = _read(movie, lo_read, hi_read)
    frames = block[start - lo_read : stop - lo_read]
    background = estimate_background(
        block, lo_read, np.arange(start, stop), *window, n_frames, parameters.background_statistic
    )
    return np.ascontiguousarray(frames), background


def _read(movie, start, stop, buffer=None):
    if hasattr(movie, "read_frames"):
        frames = movie.read_frames(start, stop)
    else:
        frames = np.asarray(movie[start:stop])
    return frames_as_float32(frames, buffer)


DETECTION_DTYPE = np.dtype([("frame", "u4"), ("x", "i4"), ("y", "i4"), ("score", "f4"), ("net_gradient", "f4")])


def detect_frame(movie, frame, parameters, camera_maps=None):
    """ "Test detection": the candidates a run with ``parameters`` finds in one frame.

    Parameters
    ----------
    movie : Movie or array_like
        ``(frames, height, width)`` camera counts (frames of the background window are
        read from it as needed).
    frame : int
        Movie frame index.
    parameters : LocalizeParameters
    camera_maps : CameraMaps, optional
        Already loaded maps; otherwise ``parameters.camera_maps`` is loaded.

    Returns
    -------
    numpy.ndarray
        ``DETECTION_DTYPE`` rows: frame, x, y (box centres, px), score (net gradient or
        SNR), net_gradient.
    """
    shape = tuple(movie.shape)
    if len(shape) == 2:
        movie = np.asarray(movie)[np.newaxis]
        shape = movie.shape
    n_frames = shape[0]
    frame = int(frame)
    if not 0 <= frame < n_frames:
        raise ParameterError(f"frame {frame} is outside the movie's {n_frames} frames.")
    roi, _ = validate_parameters(parameters.replace(frame_range=None, start_frame=0), shape)
    parameters, _ = resolve_baseline(parameters, movie)
    window = check_background_frames(parameters, n_frames)
    maps = (
        camera_maps
        if camera_maps is not None
        else load_maps(parameters, shape, roi, metadata=getattr(movie, "metadata", None))
    )
    if maps is not None:
        check_against_movie(maps, shape, roi)
    frames, background = read_with_background(movie, frame, frame + 1, parameters, window, n_frames)
    if is_split(parameters):  # as the run: on the registered sum, in channel-0 px
        _, frames, background = split_for_detection(frames, parameters, background)
    noise = noise_model(parameters, frames.shape[1:], maps)
    _, y, x, score, ng = detect(frames, parameters, roi, background, noise)
    out = np.zeros(len(y), dtype=DETECTION_DTYPE)
    out["frame"] = frame
    out["x"] = x
    out["y"] = y
    out["score"] = score
    out["net_gradient"] = ng
    return out
