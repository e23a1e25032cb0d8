"""``napari-picasso dbscan FILE... RADIUS MIN_SAMPLES``: DBSCAN clustering (2D).

RADIUS in camera px; MIN_SAMPLES localizations within it (the point included) make a
core point. Writes ``<name>_dbscan.hdf5`` with the localizations of the clusters and
their ``group`` (noise is left out, as Picasso does; ``--keep-noise`` keeps it with
group -1) and appends a document with the radius, the density and the cluster count.
"""

import sys
from pathlib import Path

import numpy as np

from ..io.errors import InputFileError
from ._postprocess import report_error


def add_parser(subparsers):
    parser = subparsers.add_parser("dbscan", help="cluster localizations with DBSCAN", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="_locs.hdf5 files")
    parser.add_argument("radius", type=float, metavar="RADIUS", help="neighbourhood radius, px")
    parser.add_argument(
        "min_samples", type=int, metavar="MIN_SAMPLES", help="localizations within RADIUS that make a core point"
    )
    parser.add_argument("--keep-noise", action="store_true", help="keep unclustered localizations (group -1)")
    parser.set_defaults(func=run)


def run(args):
    from ..postprocess import dbscan_file  # when run: the command line starts without it

    if args.radius <= 0 or args.min_samples < 1:
        print("error: RADIUS must be > 0 and MIN_SAMPLES >= 1", file=sys.stderr)
        return 2
    failures = 0
    for path in args.files:
        try:
            target, result = dbscan_file(path, args.radius, args.min_samples, args.keep_noise)
        except InputFileError as error:
            failures += report_error(error)
            continue
        clustered = int(np.sum(result.group >= 0))
        print(f"{target}: {result.n_clusters} clusters holding {clustered} of {len(result.group)} localizations")
    return 1 if failures else 0
