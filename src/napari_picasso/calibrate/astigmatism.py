"""3D astigmatism calibration from a bead z-stack (Picasso's ``_3d_calib.yaml``).

The stack (one frame per z step, the first frame at the top of the scan as in Picasso) is
localized with free sx, sy by the pipeline; :func:`napari_picasso.core.zfit.calibrate`
fits degree-6 polynomials to the mean widths per step.
"""

from ..core import zfit
from ..io.errors import InputFileError, ParameterError
from ..io.movies import open_movie
from ..pipeline import localize

BEAD_FIT_METHODS = ("mle", "lq")
"""The fit methods that calibrate: 2D fits with free sx, sy."""


def calibrate_movie(
    movie_path, parameters, step_nm, magnification=zfit.DEFAULT_MAGNIFICATION, calibration_path=None, progress=None
):
    """Localize a bead z-stack and compute its calibration.

    Returns
    -------
    calibration : dict
    curves : dict
        See :func:`napari_picasso.core.zfit.calibrate`.
    """
    if parameters.fit_method not in BEAD_FIT_METHODS or parameters.shared_sigma:
        raise ParameterError("calibrate with a 2D fit (mle or lq) with free sx and sy.")
    if step_nm <= 0:
        raise ParameterError(f"--step-nm must be positive; got {step_nm}.")
    if magnification <= 0:
        raise ParameterError(f"--magnification must be positive; got {magnification}.")
    with open_movie(movie_path) as movie:
        n_frames = movie.shape[0]
        locs = localize(movie, parameters, progress=progress)
    bounds = None
    if parameters.frame_range is not None:
        bounds = (parameters.frame_range[0], parameters.frame_range[1] - 1)
    try:
        return zfit.calibrate(
            locs["frame"], locs["sx"], locs["sy"], n_frames, step_nm, magnification, bounds, path=calibration_path
        )
    except ValueError as error:
        raise InputFileError(movie_path, f"no calibration: {error}.") from None
