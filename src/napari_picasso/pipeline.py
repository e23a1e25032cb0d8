"""The one streaming localization pipeline.

``localize`` reads a movie in chunks of frames, identifies spots by net gradient, cuts
them out, converts them to photons, fits them and appends the rows to a sink (memory or
a ``_locs.hdf5`` file). Peak memory depends on the chunk size, not on the movie's
length. The napari widget, the command line, the watcher and the distributed runner all
call it; :func:`localize_frames` is the per-block step they share (previews and
distributed tasks call it on their frames).
"""

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .core import localizations as L
from .core import timings
from .core.spots import extract_spots, extract_spots_per_pixel, map_windows
from .detection import (
    check_background_frames,
    detect,
    load_maps,
    noise_model,
    on_gpu,
    read_with_background,
    resolve_baseline,
    with_maps_origin,
)
from .io.locs import LocsWriter, movie_locs_path
from .io.movie import Movie
from .io.movies import open_movie
from .parameters import LocalizeParameters, fitter_of, rois_bounding_box, validate_parameters
from .splitter import channel_shape, is_split, split_for_detection, spot_pairs

__all__ = [
    "LocalizationCancelled",
    "LocalizeParameters",
    "LocalizeResult",
    "chunk_frames_for",
    "crowded_frames_note",
    "localize",
    "localize_file",
    "localize_frames",
    "validate_parameters",
]

# Frames read and processed together: enough to keep both cores busy, bounded in bytes.
CHUNK_BYTES = 64 * 2**20


# More localizations per frame than one per this many box areas: the threshold picks noise.
CROWDED_BOX_AREAS = 2


def crowded_frames_note(n_rows, n_frames, roi, parameters, name="movie"):
    """A warning when a block has more localizations per frame than frames can hold, else None.

    More than one spot per ``CROWDED_BOX_AREAS`` box areas means the detection threshold
    (``--gradient`` 0 on a noisy movie) takes noise for spots: the fit then runs tens of
    times slower and gives nonsense, so the user is told after the first chunk.

    Examples
    --------
    >>> p = LocalizeParameters(box=7, min_net_gradient=0)
    >>> crowded_frames_note(250 * 10, 10, (0, 0, 128, 128), p) is not None
    True
    >>> crowded_frames_note(30, 10, (0, 0, 128, 128), p) is None
    True
    """
    y0, x0, y1, x1 = roi
    limit = max(1.0, (y1 - y0) * (x1 - x0) / (CROWDED_BOX_AREAS * parameters.box**2))
    per_frame = n_rows / max(1, n_frames)
    if per_frame <= limit:
        return None
    threshold = (
        f"the minimum net gradient (--gradient {parameters.min_net_gradient:g})"
        if parameters.detector == "gradient"
        else f"the detection threshold of --detector {parameters.detector}"
    )
    return (
        f"{name}: {per_frame:,.0f} localizations per frame (more than {limit:,.0f}, one per "
        f"{CROWDED_BOX_AREAS} boxes): {threshold} probably takes noise for spots, which makes the "
        "run slow and its output meaningless; raise it (compare the dock's preview)."
    )


class LocalizationCancelled(Exception):
    """Raised inside :func:`localize` when the caller's cancel check returns True."""


def fit_spots(spots, parameters, extra_variance=None):
    """Fit spots (photons) with the parameters' fit method; a dict of per-spot arrays.

    ``extra_variance`` (photons^2 per pixel, sCMOS / subtracted background) reaches the
    methods that weigh pixels by their variance (the MLE). With a splitter ``spots`` are
    :class:`~napari_picasso.splitter.SpotPairs`.
    """
    fitter = fitter_of(parameters)
    fit = fitter.gpu_fit if fitter.gpu_fit is not None and on_gpu(parameters) else fitter.fit
    return fit(spots, parameters, extra_variance)


