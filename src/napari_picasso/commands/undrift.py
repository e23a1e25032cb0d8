"""``napari-picasso undrift FILE... [--method rcc|aim|fiducials]``: drift correction.

Methods: ``rcc`` (redundant cross-correlation of time segments, the default), ``aim``
(adaptive intersection maximization with leave-one-out rounds; fast and the most exact
without markers) and ``fiducials`` (beads tracked in every frame: found automatically,
or the circles of ``--fiducials PICKS.yaml``; their localizations are left out of the
output). 3D files (a ``z`` column) get z drift too.

Writes ``<name>_undrift.hdf5`` (+ ``.yaml`` with one more document) and the per-frame
drift ``<name>_drift.txt`` (``x y`` px per line, ``x y z`` with z in nm for 3D: the
layout Picasso reads). The appended document holds the method (``Undrift``), its
parameters (``Segmentation``, AIM's ``Intersect distance (nm)`` ...), ``Drift X`` /
``Drift Y`` (mean drift relative to frame 0, px, as Picasso reports it), the drift range
per axis, and the split-halves error per axis (the two halves of the localizations
undrifted on their own; see docs/drift.md), in nm, or px when no document gives the
``Pixelsize``. The output's row in the experiment database (unless ``--no-db``) holds
the method, range and split-halves error as ``undrift_*`` columns.
"""

from pathlib import Path

from ..core.drift_estimate import METHODS
from ..io.errors import InputFileError
from ._postprocess import report_error
from .db import add_database_option, record_after_localization


def add_parser(subparsers):
    parser = subparsers.add_parser("undrift", help="correct drift (RCC, AIM or fiducials)", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="_locs.hdf5 files")
    parser.add_argument("--method", "-m", choices=METHODS, default="rcc", help="drift method (default %(default)s)")
    parser.add_argument(
        "--segment", "-s", type=int, default=None, help="frames per time segment (default: RCC 1000, AIM 100)"
    )
    parser.add_argument(
        "--max-shift",
        type=float,
        default=None,
        metavar="PX",
        help="largest drift searched, px: between any two segments for RCC (default 5), between "
        "consecutive segments for AIM (default 60 nm)",
    )
    parser.add_argument(
        "--fiducials",
        type=Path,
        default=None,
        metavar="PICKS.yaml",
        help="fiducial picks ([{x, y, r}] px, or Picasso's circular picks) for --method fiducials; "
        "default: found automatically",
    )
    parser.add_argument(
        "--bin", type=float, default=20.0, metavar="NM", help="AIM bin size (intersection distance), nm (default 20)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="AIM leave-one-out rounds (default %(default)s)")
    parser.add_argument(
        "--no-split", action="store_true", help="skip the split-halves error estimate (saves about a third of the time)"
    )
    add_database_option(parser)
    parser.set_defaults(func=run)


def run(args):
    from ..postprocess import describe_undrift, undrift_file  # when run: the command line starts without it

    failures = 0
    for path in args.files:
        try:
            outcome = undrift_file(
                path,
                args.method,
                args.segment,
                args.max_shift,
                fiducials=args.fiducials,
                bin_nm=args.bin,
                rounds=args.rounds,
                split=not args.no_split,
            )
        except InputFileError as error:
            failures += report_error(error)
            continue
        print(describe_undrift(outcome))
        record_after_localization(args, outcome.target)
    return 1 if failures else 0
