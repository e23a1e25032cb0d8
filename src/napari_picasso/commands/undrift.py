"""``napari-picasso undrift FILE...``: drift correction by redundant cross-correlation.

Writes ``<name>_undrift.hdf5`` (+ ``.yaml`` with one more document) and the per-frame
drift ``<name>_drift.txt`` (``x y`` px per line, the layout Picasso reads). The appended
document holds ``Segmentation`` (frames per segment), ``Drift X`` / ``Drift Y`` (mean
drift over the frames relative to frame 0, px, as Picasso reports it), their range
(``Drift X range (nm)``..., or ``Drift X range (px)``... when no document gives the
``Pixelsize``), the RMS residual of the pairwise shifts and the drift file.
"""

from pathlib import Path

from ..core.drift import rcc_drift, undrift
from ..io.drift import drift_path_for, save_drift
from ..io.errors import InputFileError
from ..io.locs import info_pixelsize_nm
from ._postprocess import read_input, report_error, write_output


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


def undrift_file(path, segment_frames=1000, max_shift_px=5.0):
    """Undrift one file; returns ``(output path, drift file, DriftResult)``."""
    locs, info, movie = read_input(path)
    n_frames = int(movie["Frames"])
    if len(locs) and int(locs["frame"].max()) >= n_frames:
        raise InputFileError(
            path, f"has localizations in frame {int(locs['frame'].max())} but its YAML says Frames: {n_frames}."
        )
    try:
        result = rcc_drift(
            locs,
            n_frames,
            segment_frames=segment_frames,
            max_shift_px=max_shift_px,
            viewport=(0.0, 0.0, float(movie["Height"]), float(movie["Width"])),
        )
    except ValueError as error:
        raise InputFileError(path, f"cannot be undrifted: {error}.") from None
    # No pixel size in the file: the range stays in px (never px under an nm label).
    pixelsize = info_pixelsize_nm(info)
    summary = result.summary(pixelsize)
    unit = "nm" if pixelsize is not None else "px"
    drift_file = drift_path_for(path)
    document = {
        "Command": "undrift",
        "Undrift": "RCC",
        "Segmentation": int(segment_frames),
        "Drift X": float(result.drift_px[:, 0].mean()),
        "Drift Y": float(result.drift_px[:, 1].mean()),
        f"Drift X range ({unit})": summary[f"drift_x_range_{unit}"],
        f"Drift Y range ({unit})": summary[f"drift_y_range_{unit}"],
        "RCC residual (px)": summary["drift_residual_px"],
        "Drift file": drift_file.name,
    }
    save_drift(drift_file, result.drift_px)
    target, dropped = write_output(path, "_undrift", undrift(locs, result.drift_px), info, document)
    return target, drift_file, result, dropped


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
