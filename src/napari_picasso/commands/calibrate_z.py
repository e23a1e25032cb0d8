"""``napari-picasso calibrate-z BEADS_MOVIE --step-nm STEP``: 3D astigmatism calibration.

Localizes a bead z-stack (one frame per z step, the first frame at the top of the scan as
in Picasso) with free sx, sy, fits degree-6 polynomials to the mean widths per step and
writes ``<movie>_3d_calib.yaml`` (Picasso's keys) and the calibration plot
``<movie>_3d_calib.png`` beside the movie.
"""

import sys
from pathlib import Path

from ..calibrate.astigmatism import BEAD_FIT_METHODS, calibrate_movie
from ..core import zfit
from ..io.atomic import replacing
from ..io.errors import InputFileError, ParameterError
from ..io.zcalib import calibration_path_for, save_calibration
from ..parameters import add_arguments, from_arguments
from ._progress import ProgressBar
from .localize import say_first_run


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "calibrate-z", help="3D astigmatism calibration from a bead z-stack", description=__doc__
    )
    parser.add_argument("movie", type=Path, metavar="BEADS_MOVIE", help="a z-stack of beads, one frame per stage step")
    parser.add_argument("--step-nm", type=float, required=True, help="stage step between frames, nm")
    parser.add_argument("--out", type=Path, help="folder for the outputs (default: beside the movie)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG plot")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.add_argument(
        "--magnification",
        type=float,
        default=zfit.DEFAULT_MAGNIFICATION,
        metavar="FACTOR",
        help="magnification factor (refractive-index mismatch) stored in the calibration (default: %(default)s)",
    )
    # The beads are fitted in 2D with free sx, sy: the 3D and shared-sigma options do not apply.
    add_arguments(
        parser,
        exclude=("shared_sigma", "z_calibration", "z_magnification", "max_d_zcalib"),
        only={"fit_method": BEAD_FIT_METHODS},
        title="localization of the beads",
    )
    parser.set_defaults(func=run)


def run(args):
    magnification = args.magnification
    parameters = from_arguments(args)
    path = calibration_path_for(args.movie, folder=args.out)
    progress = None if args.quiet else ProgressBar(args.movie.name)
    if not args.quiet:
        say_first_run(parameters)
    try:
        calibration, curves = calibrate_movie(
            args.movie, parameters, args.step_nm, magnification, path.resolve(), progress
        )
    except (InputFileError, ParameterError) as error:
        print(
            f"error: {args.movie}: {error}" if isinstance(error, ParameterError) else f"error: {error}", file=sys.stderr
        )
        return 1
    save_calibration(path, calibration)
    lo, hi = calibration[zfit.RANGE_KEY]
    print(
        f"{path}: {len(curves['z_nm'])} z steps with beads ({int(curves['n_locs'].sum())} "
        f"localizations kept), calibrated range {lo:.0f} .. {hi:.0f} nm (stage), "
        f"magnification factor {calibration['Magnification factor']:g}"
    )
    if not args.no_plot:
        from ..zplot import calibration_figure

        png = path.with_suffix(".png")
        with replacing(png) as part:
            calibration_figure(calibration, curves, parameters.pixelsize_nm).savefig(part, dpi=100, format="png")
        print(f"{png}: calibration plot")
    return 0
