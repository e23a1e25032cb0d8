"""``napari-picasso demo``: simulate a blinking movie, localize it, write its database row, print a summary.

Without ``--folder`` the movie (about 16 MB) and its localizations go to a temporary
folder that is removed at the end, and the database row to a temporary database removed
with it: the experiment database is left alone. With ``--folder``, ``--keep`` or ``--db``
the files stay, and their row is written to the experiment database in the group ``demo``
(``--group`` names another), so that the explorer and the browser show it.
"""

import contextlib
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..core.matching import detection_scores
from ..io.locs import load_locs
from ..parameters import LocalizeParameters, number_argument
from ..pipeline import localize_file
from ..simulate import CameraModel, blinking_sites, write_movie
from ._progress import ProgressBar
from .db import add_database_option, record_after_localization
from .localize import say_first_run, summary_line


def add_parser(subparsers):
    parser = subparsers.add_parser("demo", help="simulate a movie, localize it, print a summary", description=__doc__)
    parser.add_argument(
        "--folder",
        type=Path,
        help="where to write the movie and its localizations; they are kept (default: a temporary "
        "folder, removed at the end)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder, and record the row in the experiment database"
    )
    parser.add_argument(
        "--frames",
        type=number_argument("--frames", label="frames", minimum=100),
        default=2000,
        help="frames to simulate",
    )
    parser.add_argument(
        "--size",
        type=number_argument("--size", label="frame side", minimum=24, maximum=4096),
        default=64,
        help="frame side, px",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed: the same seed simulates the same movie")
    add_database_option(parser)
    parser.set_defaults(func=run)


def run(args):
    kept = args.folder is not None or args.keep or args.db is not None  # --db: the row goes there
    with contextlib.ExitStack() as stack:
        folder = args.folder
        if folder is None:
            folder = Path(tempfile.mkdtemp(prefix="napari-picasso-demo-"))
            if not kept:
                stack.callback(shutil.rmtree, folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        if not kept:  # the row of files about to be removed: in a database removed with them
            args.db = folder / "demo.db"
        if args.group is None:
            args.group = "demo"
        simulate_and_localize(args, folder)
        if kept:
            print(f"files kept in {folder}")
        else:
            print(f"removed {folder} and its database (--keep or --folder keeps the files and records their row)")
    return 0


def simulate_and_localize(args, folder):
    """The demo in ``folder``: simulate, localize, compare with the truth, record the row."""
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
    say_first_run(parameters)
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


def database_summary(row):
    """The key figures of a database row, one line each."""
    figures = [
        ("localizations per frame", "locs_per_frame", ".2f"),
        ("NeNA precision", "nena_nm", ".1f", "nm"),
        ("mean photons", "mean_photons", ".0f"),
        ("mean sigma", "mean_sx", ".2f", "px"),
        ("mean background", "mean_bg", ".1f", "photons/px"),
    ]
    lines = [f"database row {row['id']} ({row['status']}, group {row.get('group_name')!r}) in {row['database']}"]
    for label, column, spec, *unit in figures:
        value = row.get(column)
        if value is not None:
            lines.append(f"  {label:<24} {value:{spec}} {unit[0] if unit else ''}".rstrip())
    return "\n".join(lines)
