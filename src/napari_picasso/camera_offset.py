"""The camera offset (baseline) of a movie, measured on its dark frames.

``--baseline auto`` (PYME's ``ADOffset`` habit): the frames a movie starts with before the
laser comes on hold the camera's offset alone, on the very camera, temperature and readout
mode of the experiment. :func:`estimate_baseline` finds them (``dark_frames="auto"``: the
step up in level when the laser comes on, :func:`napari_picasso.core.dark_frames.find_dark_run`)
or takes the frames given (``dark_frames=(0, 50)``, what ``--dark-frames 0:50`` parses
to with :func:`parse_dark_frames`), and returns the offset with the frames used. A movie
without dark frames is refused with a :class:`~napari_picasso.io.errors.ParameterError`
that says so; nothing is guessed.

:meth:`BaselineEstimate.info` is what the localization's YAML document records.
"""

import dataclasses
from pathlib import Path

import numpy as np

from .core.dark_frames import clip_width, clipped_sums, find_dark_run, frame_levels, step_threshold
from .io.errors import ParameterError
from .io.movies import open_movie

SEARCH_FRAMES = 1000
"""Frames searched for the laser coming on (a dark run ends before this frame)."""
BLOCK_FRAMES = 50
MIN_DARK_FRAMES = 5


@dataclasses.dataclass
class BaselineEstimate:
    """The camera offset measured on dark frames.

    Attributes
    ----------
    baseline_adu : float
        Mean count of the dark frames' pixels (cosmic rays and outliers beyond six
        read-noise widths left out).
    dark_frames : tuple of int
        ``(start, stop)``: the frames used (``stop`` excluded).
    chosen : str
        ``"automatically"`` or ``"given"``.
    read_noise_adu : float
        The dark frames' median spatial standard deviation (read noise and, on sCMOS,
        the offsets' pixel-to-pixel spread), counts.
    first_lit_frame : int or None
        The frame the laser comes on in (found automatically), else None.
    """

    baseline_adu: float
    dark_frames: tuple
    chosen: str
    read_noise_adu: float
    first_lit_frame: int | None = None

    def info(self):
        """The keys the localization's YAML document records (``Baseline`` and how it was measured)."""
        entries = {
            "Baseline": round(float(self.baseline_adu), 3),
            "Baseline source": f"dark frames ({self.chosen})",
            "Dark frames": [int(self.dark_frames[0]), int(self.dark_frames[1])],
            "Dark frame noise (ADU)": round(float(self.read_noise_adu), 3),
        }
        if self.first_lit_frame is not None:
            entries["First lit frame"] = int(self.first_lit_frame)
        return entries


def parse_dark_frames(text):
    """``"0:50"`` -> ``(0, 50)``; ``"auto"`` -> ``"auto"``.

    Raises
    ------
    ParameterError
        For anything else, with the form expected.

    Examples
    --------
    >>> parse_dark_frames("0:50")
    (0, 50)
    """
    text = str(text).strip()
    if text.lower() == "auto":
        return "auto"
    start, sep, stop = text.partition(":")
    try:
        start, stop = int(start or 0), int(stop)
    except ValueError:
        sep = ""
    if not sep or start < 0 or stop <= start:
        raise ParameterError(
            f"dark frames {text!r}: give them as START:STOP (frames START to STOP-1, e.g. 0:50) or 'auto'."
        )
    return start, stop


def _levels(movie, start, stop, block_frames=BLOCK_FRAMES):
    medians, stds = [], []
    for first in range(start, stop, block_frames):
        block_medians, block_stds = frame_levels(movie[first : min(stop, first + block_frames)])
        medians.append(block_medians)
        stds.append(block_stds)
    return np.concatenate(medians), np.concatenate(stds)


def _offset(movie, start, stop, medians, stds, block_frames=BLOCK_FRAMES):
    center, half_width = float(np.median(medians)), clip_width(medians, stds)
    total, count = 0.0, 0
    for first in range(start, stop, block_frames):
        block_sum, block_count = clipped_sums(movie[first : min(stop, first + block_frames)], center, half_width)
        total += block_sum
        count += block_count
    return total / count


def _name(movie):
    path = getattr(movie, "path", None)
    return Path(path).name if path is not None else "the movie"


