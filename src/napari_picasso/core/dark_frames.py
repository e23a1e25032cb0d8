"""Dark frames at the start of a movie (before the laser) and the camera offset they show.

PYME's habit (its ``ADOffset``): acquire a few frames with the lasers off before the
experiment; their level is the camera offset (baseline), measured on the very camera,
temperature and readout mode of the movie. A dark frame holds only the offset and the
read noise: its median is the offset, its pixels scatter by the read noise. When the
laser comes on the median rises by the background (photons x counts per photon) and the
scatter grows with the shot noise, and both stay up.

:func:`find_dark_run` finds that step in the per-frame medians of the movie's first
frames (:func:`frame_levels`); it returns None, never a guess, when the start shows no
sustained step up. :func:`clipped_level` is the offset of frames known to be dark: the
mean of their pixels within a few read-noise widths of the median (cosmic rays and hot
pixels left out), accumulated block by block.
"""

import dataclasses

import numpy as np

MIN_STEP_ADU = 2.0
"""The smallest rise of the median that counts as the laser coming on (counts): medians of
integer counts move in steps of 0.5, and a background below 2 counts is no SMLM movie."""
STEP_IN_NOISE = 10.0
"""A step must also exceed this many times the dark frames' own scatter of the median."""
CLIP_IN_NOISE = 6.0


def frame_levels(frames):
    """Per-frame median and spatial standard deviation of a ``(n, height, width)`` block.

    Returns
    -------
    medians, stds : numpy.ndarray of float64, shape ``(n,)``
    """
    frames = np.asarray(frames)
    flat = frames.reshape(len(frames), -1)
    medians = np.median(flat, axis=1).astype(np.float64)
    stds = flat.std(axis=1, dtype=np.float64)
    return medians, stds


@dataclasses.dataclass
class DarkRun:
    """Frames ``0 .. stop`` are dark; the laser is on from ``stop``.

    Attributes
    ----------
    stop : int
        First lit frame (the number of dark frames).
    dark_median : float
        Median level of the dark frames (counts).
    step : float
        Rise of the median when the laser comes on (counts).
    threshold : float
        The rise that counted as a step.
    """

    stop: int
    dark_median: float
    step: float
    threshold: float


def step_threshold(dark_medians, dark_stds, n_pixels):
    """The rise of the median that is more than noise, for these dark frames (counts).

    The larger of :data:`MIN_STEP_ADU`, :data:`STEP_IN_NOISE` times the dark medians'
    scatter (1.4826 MAD) and :data:`STEP_IN_NOISE` times the scatter a median of
    ``n_pixels`` pixels of that spatial noise has (1.25 sigma / sqrt(n)).
    """
    dark_medians = np.asarray(dark_medians, dtype=np.float64)
    scatter = 1.4826 * np.median(np.abs(dark_medians - np.median(dark_medians))) if len(dark_medians) > 1 else 0.0
    sampling = 1.25 * float(np.median(dark_stds)) / np.sqrt(max(n_pixels, 1))
    return max(MIN_STEP_ADU, STEP_IN_NOISE * scatter, STEP_IN_NOISE * sampling)


def find_dark_run(medians, stds, n_pixels, min_dark_frames=5, min_lit_frames=5):
    """The dark frames at the start of a movie, from its first frames' levels.

    Frames ``0 .. k`` are dark when frame ``k`` and the ``min_lit_frames - 1`` frames after
    it all lie above the median of frames ``0 .. k`` by more than :func:`step_threshold`,
    the frames before ``k`` are one flat level (their medians within half that threshold:
    a slow rise is not a laser switched on), and the lit frames scatter more than the dark
    ones (shot noise). ``k`` must be at least ``min_dark_frames``.

    Parameters
    ----------
    medians, stds : array_like
        :func:`frame_levels` of the movie's first frames, in order.
    n_pixels : int
        Pixels per frame.
    min_dark_frames, min_lit_frames : int
        Dark frames needed for an estimate; lit frames that prove the step is sustained.

    Returns
    -------
    DarkRun or None
        None when the start of the movie shows no such step (the laser was on from frame 0,
        or too few frames were dark): the caller refuses, never guesses.

    Examples
    --------
    >>> medians = np.r_[np.full(20, 100.0), np.full(30, 160.0)]
    >>> find_dark_run(medians, np.r_[np.full(20, 1.5), np.full(30, 8.0)], 4096).stop
    20
    """
    medians = np.asarray(medians, dtype=np.float64)
    stds = np.asarray(stds, dtype=np.float64)
    for k in range(1, len(medians) - min_lit_frames + 1):
        threshold = step_threshold(medians[:k], stds[:k], n_pixels)
        level = float(np.median(medians[:k]))
        if medians[k] - level <= threshold:
            if abs(medians[k] - level) > threshold:
                return None  # the level fell: these were not the dark frames of a camera
            continue
        lit = medians[k : k + min_lit_frames]
        if k < min_dark_frames or np.any(lit - level <= threshold):
            return None
        if np.ptp(medians[:k]) > threshold / 2:
            return None  # a slow rise (activation, drift), not a laser switched on
        if np.median(stds[k : k + min_lit_frames]) <= np.median(stds[:k]):
            return None  # brighter but not noisier: not photons arriving
        return DarkRun(stop=k, dark_median=level, step=float(np.median(lit) - level), threshold=threshold)
    return None


def clipped_sums(frames, center, half_width):
    """``(sum, count)`` of the pixels of ``frames`` within ``center +- half_width``."""
    values = np.asarray(frames, dtype=np.float64).ravel()
    keep = np.abs(values - center) <= half_width
    return float(values[keep].sum()), int(keep.sum())


def clip_width(dark_medians, dark_stds):
    """The half width of the pixels counted in the offset: :data:`CLIP_IN_NOISE` read-noise
    widths (the dark frames' median spatial std), at least 1 count."""
    return max(1.0, CLIP_IN_NOISE * float(np.median(dark_stds)))
