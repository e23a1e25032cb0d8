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

import argparse
import signal
import sys
import threading
from pathlib import Path

import yaml

from ..core.identify import check_box
from ..io.camera_maps import load_camera_maps
from ..io.errors import InputFileError, ParameterError
from ..pipeline import LocalizeParameters, validate_parameters
from ._batch import add_compute_options, compute_choice
from .localize import add_localize_options, movie_choices, parameters_from_args


class _GroupParser(argparse.ArgumentParser):
    def error(self, message):
        raise ParameterError(message)


def _localize_parser():
    parser = _GroupParser(prog="group", add_help=False, allow_abbrev=False)
    add_localize_options(parser)
    return parser


def _long_options(parser):
    options = {}
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--"):
                options[option[2:]] = action
    return options


def parameters_from_mapping(mapping):
    """LocalizeParameters from ``{long option name: value}`` (the ``localize`` options).

    The mapping is turned into the command's arguments and parsed by the same parser as
    ``napari-picasso localize``, so names, types and defaults cannot drift.

    Raises
    ------
    ParameterError
        For an unknown option or an unusable value.
    """
    parser = _localize_parser()
    options = _long_options(parser)
    argv = []
    for raw_key, value in mapping.items():
        key = str(raw_key).replace("_", "-")
        if key not in options:
            raise ParameterError(
                f"unknown option {raw_key!r}; use the localize command's long option names: "
                f"{', '.join(sorted(options))}."
            )
        action = options[key]
        if action.nargs == 0:  # a flag such as --shared-sigma
            if not isinstance(value, bool):
                raise ParameterError(f"{raw_key!r} is a switch: write true or false, not {value!r}.")
            if value:
                argv.append(f"--{key}")
            continue
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        argv.append(f"--{key}")
        argv.extend(str(v) for v in values)
    parameters = parameters_from_args(parser.parse_args(argv))
    check_group(parameters)
    return parameters


# No movie is known when a watcher starts: bounds every frame count and size passes, so
# that only what depends on the movie (ROI inside its frame, ...) waits for the first one.
_ANY_MOVIE_SHAPE = (2**31 - 1, 2**31 - 1, 2**31 - 1)


def check_group(parameters):
    """Check a parameter group before any movie arrives (what would otherwise fail on
    every movie): the pipeline's own checks, the 3D calibration, the camera maps file.

    Raises
    ------
    ParameterError
        Saying what is wrong.
    """
    try:  # a wrong box would otherwise only show up on the first movie
        check_box(parameters.box)
    except ValueError as error:
        raise ParameterError(str(error)) from None
    validate_parameters(parameters, _ANY_MOVIE_SHAPE, name="movie")
    if parameters.camera_maps:
        try:
            load_camera_maps(parameters.camera_maps)
        except InputFileError as error:
            raise ParameterError(f"camera maps: {error}") from None


def load_groups(path):
    """The parameter groups of a ``groups.yaml`` (a list of option mappings).

    Raises
    ------
    InputFileError
        Naming the file, the group and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such groups file.")
    try:
        with open(path) as f:
            document = yaml.safe_load(f)
    except yaml.YAMLError as error:
        raise InputFileError(path, f"is not valid YAML ({error}).") from None
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list) or not document:
        raise InputFileError(
            path,
            "must hold a list of parameter groups.",
            fix="write one mapping per group, e.g. '- {box: 7, gradient: 5000, fit: mle}'.",
        )
    groups = []
    for index, mapping in enumerate(document, start=1):
        if not isinstance(mapping, dict):
            raise InputFileError(path, f"group {index} is not a mapping of option names to values.")
        try:
            groups.append(parameters_from_mapping(mapping))
        except ParameterError as error:
            raise InputFileError(path, f"group {index}: {error}") from None
    return groups


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "watch",
        help="localize every new movie in folders until interrupted",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folders", nargs="+", type=Path, metavar="FOLDER")
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
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="kill a command (and all it started) running longer than this; the watcher "
        "logs it and goes on (default %(default)g; 0: no limit)",
    )
    parser.add_argument("--recursive", "-r", action="store_true", help="also watch sub-folders")
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=5.0,
        help="start a movie once its files have not changed for this long (default %(default)s)",
    )
    parser.add_argument(
        "--rescan-seconds",
        type=float,
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
    parser.add_argument("--db", type=Path, help="database file (default: the napari-picasso database)")
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