def find_dark_frames(movie, *, search_frames=SEARCH_FRAMES, min_dark_frames=MIN_DARK_FRAMES):
    """The dark frames at the start of ``movie``: ``(0, first lit frame)``.

    Raises
    ------
    ParameterError
        No dark frames found: the message says what the start of the movie looks like
        and how to give the baseline or the frames instead.
    """
    n_frames = movie.shape[0]
    n_pixels = int(movie.shape[1] * movie.shape[2])
    stop = min(n_frames, search_frames)
    medians, stds = _levels(movie, 0, stop)
    run = find_dark_run(medians, stds, n_pixels, min_dark_frames=min_dark_frames)
    if run is None:
        spread = float(np.ptp(medians[: min(len(medians), 50)])) if len(medians) else 0.0
        raise ParameterError(
            f"{_name(movie)}: no dark frames found at its start (its first {stop} frames show no sustained "
            f"step up in level after at least {min_dark_frames} flat frames; the median of the first frames "
            f"varies by {spread:.1f} counts), so the camera offset cannot be measured on this movie. "
            "Give the baseline (--baseline N, from the camera's test sheet or a dark movie) or, if the movie "
            "does start with frames taken before the laser, those frames (--dark-frames START:STOP)."
        )
    return (0, run.stop), run


def estimate_baseline(movie, dark_frames="auto", *, search_frames=SEARCH_FRAMES, min_dark_frames=MIN_DARK_FRAMES):
    """The camera offset (counts) of a movie, measured on its dark frames.

    Parameters
    ----------
    movie : Movie or array_like
        ``(frames, height, width)`` camera counts (read in blocks).
    dark_frames : "auto" or (int, int)
        ``"auto"``: the frames before the laser comes on, found in the first
        ``search_frames`` frames; ``(start, stop)``: these frames (they must be one flat
        level: a step inside the range is refused).
    search_frames, min_dark_frames : int
        Where the automatic search looks, and the fewest dark frames it accepts.

    Returns
    -------
    BaselineEstimate

    Raises
    ------
    ParameterError
        No dark frames found (``"auto"``), or frames given outside the movie or not dark.

    Examples
    --------
    >>> from napari_picasso.simulate import dark_start_movie
    >>> movie, _ = dark_start_movie(60, n_dark_frames=20)
    >>> estimate = estimate_baseline(movie)
    >>> estimate.dark_frames
    (0, 20)
    """
    n_pixels = int(movie.shape[1] * movie.shape[2])
    if isinstance(dark_frames, str):
        if dark_frames != "auto":
            dark_frames = parse_dark_frames(dark_frames)
    if dark_frames == "auto":
        (start, stop), run = find_dark_frames(movie, search_frames=search_frames, min_dark_frames=min_dark_frames)
        chosen, first_lit = "automatically", run.stop
        medians, stds = _levels(movie, start, stop)
    else:
        start, stop = (int(v) for v in dark_frames)
        if start < 0 or stop <= start or stop > movie.shape[0]:
            raise ParameterError(
                f"{_name(movie)}: dark frames {start}:{stop} are not frames of this movie (it has {movie.shape[0]})."
            )
        medians, stds = _levels(movie, start, stop)
        threshold = step_threshold(medians, stds, n_pixels)
        if np.ptp(medians) > threshold:
            rise = int(np.argmax(np.abs(medians - medians[0]) > threshold / 2)) + start
            raise ParameterError(
                f"{_name(movie)}: frames {start}:{stop} are not all dark: the level changes by "
                f"{np.ptp(medians):.1f} counts (around frame {rise}); give only frames taken before the laser."
            )
        chosen, first_lit = "given", None
    baseline = _offset(movie, start, stop, medians, stds)
    return BaselineEstimate(baseline, (start, stop), chosen, float(np.median(stds)), first_lit)


def estimate_baseline_file(path, dark_frames="auto", **choices):
    """:func:`estimate_baseline` of the movie at ``path`` (``choices`` go to ``open_movie``)."""
    movie = open_movie(path, **choices)
    try:
        return estimate_baseline(movie, dark_frames)
    finally:
        close = getattr(movie, "close", None)
        if close is not None:
            close()
