"""``napari-picasso demo``: simulate a blinking movie, localize it, write its database row, print a summary."""

import tempfile
from pathlib import Path

import numpy as np

from ..core.matching import detection_scores
from ..io.locs import load_locs
from ..parameters import LocalizeParameters
from ..pipeline import localize_file
from ..simulate import CameraModel, blinking_sites, write_movie
from ._progress import ProgressBar
from .db import add_database_option, record_after_localization
from .localize import summary_line


def add_parser(subparsers):
    parser = subparsers.add_parser("demo", help="simulate a movie, localize it, print a summary", description=__doc__)
    parser.add_argument("--folder", type=Path, help="where to write the movie (default: a temporary folder)")
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64, help="frame side, px")
    parser.add_argument("--seed", type=int, default=0)
    add_database_option(parser)
    parser.set_defaults(func=run)


def run(args):
    folder = args.folder or Path(tempfile.mkdtemp(prefix="napari-picasso-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    camera = CameraModel(baseline=100, sensitivity=0.5, em_gain=1, read_noise_e=1.5)
    truth = blinking_sites(
        args.frames,
        args.size,
        args.size,
        n_sites=max(10, args.size**2 // 60),
        photons=1500,
        seed=args.seed,
        min_distance_px=8,
    )
    movie = write_movie(
        folder / "demo.raw", truth, args.frames, args.size, args.size, bg_photons=50, camera=camera, seed=args.seed
    )
    print(f"simulated {movie} ({args.frames} frames of {args.size}x{args.size}, {len(truth)} emitter-frames)")
    parameters = LocalizeParameters(
        box=7,
        min_net_gradient=1500,
        baseline=camera.baseline,
        sensitivity=camera.sensitivity,
        em_gain=camera.em_gain,
        pixelsize_nm=130,
    )
    result = localize_file(movie, parameters, progress=ProgressBar(movie.name))
    print(summary_line(result, parameters.pixelsize_nm))
    locs = load_locs(result.locs_path, with_info=False)
    scores = detection_scores(locs, truth, radius_px=1.0)
    print(
        f"against ground truth: recall {scores['recall']:.3f}, precision {scores['precision']:.3f}, "
        f"RMSE x {scores['rmse_x_px'] * 130:.1f} nm, y {scores['rmse_y_px'] * 130:.1f} nm, "
        f"median reported precision {np.median(locs['lpx']) * 130:.1f} nm"
    )
    row = record_after_localization(args, result.locs_path)
    if row is not None:
        print(database_summary(row))
    return 0


def database_summary(row):
    """The key figures of a database row, one line each."""
    figures = [
        ("localizations per frame", "locs_per_frame", ".2f"),
        ("NeNA precision", "nena_nm", ".1f", "nm"),
        ("mean photons", "mean_photons", ".0f"),
        ("mean sigma", "mean_sx", ".2f", "px"),
        ("mean background", "mean_bg", ".1f", "photons/px"),
    ]
    lines = [f"database row {row['id']} ({row['status']}) in {row['database']}"]
    for label, column, spec, *unit in figures:
        value = row.get(column)
        if value is not None:
            lines.append(f"  {label:<24} {value:{spec}} {unit[0] if unit else ''}".rstrip())
    return "\n".join(lines)
