"""Box-sized spots cut out of frames around identified candidates."""

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401


def extract_spots(frames, frame_index, y_px, x_px, box, baseline=0.0, sensitivity=1.0, em_gain=1.0):
    """Cut ``box x box`` spots centred on the candidates and convert them to photons.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n_frames, height, width)`` camera counts.
    frame_index, y_px, x_px : numpy.ndarray
        Candidates as returned by :func:`~napari_picasso.core.identify.identify`.
    box : int
        Odd box side in pixels.
    baseline, sensitivity, em_gain : float
        Photon conversion, see :func:`~napari_picasso.core.camera.counts_to_photons`.

    Returns
    -------
    numpy.ndarray
        ``(n_spots, box, box)`` float32 photons.
    """
    frames = np.asarray(frames)
    shape = frames.shape[-2:]
    # Uniform conversion is the per-pixel one with constant maps (two frame-sized arrays).
    offset = np.full(shape, baseline, dtype=np.float32)
    scale = np.full(shape, sensitivity / em_gain, dtype=np.float32)
    return extract_spots_per_pixel(frames, frame_index, y_px, x_px, box, offset, scale)


@numba.njit(parallel=True, cache=True, nogil=True)
def _extract_per_pixel(frames, frame_index, ys, xs, box, offset, scale):
    r = box // 2
    n = len(ys)
    spots = np.empty((n, box, box), dtype=np.float32)
    for i in prange(n):
        f = frame_index[i]
        for dy in range(box):
            yy = ys[i] - r + dy
            for dx in range(box):
                xx = xs[i] - r + dx
                spots[i, dy, dx] = (frames[f, yy, xx] - offset[yy, xx]) * scale[yy, xx]
    return spots


def extract_spots_per_pixel(frames, frame_index, y_px, x_px, box, offset, photons_per_count):
    """Cut spots and convert them to photons pixel by pixel (sCMOS maps).

    photons = (counts - offset[y, x]) * photons_per_count[y, x]

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n_frames, height, width)`` camera counts (or a background in counts).
    frame_index, y_px, x_px : numpy.ndarray
        Candidates (box centres, frame index within ``frames``).
    box : int
        Odd box side in pixels.
    offset, photons_per_count : numpy.ndarray
        ``(height, width)`` maps: offset (counts) and the conversion factor, e.g.
        ``1 / (gain_counts_per_electron * em_gain)``.

    Returns
    -------
    numpy.ndarray
        ``(n_spots, box, box)`` float32 photons.
    """
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    return _extract_per_pixel(
        frames,
        np.asarray(frame_index, dtype=np.int64),
        np.asarray(y_px, dtype=np.int32),
        np.asarray(x_px, dtype=np.int32),
        int(box),
        np.ascontiguousarray(offset, dtype=np.float32),
        np.ascontiguousarray(photons_per_count, dtype=np.float32),
    )


def map_windows(pixel_map, y_px, x_px, box):
    """``(n_spots, box, box)`` windows of a ``(height, width)`` per-pixel map around each box.

    Used to give each spot its own part of a camera map (e.g. the readout variance in
    photons^2 for :func:`~napari_picasso.core.gaussfit.fit_mle`'s ``extra_variance``).
    """
    pixel_map = np.ascontiguousarray(pixel_map, dtype=np.float32)
    zeros = np.zeros_like(pixel_map)
    ones = np.ones_like(pixel_map)
    return extract_spots_per_pixel(pixel_map, np.zeros(len(y_px), dtype=np.int64), y_px, x_px, box, zeros, ones)
