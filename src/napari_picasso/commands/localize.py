"""``napari-picasso localize MOVIE...``: localize movies into ``_locs.hdf5`` files."""

import os
import re
import sys
from pathlib import Path

from ..core.zfit import DEFAULT_MAGNIFICATION
from ..io.errors import InputFileError, ParameterError
from ..pipeline import FIT_METHODS, LocalizeParameters
from ._batch import add_batch_options, compute_choice, database_recorder, run_batch_command, wants_batch
from ._progress import ProgressBar
from .db import add_database_option


def add_localize_options(parser):
    """The localization options, shared by every command that localizes."""
    defaults = LocalizeParameters()
    parser.add_argument("--box", "-b", type=int, default=defaults.box, help="odd box side, px (default %(default)s)")
    parser.add_argument(
        "--gradient",
        "-g",
        type=float,
        default=defaults.min_net_gradient,
        help="minimum net gradient, Picasso's scale (default %(default)s)",
    )
    parser.add_argument(
        "--fit",
        "-f",
        choices=FIT_METHODS,
        default=defaults.fit_method,
        help="mle: maximum likelihood integrated Gaussian; lq: least squares; "
        "avg: average of ROI; mle-3d, lq-3d: 3D astigmatism, need --zcalib "
        "(default %(default)s)",
    )
    parser.add_argument("--shared-sigma", action="store_true", help="fit one sigma instead of sx, sy")
    parser.add_argument("--max-iterations", type=int, default=defaults.max_iterations)
    parser.add_argument(
        "--tolerance",
        type=float,
        default=defaults.tolerance_px,
        help="convergence: step in x and y below this, px (default %(default)s)",
    )
    parser.add_argument("--baseline", type=float, default=defaults.baseline, help="camera offset, counts")
    parser.add_argument("--sensitivity", type=float, default=defaults.sensitivity, help="electrons per count")
    parser.add_argument("--gain", type=float, default=defaults.em_gain, help="EM gain (1: none)")
    parser.add_argument("--qe", type=float, default=defaults.qe, help="quantum efficiency (metadata only)")
    parser.add_argument("--pixelsize", type=float, default=defaults.pixelsize_nm, help="nm per camera pixel")
    parser.add_argument(
        "--roi",
        type=int,
        nargs=4,
        metavar=("Y0", "X0", "Y1", "X1"),
        help="region of interest, camera pixels, end exclusive",
    )
    parser.add_argument("--frames", type=int, nargs=2, metavar=("FIRST", "STOP"), help="frames FIRST..STOP-1")
    parser.add_argument(
        "--detector",
        choices=("gradient", "snr"),
        default=defaults.detector,
        help="gradient: net gradient (Picasso); snr: signal-to-noise threshold from the "
        "camera noise model (default %(default)s)",
    )
    parser.add_argument(
        "--snr-threshold",
        type=float,
        default=defaults.snr_threshold,
        metavar="FACTOR",
        help="snr detector: filtered signal above FACTOR x noise (default %(default)s)",
    )
    parser.add_argument(
        "--debounce-px",
        type=float,
        default=defaults.debounce_px,
        metavar="R",
        help="snr detector: of two candidates closer than R px the stronger is kept (default %(default)s)",
    )
    parser.add_argument(
        "--read-noise",
        type=float,
        default=defaults.read_noise_e,
        metavar="E",
        help="read noise, electrons rms, for the snr detector without camera maps (default %(default)s)",
    )
    parser.add_argument(
        "--background-frames",
        metavar="SLICE",
        help="background = median of these frames relative to each frame, Python slice "
        "notation, e.g. -30:0 (the 30 frames before; --background-frames=-30:0 also "
        "works); used for detection",
    )
    _accept_negative_slices(parser)
    parser.add_argument("--background-statistic", choices=("median", "mean"), default=defaults.background_statistic)
    parser.add_argument(
        "--subtract-background",
        action="store_true",
        help="subtract the --background-frames estimate before fitting (needs --background-frames)",
    )
    parser.add_argument(
        "--start-frame",
        type=int,
        default=defaults.start_frame,
        metavar="N",
        help="localize from frame N on (earlier frames still feed the background)",
    )
    parser.add_argument(
        "--camera-maps",
        metavar="PATH",
        help="sCMOS offset/variance(/gain) maps (.hdf5 from camera-calibrate or Picasso, "
        ".npz, .npy, .tif): per-pixel photon conversion and sCMOS MLE",
    )
    parser.add_argument(
        "--camera-maps-origin",
        type=int,
        nargs=2,
        metavar=("Y", "X"),
        help="where the movie's camera ROI starts in full-sensor --camera-maps (top-left pixel, "
        "y x); default: the ROI the movie's metadata records",
    )
    parser.add_argument(
        "--zcalib", type=Path, metavar="CALIB.yaml", help="3D calibration (_3d_calib.yaml) for --fit mle-3d / lq-3d"
    )
    parser.add_argument(
        "--max-d-zcalib",
        type=float,
        metavar="D",
        help="3D fits: keep localizations with d_zcalib <= D (distance from the calibration "
        "curve, sqrt(px), per localization; Picasso's rule is 2 x the rms d_zcalib, which "
        "the summary line prints); default: keep all",
    )
    parser.add_argument(
        "--magnification",
        type=float,
        dest="z_magnification",
        metavar="FACTOR",
        help="magnification factor (refractive-index mismatch): 3D fits: replaces the "
        "calibration's (default: the calibration's value); calibrate-z: stored in the "
        f"calibration (default {DEFAULT_MAGNIFICATION})",
    )


