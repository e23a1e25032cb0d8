"""``napari-picasso dbscan FILE... RADIUS MIN_SAMPLES``: DBSCAN clustering (2D).

RADIUS in camera px; MIN_SAMPLES localizations within it (the point included) make a
core point. Writes ``<name>_dbscan.hdf5`` with the localizations of the clusters and
their ``group`` (noise is left out, as Picasso does; ``--keep-noise`` keeps it with
group -1) and appends a document with the radius, the density and the cluster count.
"""

import sys
from pathlib import Path

import numpy as np

from ..core.dbscan import dbscan
from ..core.localizations import GROUP_FIELDS
from ..io.errors import InputFileError
from ._postprocess import read_input, report_error, write_output


def add_parser(subparsers):
    parser = subparsers.add_parser("dbscan", help="cluster localizations with DBSCAN", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="_locs.hdf5 files")
    parser.add_argument("radius", type=float, metavar="RADIUS", help="neighbourhood radius, px")
    parser.add_argument(
        "min_samples", type=int, metavar="MIN_SAMPLES", help="localizations within RADIUS that make a core point"
    )
    parser.add_argument("--keep-noise", action="store_true", help="keep unclustered localizations (group -1)")
    parser.set_defaults(func=run)


def with_group(locs, group):
    """``locs`` with a ``group`` field (replaced when present)."""
    names = [n for n in locs.dtype.names if n != "group"]
    dtype = np.dtype([(n, locs.dtype[n]) for n in names] + GROUP_FIELDS)
    out = np.empty(len(locs), dtype=dtype)
    for name in names:
        out[name] = locs[name]
    out["group"] = group
    return out


def dbscan_file(path, radius_px, min_samples, keep_noise=False):
    """Cluster one file; returns ``(output path, DbscanResult)``."""
    locs, info, _ = read_input(path)
    result = dbscan(locs, radius_px, min_samples)
    out = with_group(locs, result.group)
    if not keep_noise:
        out = out[result.group >= 0]
    n = len(locs)
    document = {
        "Command": "dbscan",
        "Number of clusters": int(result.n_clusters),
        "Radius (px)": float(radius_px),
        "Minimum local density": int(min_samples),
        "Fraction of rejected locs (%)": 100.0 * float(np.sum(result.group < 0)) / n if n else 0.0,
        "Noise kept": bool(keep_noise),
    }
    target, _ = write_output(path, "_dbscan", out, info, document)
    return target, result


def run(args):
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