def localize_frames(
    frames: np.ndarray,
    parameters: LocalizeParameters,
    *,
    first_frame: int = 0,
    roi: tuple | None = None,
    width: int | None = None,
    height: int | None = None,
    background: np.ndarray | None = None,
    camera_maps=None,
) -> np.ndarray:
    """Identify and fit spots in a block of frames: the pipeline's per-block step.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n, height, width)`` camera counts.
    parameters : LocalizeParameters
    first_frame : int
        Movie frame index of ``frames[0]`` (added to the ``frame`` field).
    roi : tuple of int, optional
        ``(y0, x0, y1, x1)``; defaults to ``parameters.roi`` or the whole frame.
    background : numpy.ndarray, optional
        Background of each frame in counts (``parameters.background_frames``), used for
        detection and, with ``parameters.subtract_background``, before fitting.
    camera_maps : CameraMaps, optional
        sCMOS maps (loaded from ``parameters.camera_maps`` when not given).

    Returns
    -------
    numpy.ndarray
        Localizations of the block (the fit method's dtype), sorted by
        frame, valid rows only (see :func:`~napari_picasso.core.localizations.valid_rows`).
    """
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    channels = None
    if is_split(parameters):  # positions in channel 0; detection on the registered sum
        channels, frames, background = split_for_detection(frames, parameters, background)
        width = height = None
    _, frame_height, frame_width = frames.shape
    width = frame_width if width is None else width
    height = frame_height if height is None else height
    if roi is None:
        if parameters.rois:
            roi = rois_bounding_box(parameters.rois)
        else:
            roi = parameters.roi if parameters.roi is not None else (0, 0, frame_height, frame_width)
    with timings.stage("reading"):
        frames32 = np.ascontiguousarray(frames, dtype=np.float32)
    if camera_maps is None and parameters.camera_maps:
        camera_maps = load_maps(parameters, frames32.shape, roi)
    noise = noise_model(parameters, (frame_height, frame_width), camera_maps)
    with timings.stage("identification"):
        frame_index, y_px, x_px, _, net_gradient = detect(frames32, parameters, roi, background, noise)
    with timings.stage("fitting"):
        return _fit_candidates(
            frames32,
            frame_index,
            y_px,
            x_px,
            net_gradient,
            parameters,
            noise,
            background,
            first_frame,
            width,
            height,
            channels,
        )


def _fit_candidates(
    frames32, frame_index, y_px, x_px, net_gradient, parameters, noise, background, first_frame, width, height, channels
):
    """Cut out, convert and fit the identified spots; the block's localization table.

    ``channels``: the two halves of an image splitter's frames (a joint fit of both), or None.
    """
    box = parameters.box
    if channels is not None:
        spots, inside = spot_pairs(*channels, frame_index, y_px, x_px, parameters)
        frame_index, y_px, x_px, net_gradient = (a[inside] for a in (frame_index, y_px, x_px, net_gradient))
        fit = fit_spots(spots, parameters)
        return assemble_locs(fit, frame_index + first_frame, y_px, x_px, net_gradient, parameters, width, height)
    if noise.per_pixel:
        spots = extract_spots_per_pixel(frames32, frame_index, y_px, x_px, box, noise.offset, noise.photons_per_count)
        extra = map_windows(noise.read_variance, y_px, x_px, box)
    else:
        spots = extract_spots(
            frames32, frame_index, y_px, x_px, box, parameters.baseline, parameters.sensitivity, parameters.em_gain
        )
        extra = read_noise_variance(parameters, spots.shape)
    subtracted = None
    if parameters.subtract_background and background is not None:
        subtracted = extract_spots_per_pixel(
            background, frame_index, y_px, x_px, box, noise.offset, noise.photons_per_count
        )
        spots = spots - subtracted
        positive = np.maximum(subtracted, 0.0)
        extra = positive if extra is None else extra + positive
    fit = fit_spots(spots, parameters, extra)
    if fitter_of(parameters).rows_per_spot:  # several (or no) rows per spot
        source = fit["spot"]
        frame_index, y_px, x_px, net_gradient = (a[source] for a in (frame_index, y_px, x_px, net_gradient))
        if subtracted is not None:
            subtracted = subtracted[source]
    if subtracted is not None:
        fit["bg"] = fit["bg"] + subtracted.mean(axis=(1, 2))
    return assemble_locs(fit, frame_index + first_frame, y_px, x_px, net_gradient, parameters, width, height)


