"""``napari-picasso link FILE...``: merge localizations of consecutive frames into events.

Writes ``<name>_link.hdf5`` (one row per binding event with ``len``, ``n``,
``photon_rate``) and appends a document with ``Maximum Distance`` (px) and ``Maximum
Transient Dark Time`` (frames), the number of events and the mean bright time.
"""

import sys
from pathlib import Path

from ..io.errors import InputFileError
from ._postprocess import report_error


def add_parser(subparsers):
    parser = subparsers.add_parser("link", help="link localizations into binding events", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="_locs.hdf5 files")
    parser.add_argument(
        "--distance",
        "-d",
        type=float,
        default=1.0,
        help="largest distance to the event's last localization, px (default %(default)s)",
    )
    parser.add_argument(
        "--dark-frames",
        "-t",
        type=int,
        default=1,
        help="frames an event may be dark and continue (default %(default)s)",
    )
    parser.set_defaults(func=run)


def run(args):
    from ..postprocess import link_file  # when run: the command line starts without it

    if args.distance <= 0 or args.dark_frames < 0:
        print("error: --distance must be > 0 and --dark-frames >= 0", file=sys.stderr)
        return 2
    failures = 0
    for path in args.files:
        try:
            target, result = link_file(path, args.distance, args.dark_frames)
        except InputFileError as error:
            failures += report_error(error)
            continue
        print(
            f"{target}: {result.n_events} binding events from {len(result.event)} localizations, "
            f"mean bright time {result.mean_bright_time_frames:.2f} frames"
        )
    return 1 if failures else 0
