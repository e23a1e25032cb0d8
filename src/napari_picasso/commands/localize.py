"""``napari-picasso localize MOVIE...``: localize movies into ``_locs.hdf5`` files."""

import sys
from pathlib import Path

from ..core import timings
from ..io.errors import InputFileError, ParameterError
from ..parameters import add_arguments, from_arguments
from ._batch import (
    add_batch_options,
    compute_choice,
    database_recorder,
    exit_code,
    outcome_notes,
    run_batch_command,
    wants_batch,
)
from ._progress import ProgressBar
from .db import add_database_option

EXIT_CODES = (
    "exit codes: 0 every movie localized and recorded; 1 a movie failed (its reason on stderr, "
    "a failed row in the database); 2 bad options; 3 every movie localized but a database row "
    "could not be written (read-only, full or locked database: see the warning); 130 cancelled."
)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "localize", help="localize movies into _locs.hdf5 files", description=__doc__, epilog=EXIT_CODES
    )
    parser.add_argument(
        "movies",
        nargs="+",
        type=Path,
        metavar="MOVIE",
        help="movie files (.raw with its .yaml, .tif/.ome.tif, .nd2, .ims), NDTiff dataset folders, "
        "or folders to search for movies; each gets <movie>_locs.hdf5 + .yaml beside it "
        "(<movie>_channel-DAPI_locs.hdf5 with --choose channel=DAPI)",
    )
    parser.add_argument("--out", type=Path, help="folder for the outputs (default: beside each movie)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave movies whose _locs.hdf5 exists already (resume a batch); default: localize "
        "them again and replace the earlier output, saying so",
    )
    parser.add_argument(
        "--choose",
        action="append",
        default=[],
        metavar="AXIS=VALUE",
        help="for files holding more than one movie: the channel, position, z ... "
        "to localize (name or index), e.g. --choose channel=DAPI --choose z=0; "
        "--choose frame_axis=z reads a z-stack as frames; the choices are part of the output's name",
    )
    add_arguments(parser)
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
        parameters = from_arguments(args)
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
    if args.out is not None and (args.out.exists() and not args.out.is_dir()):
        print(f"error: --out {args.out}: is a file, not a folder; name a folder for the outputs.", file=sys.stderr)
        return 2
    if not args.quiet and args.scheduler is None:  # a scheduler's workers have caches of their own
        say_first_run(parameters)
    if wants_batch(args):
        return run_batch_command(args, parameters, choices)
    return run_one_by_one(args, parameters, choices)


def say_first_run(parameters):
    """Tell, on stderr, that numba compiles the kernels first (a silent minute otherwise)."""
    from ..kernel_cache import first_run_notice

    notice = first_run_notice(parameters)
    if notice:
        print(notice, file=sys.stderr, flush=True)


def run_one_by_one(args, parameters, choices):
    """Movie files in this process, one after the other.

    Each movie gets its progress bar and a summary line, or its error on stderr as it
    happens; a movie that fails is recorded as failed in the database and the others are
    still localized. With several movies a status table ends the output. Returns the exit
    code: 1 when a movie failed, 130 when cancelled, 3 when a database row could not be written.
    """
    from ..distributed.batch import find_movies, run_batch, status_table

    record = database_recorder(args)

    def report(outcome):  # after each movie, before the next one starts
        if outcome.status == "done":
            with timings.stage("summary line"):
                print(summary_line(outcome, parameters.pixelsize_nm))
            for note in outcome_notes(outcome):
                print(note, file=sys.stderr)
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
        existing="skip" if args.skip_existing else "replace",
        **choices,
    )
    for outcome in outcomes:
        if outcome.status == "skipped":
            print(*outcome_notes(outcome), sep="\n", file=sys.stderr)
        if outcome.status == "cancelled":
            print(f"{outcome.movie}: cancelled, nothing written", file=sys.stderr)
        if outcome.note:  # the database row could not be written
            print(f"warning: {outcome.movie}: {outcome.note}", file=sys.stderr)
    if len(outcomes) > 1:
        print(status_table(outcomes))
    return exit_code(outcomes)
