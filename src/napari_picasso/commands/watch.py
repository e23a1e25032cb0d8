"""``napari-picasso watch FOLDER...``: localize every new movie in folders until interrupted.

Parameter groups come from a YAML file: a list of mappings whose keys are the
``localize`` command's long option names, e.g.::

    - {box: 7, gradient: 5000, fit: mle, baseline: 100, sensitivity: 0.5}
    - {box: 9, gradient: 3000, fit: lq}

Each movie is localized with each group (outputs ``<movie>_pg_<i>_locs.hdf5`` when there
is more than one). ``--command`` templates run after each output, in order, without a
shell; ``$FILENAME`` is the output ``_locs.hdf5``, ``$MOVIE`` the input movie.

``--workers N`` or ``--scheduler ADDRESS`` localize on a Dask cluster, as for ``localize``.
"""

import signal
import sys
import threading
from pathlib import Path

from ..groups import load_groups
from ..io.errors import InputFileError, ParameterError
from ..parameters import LocalizeParameters, number_argument
from ._batch import add_compute_options, compute_choice
from .localize import movie_choices


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "watch",
        help="localize every new movie in folders until interrupted",
        description=__doc__,
    )
    parser.add_argument("folders", nargs="+", type=Path, metavar="FOLDER", help="folders the acquisitions are saved in")
    parser.add_argument("--groups", type=Path, help="YAML list of parameter groups (default: the localize defaults)")
    parser.add_argument(
        "--command",
        action="append",
        default=[],
        dest="commands",
        metavar="COMMAND",
        help="run after each output ($FILENAME: the _locs.hdf5, $MOVIE: the movie); repeatable",
    )
    parser.add_argument(
        "--command-timeout",
        type=number_argument("--command-timeout", "float", label="command timeout", minimum=0),
        default=3600.0,
        metavar="SECONDS",
        help="kill a command (and all it started) running longer than this; the watcher "
        "logs it and goes on (default %(default)g; 0: no limit)",
    )
    parser.add_argument("--recursive", "-r", action="store_true", help="also watch sub-folders")
    parser.add_argument(
        "--settle-seconds",
        type=number_argument("--settle-seconds", "float", label="settle time", minimum=0),
        default=5.0,
        help="start a movie once its files have not changed for this long (default %(default)s)",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="start on a movie as soon as it appears and localize it while it is written (TIFF, "
        "MMStack, NDTiff, .raw); it ends when it has not grown for --settle-seconds (at least 1 s); "
        "see docs/live.md",
    )
    parser.add_argument(
        "--rescan-seconds",
        type=number_argument("--rescan-seconds", "float", label="rescan interval", minimum=0, above_minimum=True),
        default=30.0,
        help="full rescan interval, catches missed file events (default %(default)s)",
    )
    parser.add_argument(
        "--choose",
        action="append",
        default=[],
        metavar="AXIS=VALUE",
        help="for files holding several movies: which one (as for localize), "
        "e.g. --choose channel=0; applies to every movie",
    )
    parser.add_argument("--retry-failed", action="store_true", help="also retry movies the database records as failed")
    parser.add_argument("--db", type=Path, metavar="PATH", help="database file (default: the napari-picasso database)")
    parser.add_argument("--log", type=Path, help="log file (default: watcher-<UTC time>.log in the first folder)")
    parser.add_argument("--quiet", "-q", action="store_true", help="do not print the log lines")
    add_compute_options(
        parser.add_argument_group(
            "many cores, many machines",
            # (the parser keeps the description's line breaks)
            "localize each movie on a Dask cluster (started when the first movie is ready,\n"
            "kept until the watcher stops) instead of in this process; the outputs are the same",
        )
    )
    parser.set_defaults(func=run)


def run(args):
    from ..watcher import Watcher
    from ..watcher.log import default_log_path

    try:
        groups = load_groups(args.groups) if args.groups else [LocalizeParameters()]
        choices = movie_choices(args)
        compute = compute_choice(args)
    except (InputFileError, ParameterError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    log_path = args.log if args.log is not None else default_log_path(args.folders[0])
    echo = None if args.quiet else (lambda line: print(line, flush=True))
    try:
        watcher = Watcher(
            args.folders,
            groups,
            args.commands,
            recursive=args.recursive,
            settle_seconds=args.settle_seconds,
            rescan_seconds=args.rescan_seconds,
            db_path=args.db,
            log_path=log_path,
            echo=echo,
            retry_failed=args.retry_failed,
            choices=choices,
            command_timeout_s=args.command_timeout,
            compute=None if compute.mode == "threads" else compute,
            live=args.live,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    def request_stop(signum, frame):
        watcher.stop(wait=False)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, request_stop)
    try:
        watcher.run()
    except InputFileError as error:  # e.g. an unusable database file
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