def _accept_negative_slices(parser):
    # argparse reads "-30:0" as an unknown option; let it pass as a value like "-30".
    # Without the (private) matcher, users write --background-frames=-30:0.
    matcher = getattr(parser, "_negative_number_matcher", None)
    if matcher is not None:
        parser._negative_number_matcher = re.compile(rf"{matcher.pattern}|^-\d+:-?\d*(:\d+)?$")


def camera_maps_path(value):
    """``--camera-maps`` as an absolute path, or None.

    The path travels in the parameters to wherever the blocks run: Dask workers (another
    process, perhaps another machine) do not share this shell's working folder, and the
    ``_locs.yaml`` that records it is read later from anywhere.
    """
    if not value:
        return None
    return os.path.abspath(os.path.expanduser(os.fspath(value)))


def parameters_from_args(args):
    z_calibration = None
    if getattr(args, "zcalib", None) is not None:
        from ..io.zcalib import load_calibration

        z_calibration = load_calibration(args.zcalib)
    return LocalizeParameters(
        box=args.box,
        min_net_gradient=args.gradient,
        fit_method=args.fit,
        shared_sigma=args.shared_sigma,
        max_iterations=args.max_iterations,
        tolerance_px=args.tolerance,
        baseline=args.baseline,
        sensitivity=args.sensitivity,
        em_gain=args.gain,
        qe=args.qe,
        pixelsize_nm=args.pixelsize,
        roi=tuple(args.roi) if args.roi else None,
        frame_range=tuple(args.frames) if args.frames else None,
        detector=args.detector,
        snr_threshold=args.snr_threshold,
        debounce_px=args.debounce_px,
        read_noise_e=args.read_noise,
        background_frames=args.background_frames,
        background_statistic=args.background_statistic,
        subtract_background=args.subtract_background,
        start_frame=args.start_frame,
        camera_maps=camera_maps_path(args.camera_maps),
        camera_maps_origin=tuple(args.camera_maps_origin) if args.camera_maps_origin else None,
        z_calibration=z_calibration,
        max_d_zcalib=getattr(args, "max_d_zcalib", None),
        z_magnification=getattr(args, "z_magnification", None),
    )