def read_noise_variance(parameters, shape):
    """The camera's read noise as a uniform extra variance (photons^2) of every spot pixel.

    (read noise / EM gain)^2, the term the sCMOS maps carry per pixel (Huang et al. 2013);
    None when the read noise is 0 (the plain Poisson fit).
    """
    variance = (parameters.read_noise_e / parameters.em_gain) ** 2
    if variance <= 0:
        return None
    return np.full(shape, variance, dtype=np.float32)


def assemble_locs(fit, frame, y_px, x_px, net_gradient, parameters, width, height):
    """Build the localization table from fit results (positions relative to box centres).

    The fit method fills its own fields (:attr:`~napari_picasso.fitters.base.Fitter.columns`);
    rows Picasso's loader would drop, and rows the method rejects, are left out.
    """
    fitter = fitter_of(parameters)
    locs = np.zeros(len(frame), dtype=fitter.dtype)
    locs["frame"] = frame
    locs["x"] = x_px + fit["x"]
    locs["y"] = y_px + fit["y"]
    for field in ("photons", "sx", "sy", "bg"):
        locs[field] = fit[field]
    locs["net_gradient"] = net_gradient
    locs["ellipticity"] = L.ellipticity(locs["sx"], locs["sy"])
    keep = fitter.columns(locs, fit, parameters)
    valid = L.valid_rows(locs, width, height)
    return locs[valid if keep is None else valid & keep]


