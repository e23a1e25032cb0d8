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
    Batched MLE and least-squares Gaussian fitters.
average
    Average of ROI: background-corrected photon sum and centroid (not a fit).
precision
    Localization precision formulas (Mortensen et al. 2010).
zfit
    3D astigmatism: calibration from a bead z-stack and the z fit.
localizations
    The localization table: field names, types and order of Picasso's ``locs`` format.
matching
    Matching localizations to ground truth (accuracy checks).
render, zrender
    Super-resolution rendering (histogram, Gaussian; z-coloured).
drift
    Drift by redundant cross-correlation (RCC).
link
    Linking localizations of consecutive frames into binding events.
dbscan
    DBSCAN clustering.
nena
    NeNA localization precision from nearest neighbours in adjacent frames.
quality
    The quality figures the experiment database stores.
spline
    Cubic smoothing spline (drift trajectories).
_grid, _parallel
    A spatial index of localizations; the thread-safe numba threading layer.
"""

from . import _parallel  # noqa: F401  (selects a thread-safe numba layer first)
