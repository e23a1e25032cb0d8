"""Watcher overhead: movies per second through the watcher vs a plain localize_file loop.

Both runs localize the same N small movies with the same parameters and record each
output in a database; the baseline calls ``localize_file`` + ``record_localization`` in a
loop, the watcher finds the movies in a folder, checks they are complete, localizes,
records and logs. The watcher's time runs from its first ``started`` to its last
``finished`` log line (the settle wait is a setting, not overhead).

    PYTHONPATH=src python benchmarks/watcher_throughput.py [N]
"""

import datetime
import shutil
import sys
import tempfile
import time
from pathlib import Path

from napari_picasso import db as database
from napari_picasso.io.raw import write_raw_info
from napari_picasso.pipeline import LocalizeParameters, localize_file
from napari_picasso.simulate import CameraModel, simulate_movie
from napari_picasso.watcher import Watcher, read_events


def make_movies(folder, n, frames):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"m{i:04d}.raw"
        write_raw_info(path, frames.shape[2], frames.shape[1], frames.shape[0])
        frames.astype("<u2").tofile(path)
        paths.append(path)
    return paths


def when(stamp):
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def main(n=100):
    camera = CameraModel(baseline=100.0, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)
    frames, _ = simulate_movie(100, 48, 48, camera=camera, seed=1, n_sites=10, photons=1500)
    params = LocalizeParameters(min_net_gradient=1500.0, baseline=100.0, sensitivity=0.5)
    root = Path(tempfile.mkdtemp(prefix="watcher-bench-"))
    try:
        # warm up numba
        warm = make_movies(root / "warm", 1, frames)
        localize_file(warm[0], params)

        baseline = make_movies(root / "baseline", n, frames)
        db = database.open_database(root / "baseline.db")
        start = time.perf_counter()
        for path in baseline:
            result = localize_file(path, params)
            database.record_localization(db, result.locs_path)
        baseline_s = time.perf_counter() - start
        db.close()

        folder = root / "watched"
        make_movies(folder, n, frames)
        watcher = Watcher(
            [folder], [params], settle_seconds=0.2, db_path=root / "watched.db", log_path=root / "watcher.log"
        )
        watcher.start()
        while watcher.counts["finished"] + watcher.counts["failed"] < n:
            time.sleep(0.05)
        watcher.stop()
        log = read_events(root / "watcher.log")
        first = min(when(e[0]) for e in log if e[1] == "started")
        last = max(when(e[0]) for e in log if e[1] == "finished")
        watcher_s = last - first
        print(f"{n} movies of {frames.shape} uint16, 1 parameter group, database record each")
        print(f"baseline localize_file + record loop: {baseline_s:.2f} s ({1e3 * baseline_s / n:.1f} ms/movie)")
        print(f"watcher (first start -> last finish): {watcher_s:.2f} s ({1e3 * watcher_s / n:.1f} ms/movie)")
        print(f"watcher / baseline: {watcher_s / baseline_s:.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
