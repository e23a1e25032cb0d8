"""``napari-picasso calibrate-channels BEADS_MOVIE --splitter left-right``: splitter calibration.

Beads seen in both halves of the camera frame are localized in each half (2D MLE),
matched, and the map from channel-1 camera px to channel-0 camera px is fitted: affine,
or second order (``--model poly2``, the default, for real optics). Writes
``<movie>_channels.yaml`` (the map, ``rms_residual_nm``, the splitter and camera size)
and the residual field ``<movie>_channels.png`` beside the movie. ``localize --splitter
... --channels`` and ``register --channels`` read it.
"""

import sys
from pathlib import Path

from ..calibrate.channels import MODELS, calibrate_movie, residual_figure
from ..io.atomic import replacing
from ..io.channels import channels_path_for, save_channels
from ..io.errors import InputFileError, ParameterError
from ..parameters import add_arguments, from_arguments
from ..splitter import SPLITTERS


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "calibrate-channels", help="image splitter: map channel 1 onto channel 0 from beads", description=__doc__
    )
    parser.add_argument("movie", type=Path, metavar="BEADS_MOVIE", help="beads visible in both halves")
    # own destinations: the schema's splitter options (a localization's) stay at their defaults
    parser.add_argument(
        "--splitter", dest="layout", required=True, choices=SPLITTERS, help="how the frame holds the two channels"
    )
    parser.add_argument("--flip", dest="mirrored", action="store_true", help="channel 1 is mirrored along the split")
    parser.add_argument("--model", choices=MODELS, default="poly2", help="the map (default %(default)s)")
    parser.add_argument("--out", type=Path, help="folder for the outputs (default: beside the movie)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG of the residuals")
    add_arguments(
        parser,
        exclude=(
            "splitter",
            "splitter_flip",
            "channels",
            "colours",
            "shared_sigma",
            "z_calibration",
            "z_magnification",
            "max_d_zcalib",
        ),
        only={"fit_method": ("mle",)},
        title="localization of the beads",
    )
    parser.set_defaults(func=run)


def run(args):
    parameters = from_arguments(args)
    path = channels_path_for(args.movie, folder=args.out)
    try:
        calibration, beads = calibrate_movie(
            args.movie, parameters, splitter=args.layout, flip=args.mirrored, model=args.model
        )
    except (InputFileError, ParameterError) as error:
        print(
            f"error: {args.movie}: {error}" if isinstance(error, ParameterError) else f"error: {error}", file=sys.stderr
        )
        return 1
    save_channels(path, calibration)
    by_model = ", ".join(f"{m} {v:.2f} nm" for m, v in calibration["rms_residual_nm_by_model"].items())
    print(
        f"{path}: {calibration['n_beads']} beads matched, {args.model} map, rms residual "
        f"{calibration['rms_residual_nm']:.2f} nm ({by_model})"
    )
    if not args.no_plot:
        png = path.with_suffix(".png")
        with replacing(png) as part:
            residual_figure(calibration, beads).savefig(part, dpi=100, format="png")
        print(f"{png}: residual field")
    return 0
