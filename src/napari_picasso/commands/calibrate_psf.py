"""``napari-picasso calibrate-psf BEADS_MOVIE --step-nm STEP --box BOX ...``: spline PSF calibration.

A bead z-stack (one frame per stage step, the first frame at the top of the scan, as in
Picasso) -> beads found, registered and averaged, smoothed along z, normalised ->
cubic-spline coefficients in ``<movie>_spline_calib.hdf5`` (Picasso 0.11's format: fit
with ``--fit spline-mle --psf`` here or in Picasso) and ``<movie>_spline_calib.png`` (the
PSF's x-z and y-z sections and the beads' agreement with it).
"""

import sys
from pathlib import Path

from .. import __version__
from ..calibrate.psf import calibrate_psf, calibration_figure
from ..io.atomic import replacing
from ..io.errors import InputFileError, ParameterError
from ..io.psf_calib import MODELS, psf_path_for, save_psf_calibration


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "calibrate-psf", help="cubic-spline PSF calibration from a bead z-stack", description=__doc__
    )
    parser.add_argument("movie", type=Path, metavar="BEADS_MOVIE", help="a z-stack of beads, one frame per stage step")
    parser.add_argument("--step-nm", type=float, required=True, help="stage step between frames, nm")
    parser.add_argument("--box", "-b", type=int, default=15, help="PSF box side, odd (default: %(default)s px)")
    parser.add_argument(
        "--gradient", "-g", type=float, default=5000.0, help="minimum net gradient of a bead (default: %(default)s)"
    )
    parser.add_argument("--baseline", type=float, default=100.0, help="camera offset, counts (default: %(default)s)")
    parser.add_argument("--sensitivity", type=float, default=1.0, help="electrons per count (default: %(default)s)")
    parser.add_argument("--gain", type=float, default=1.0, help="EM gain (default: %(default)s)")
    parser.add_argument(
        "--pixelsize", type=float, default=130.0, help="camera pixel size in the sample, nm (default: %(default)s)"
    )
    parser.add_argument(
        "--magnification",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="axial magnification factor (refractive-index mismatch) stored in the calibration (default: %(default)s)",
    )
    parser.add_argument("--model", choices=MODELS, default="spline-3d", help="3D (z) or in-focus 2D model")
    parser.add_argument("--out", type=Path, help="folder for the outputs (default: beside the movie)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    parser.set_defaults(func=run)


def run(args):
    path = psf_path_for(args.movie, folder=args.out)
    try:
        calibration, report = calibrate_psf(
            args.movie,
            step_nm=args.step_nm,
            box=args.box,
            min_net_gradient=args.gradient,
            baseline=args.baseline,
            sensitivity=args.sensitivity,
            em_gain=args.gain,
            pixelsize_nm=args.pixelsize,
            magnification=args.magnification,
            model=args.model,
            version=__version__,
        )
    except (InputFileError, ParameterError) as error:
        prefix = f"{args.movie}: " if isinstance(error, ParameterError) else ""
        print(f"error: {prefix}{error}", file=sys.stderr)
        return 1
    calibration["Path"] = str(path.resolve())
    save_psf_calibration(path, calibration)
    z_nm = report["z_nm"]
    print(
        f"{path}: {calibration['model']}, {calibration['n_beads']} beads, {len(z_nm)} z steps "
        f"({z_nm[-1]:.0f} .. {z_nm[0]:.0f} nm), box {calibration['box']} px, focus at slice "
        f"{calibration['z_init']:g}"
    )
    if not args.no_plot:
        png = path.with_suffix(".png")
        with replacing(png) as part:
            calibration_figure(report, args.pixelsize).savefig(part, dpi=100, format="png")
        print(f"{png}: PSF sections and bead agreement")
    return 0