def chunk_frames_for(shape, chunk_bytes=None):
    """Frames per chunk so that a float32 chunk stays within ``chunk_bytes``.

    ``chunk_bytes`` defaults to the module's ``CHUNK_BYTES``, read at call time so that
    setting ``pipeline.CHUNK_BYTES`` takes effect.
    """
    if chunk_bytes is None:
        chunk_bytes = CHUNK_BYTES
    _, height, width = shape
    return int(max(1, min(4096, chunk_bytes // max(1, height * width * 4))))


def _should_cancel(cancel):
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def localize(
    movie,
    parameters: LocalizeParameters,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | threading.Event | None = None,
    sink: Callable[[np.ndarray], None] | None = None,
    chunk_frames: int | None = None,
    warn: Callable[[str], None] | None = None,
) -> np.ndarray | int:
    """Localize a movie, streaming it through memory in chunks of frames.

    Parameters
    ----------
    movie : Movie or array_like
        ``(frames, height, width)`` camera counts; a path is opened with
        :func:`~napari_picasso.io.movies.open_movie`.
    parameters : LocalizeParameters
    progress : callable, optional
        ``progress(frames_done, frames_total)`` after every chunk.
    cancel : callable or threading.Event, optional
        Checked before every chunk; when it is set (returns True)
        :class:`LocalizationCancelled` is raised.
    sink : callable, optional
        ``sink(rows)`` receives each chunk's localizations (e.g. ``LocsWriter.append``);
        without a sink the localizations are collected and returned.
    chunk_frames : int, optional
        Frames per chunk (default: about 64 MB of float32 pixels).
    warn : callable, optional
        ``warn(text)`` receives a warning about the run (far too many localizations per
        frame after the first chunk: see :func:`crowded_frames_note`); the run goes on.

    Returns
    -------
    numpy.ndarray or int
        The localizations sorted by frame, or, with a ``sink``, the number of rows sent.
    """
    if isinstance(movie, (str, Path)):
        with open_movie(movie) as opened:
            return localize(
                opened, parameters, progress=progress, cancel=cancel, sink=sink, chunk_frames=chunk_frames, warn=warn
            )
    name = movie.path.name if isinstance(movie, Movie) else "movie"
    roi, (first, stop) = validate_parameters(parameters, movie.shape, name)
    parameters, _ = resolve_baseline(parameters, movie)
    window = check_background_frames(parameters, movie.shape[0], name)
    camera_maps = load_maps(parameters, movie.shape, roi, name, getattr(movie, "metadata", None))
    n_frames, height, width = movie.shape
    step = chunk_frames or chunk_frames_for(movie.shape)
    collected = [] if sink is None else None
    # One float32 chunk, filled again for every chunk (no new 64 MB array, no page faults).
    buffer = np.empty((min(step, max(stop - first, 0)), height, width), np.float32) if window is None else None
    n_rows = 0
    total = stop - first
    if progress is not None:
        progress(0, total)
    for start in range(first, stop, step):
        if _should_cancel(cancel):
            raise LocalizationCancelled(f"cancelled at frame {start}")
        end = min(stop, start + step)
        with timings.stage("reading"):
            frames, background = read_with_background(movie, start, end, parameters, window, n_frames, buffer)
        locs = localize_frames(
            frames,
            parameters,
            first_frame=start,
            roi=roi,
            width=width,
            height=height,
            background=background,
            camera_maps=camera_maps,
        )
        if start == first and warn is not None:
            note = crowded_frames_note(len(locs), end - start, roi, parameters, name)
            if note is not None:
                warn(note)
        n_rows += len(locs)
        if sink is None:
            collected.append(locs)
        else:
            with timings.stage("writing"):
                sink(locs)
        if progress is not None:
            progress(end - first, total)
    if sink is not None:
        return n_rows
    if not collected:
        return L.empty_locs(fitter_of(parameters).dtype)
    return np.concatenate(collected)


@dataclasses.dataclass
class LocalizeResult:
    """What :func:`localize_file` produced."""

    locs_path: Path
    n_locs: int
    n_frames: int  # frames processed (the frame range), not the movie's length
    seconds: float
    info: list
    warnings: list = dataclasses.field(default_factory=list)  # what the run warned about


def movie_info(movie, parameters=None):
    """The movie document of ``_locs.yaml``: Width/Height/Frames first, then metadata.

    With a splitter (``parameters``) Width and Height are one channel's, the camera
    frame's follow as ``Camera Width``/``Camera Height``.
    """
    n_frames, height, width = movie.shape
    doc = {"Width": int(width), "Height": int(height), "Frames": int(n_frames)}
    if parameters is not None and is_split(parameters):
        doc["Height"], doc["Width"] = channel_shape(movie.shape, parameters.splitter, movie.path.name)
        doc.update({"Camera Width": int(width), "Camera Height": int(height)})
    for key, value in movie.metadata.items():
        if key not in doc:
            doc[key] = value
    doc["Data Type"] = np.dtype(movie.dtype).name
    doc.setdefault("Byte Order", "<")
    doc["File"] = str(movie.path)
    return doc


def localize_file(
    movie,
    parameters: LocalizeParameters,
    locs_path: str | os.PathLike | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | threading.Event | None = None,
    extra_info: dict | None = None,
    chunk_frames: int | None = None,
    **choices,
) -> "LocalizeResult":
    """Localize a movie file into ``<movie>_locs.hdf5`` + ``_locs.yaml``.

    The outputs are written under temporary names and renamed when complete; a cancel or
    an error leaves no partial file. ``movie`` is a path (opened with ``choices``) or an
    open :class:`Movie`. ``chunk_frames`` goes to :func:`localize` (smaller chunks: finer
    progress and a quicker cancel).

    Returns
    -------
    LocalizeResult
    """
    if not isinstance(movie, Movie):
        with open_movie(movie, **choices) as opened:
            return localize_file(
                opened,
                parameters,
                locs_path,
                progress=progress,
                cancel=cancel,
                extra_info=extra_info,
                chunk_frames=chunk_frames,
            )
    locs_path = Path(locs_path) if locs_path is not None else movie_locs_path(movie)
    _, (first, stop) = validate_parameters(parameters, movie.shape, movie.path.name)
    parameters, baseline_info = resolve_baseline(parameters, movie)
    parameters = with_maps_origin(parameters, movie.shape, movie.metadata, movie.path.name)
    info = [movie_info(movie, parameters), {**parameters.to_info(), **baseline_info}]
    started = time.perf_counter()
    warned = []
    with LocsWriter(locs_path, fitter_of(parameters).dtype, info) as writer:
        n_locs = localize(
            movie,
            parameters,
            progress=progress,
            cancel=cancel,
            sink=writer.append,
            chunk_frames=chunk_frames,
            warn=warned.append,
        )
        seconds = time.perf_counter() - started
        with timings.stage("writing"):
            writer.commit({"Localizations": int(n_locs), **(extra_info or {})})
    return LocalizeResult(locs_path, int(n_locs), stop - first, seconds, writer.info, warned)
