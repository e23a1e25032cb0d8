"""``napari-picasso undrift FILE...``: drift correction by redundant cross-correlation.

Writes ``<name>_undrift.hdf5`` (+ ``.yaml`` with one more document) and the per-frame
drift ``<name>_drift.txt`` (``x y`` px per line, the layout Picasso reads). The appended
document holds ``Segmentation`` (frames per segment), ``Drift X`` / ``Drift Y`` (mean
drift over the frames relative to frame 0, px, as Picasso reports it), their range
(``Drift X range (nm)``..., or ``Drift X range (px)``... when no document gives the
``Pixelsize``), the RMS residual of the pairwise shifts and the drift file.
"""

from pathlib import Path

from ..io.errors import InputFileError
from ..postprocess import undrift_file
from ._postprocess import report_error


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "undrift", help="correct drift by redundant cross-correlation (RCC)", description=__doc__
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="_locs.hdf5 files")
    parser.add_argument("--segment", "-s", type=int, default=1000, help="frames per time segment (default %(default)s)")
    parser.add_argument(
        "--max-shift",
        type=float,
        default=5.0,
        help="largest drift between two segments searched, px (default %(default)s)",
    )
    parser.set_defaults(func=run)


def run(args):
    failures = 0
    for path in args.files:
        try:
            target, drift_file, result, dropped = undrift_file(path, args.segment, args.max_shift)
        except InputFileError as error:
            failures += report_error(error)
            continue
        summary = result.summary()
        note = f", {dropped} left the field and were dropped" if dropped else ""
        print(
            f"{target}: drift range x {summary['drift_x_range_px']:.3f} px, "
            f"y {summary['drift_y_range_px']:.3f} px (RCC residual {summary['drift_residual_px']:.3f} px)"
            f"{note}; trajectory in {drift_file.name}"
        )
    return 1 if failures else 0