def add_parser(subparsers):
    parser = subparsers.add_parser("localize", help="localize movies into _locs.hdf5 files", description=__doc__)
    parser.add_argument("movies", nargs="+", type=Path, metavar="MOVIE")
    parser.add_argument("--out", type=Path, help="folder for the outputs (default: beside each movie)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.add_argument(
        "--choose",
        action="append",
        default=[],
        metavar="AXIS=VALUE",
        help="for files holding more than one movie: the channel, position, z ... "
        "to localize (name or index), e.g. --choose channel=DAPI --choose z=0; "
        "--choose frame_axis=z reads a z-stack as frames",
    )
    add_localize_options(parser)
    add_database_option(parser)
    add_batch_options(parser)
    parser.set_defaults(func=run)


def movie_choices(args):
    """``{"channel": "DAPI", ...}`` from the ``--choose AXIS=VALUE`` options."""
    choices = {}
    for item in getattr(args, "choose", None) or []:
        axis, sep, value = item.partition("=")
        if not sep or not axis.strip():
            raise ParameterError(f"--choose {item!r}: write AXIS=VALUE, e.g. channel=0")
        choices[axis.strip()] = value.strip()
    return choices


def summary_line(result, pixelsize_nm):
    import numpy as np

    from ..io.locs import load_locs

    locs = load_locs(result.locs_path, with_info=False)
    if len(locs) == 0:
        return f"{result.locs_path}: 0 localizations in {result.n_frames} frames ({result.seconds:.1f} s)"
    return (
        f"{result.locs_path}: {len(locs)} localizations in {result.n_frames} frames "
        f"({len(locs) / result.n_frames:.1f}/frame), median photons {np.median(locs['photons']):.0f}, "
        f"median precision {np.median(locs['lpx']) * pixelsize_nm:.1f} nm, "
        f"{_z_summary(locs)}"
        f"{result.seconds:.1f} s ({result.n_frames / max(result.seconds, 1e-9):,.0f} frames/s)"
    )


def _z_summary(locs):
    import numpy as np

    if "d_zcalib" not in locs.dtype.names:
        return ""
    d = locs["d_zcalib"].astype(np.float64)
    # The rms lets users set --max-d-zcalib as Picasso's filter does (2 x rms).
    return f"median lpz {np.median(locs['lpz']):.1f} nm, rms d_zcalib {np.sqrt(np.mean(d * d)):.4f}, "


def run(args):
    try:
        parameters = parameters_from_args(args)
    except InputFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        choices = movie_choices(args)
    except ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:  # before any work: an option that would be ignored is an error, not a surprise
        compute_choice(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if wants_batch(args):
        return run_batch_command(args, parameters, choices)
    return run_one_by_one(args, parameters, choices)


def run_one_by_one(args, parameters, choices):
    """Movie files in this process, one after the other.

    Each movie gets its progress bar and a summary line, or its error on stderr as it
    happens; a movie that fails is recorded as failed in the database and the others are
    still localized. With several movies a status table ends the output. Returns the exit
    code: 1 when a movie failed, 130 when cancelled.
    """
    from ..distributed.batch import find_movies, run_batch, status_table

    record = database_recorder(args)

    def report(outcome):  # after each movie, before the next one starts
        if outcome.status == "done":
            print(summary_line(outcome, parameters.pixelsize_nm))
        else:  # named once: the reader's and the pipeline's messages often name the movie already
            reason = outcome.error
            named = outcome.movie.name in reason
            print(f"error: {reason}" if named else f"error: {outcome.movie}: {reason}", file=sys.stderr)
        record(outcome)

    outcomes = run_batch(
        find_movies(args.movies),
        parameters,
        out_folder=args.out,
        on_result=report,
        progress_for=None if args.quiet else (lambda item: ProgressBar(item.movie.name)),
        **choices,
    )
    for outcome in outcomes:
        if outcome.status == "cancelled":
            print(f"{outcome.movie}: cancelled, nothing written", file=sys.stderr)
        if outcome.note:  # the database row could not be written
            print(f"warning: {outcome.movie}: {outcome.note}", file=sys.stderr)
    if len(outcomes) > 1:
        print(status_table(outcomes))
    if any(o.status == "cancelled" for o in outcomes):
        return 130
    return 1 if any(o.status == "failed" for o in outcomes) else 0
