"""The ``napari-picasso`` command line."""

import sys

from . import __version__
from .core import timings  # first: with NAPARI_PICASSO_TIMINGS set it times the imports after it
from .io.errors import InputFileError, ParameterError


def build_parser():
    from .commands import COMMAND_MODULES
    from .commands._help import CommandParser

    parser = CommandParser(
        prog="napari-picasso",
        description="Single-molecule localization microscopy: localize movies, check quality, watch folders. "
        "'napari-picasso COMMAND --help' describes a command.",
    )
    parser.add_argument("--version", action="version", version=f"napari-picasso {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=CommandParser, help="one of these, with its own --help"
    )
    for module in COMMAND_MODULES:
        module.add_parser(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = _run(parser, args)
    finally:
        if timings.ENABLED:
            print(timings.report_line(), file=sys.stderr, flush=True)
    if argv is None and _skips_teardown(args):
        _exit_now(code)
    return code


def _run(parser, args):
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (InputFileError, ParameterError) as error:
        # a bad file or option the command did not report itself: its message, no traceback
        command = " ".join(str(c) for c in (args.command, getattr(args, "db_command", None)) if c)
        print(f"napari-picasso {command}: {error}", file=sys.stderr)
        return 2


def _skips_teardown(args):
    """True for a ``localize`` run in this process alone (no Dask cluster to shut down).

    Its outputs are complete and closed when it returns (files renamed into place, the
    database row committed); the interpreter's teardown of numba's compiled kernels and
    thread pool would add a third of a second of CPU to every command for nothing.
    """
    return args.command == "localize" and args.workers is None and args.scheduler is None


def _exit_now(code):
    """Flush stdout and stderr and end the process with ``code``, without the interpreter's teardown."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


if __name__ == "__main__":
    sys.exit(main())
