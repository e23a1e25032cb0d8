"""Algorithms over arrays: numpy and numba only (no Qt, napari or file I/O).

Modules
-------
camera
    Conversion of camera counts to photons and the noise factors of the camera model.
identify
    Spot identification by net gradient (Picasso's scale).
snr_detect
    Spot identification by a signal-to-noise threshold from the camera noise model.
background
    Per-pixel background of each frame from a range of frames around it.
spots
    Extraction of box-sized spots around identified candidates.
gaussfit
    Batched MLE and least-squares Gaussian fitters, and the average-of-ROI estimate.
localizations
    The localization table: field names, types and order of Picasso's ``locs`` format.
"""

from . import _parallel  # noqa: F401  (selects a thread-safe numba layer first)
