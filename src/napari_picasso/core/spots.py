"""Box-sized spots cut out of frames around identified candidates."""

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401


@numba.njit(parallel=True, cache=True, nogil=True)
def _extract(frames, frame_index, ys, xs, box, baseline, scale):
    r = box // 2
    n = len(ys)
    spots = np.empty((n, box, box), dtype=np.float32)
    for i in prange(n):
        f = frame_index[i]
        for dy in range(box):
            for dx in range(box):
                spots[i, dy, dx] = (frames[f, ys[i] - r + dy, xs[i] - r + dx] - baseline) * scale
    return spots


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
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    return _extract(
        frames,
        np.asarray(frame_index, dtype=np.int64),
        np.asarray(y_px, dtype=np.int32),
        np.asarray(x_px, dtype=np.int32),
        int(box),
        np.float32(baseline),
        np.float32(sensitivity / em_gain),
    )
