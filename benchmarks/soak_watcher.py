"""Soak: many movies of good and bad kinds, a watcher killed at random, then the checks.

N movies appear in a folder in batches while ``napari-picasso watch`` runs in a process of
its own; it is killed (SIGKILL) at random moments and started again, K times, then left
to finish and stopped cleanly. Then:

- ``PRAGMA integrity_check`` of the database is ``ok``;
- one row per movie: ``ok`` for every good movie, ``failed`` for every bad one;
- every good movie's output equals (``locs`` bit for bit) a fresh ``localize_file`` of it;
- no ``.part`` file and no output of a bad movie is left.

Kinds: good ``.raw`` and ``.tif``; bad: a ``.raw`` shorter than its ``.yaml`` says, one
longer, one of 0 frames, a ``.tif`` that is no TIFF.

    PYTHONPATH=src python benchmarks/soak_watcher.py [N] [KILLS] [SEED]

tests/test_faults.py runs a small one (``run_soak(folder, 12, 2)``) in CI.
"""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
import yaml

from napari_picasso.io.locs import load_locs
from napari_picasso.io.raw import write_raw_info
from napari_picasso.pipeline import LocalizeParameters, localize_file
from napari_picasso.simulate import CameraModel, simulate_movie

CAMERA = CameraModel(baseline=100.0, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)
GROUP = {"gradient": 1500, "baseline": 100.0, "sensitivity": 0.5, "box": 7}
KINDS = ("good-raw", "good-tif", "short-raw", "long-raw", "empty-raw", "junk-tif")
GOOD = ("good-raw", "good-tif")
SRC = Path(__file__).resolve().parents[1] / "src"


def write_movie(folder, index, kind, frames):
    """One movie of ``kind``, written under a hidden name and renamed (as a finished copy)."""
    stem = f"m{index:04d}_{kind}"
    n, h, w = frames.shape
    if kind.endswith("tif"):
        path = folder / f"{stem}.tif"
        staged = folder / f".{stem}.tif"
        if kind == "good-tif":
            tifffile.imwrite(staged, frames, photometric="minisblack")
        else:
            staged.write_bytes(b"not a tiff at all" * 64)
        os.replace(staged, path)
        return path
    path = folder / f"{stem}.raw"
    staged = folder / f".{stem}.raw"
    data = frames
    described = n
    if kind == "short-raw":
        described = n + 5
    elif kind == "long-raw":
        described = n - 5
    elif kind == "empty-raw":
        data, described = frames[:0], 0
    data.astype("<u2").tofile(staged)
    write_raw_info(path, w, h, described, "uint16", "<")
    os.replace(staged, path)
    return path


def watch_process(folder, work):
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [sys.executable, "-m", "napari_picasso", "watch", str(folder), "--groups", str(work / "groups.yaml")]
        + ["--settle-seconds", "0.3", "--db", str(work / "db.sqlite"), "--log", str(work / "watcher.log"), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def row_count(db_path):
    if not db_path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM localizations").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def run_soak(work, n_movies=300, n_kills=20, seed=0, timeout_s=1800):
    """Run the soak in the folder ``work``; a dict of counts and the problems found (empty: passed)."""
    work = Path(work)
    folder = work / "acquisitions"
    folder.mkdir(parents=True)
    (work / "groups.yaml").write_text(yaml.safe_dump([GROUP]))
    rng = random.Random(seed)
    kinds = [KINDS[i % len(KINDS)] for i in range(n_movies)]
    rng.shuffle(kinds)
    movies = []
    started = time.monotonic()
    process = watch_process(folder, work)
    kills = 0
    # Kill moments spread over the run: the movies arrive in one batch per kill.
    batches = np.array_split(np.arange(n_movies), n_kills + 1)
    try:
        for batch_number, batch in enumerate(batches):
            for index in batch:
                frames, _ = simulate_movie(
                    20, 24, 24, camera=CAMERA, seed=int(index), n_sites=4, photons=1500, min_distance_px=7
                )
                movies.append((write_movie(folder, int(index), kinds[index], frames.astype(np.uint16)), kinds[index]))
            if batch_number < n_kills:
                time.sleep(rng.uniform(0.5, 4.0))
                os.killpg(process.pid, signal.SIGKILL)  # the watcher and any command it runs
                process.wait()
                kills += 1
                process = watch_process(folder, work)
        deadline = time.monotonic() + timeout_s
        while row_count(work / "db.sqlite") < n_movies and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1.0)  # anything recorded twice would show now
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    seconds = time.monotonic() - started
    return {"movies": n_movies, "kills": kills, "seconds": round(seconds, 1), **check(work, folder, movies)}


def check(work, folder, movies):
    """The soak's checks; ``problems`` lists what failed."""
    problems = []
    conn = sqlite3.connect(work / "db.sqlite")
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        rows = conn.execute("SELECT locs_path, status, reason FROM localizations").fetchall()
    finally:
        conn.close()
    if integrity != "ok":
        problems.append(f"integrity_check: {integrity}")
    by_movie = {}
    for locs_path, status, reason in rows:
        by_movie.setdefault(Path(locs_path).name.replace("_locs.hdf5", ""), []).append((locs_path, status, reason))
    parameters = LocalizeParameters(min_net_gradient=1500, baseline=100.0, sensitivity=0.5, box=7)
    fresh_folder = work / "fresh"
    fresh_folder.mkdir()
    good = equal = 0
    for path, kind in movies:
        stem = path.name.split(".")[0]
        found = by_movie.get(stem, [])
        if len(found) != 1:
            problems.append(f"{path.name}: {len(found)} rows")
            continue
        locs_path, status, reason = found[0]
        if kind in GOOD:
            good += 1
            if status != "ok":
                problems.append(f"{path.name}: {status} ({reason})")
                continue
            fresh = localize_file(path, parameters, fresh_folder / f"{stem}_locs.hdf5")
            ours = load_locs(locs_path, with_info=False)
            again = load_locs(fresh.locs_path, with_info=False)
            if ours.dtype == again.dtype and np.array_equal(ours, again):
                equal += 1
            else:
                problems.append(f"{path.name}: output differs from a fresh localize ({len(ours)} vs {len(again)})")
        elif status != "failed":
            problems.append(f"{path.name} ({kind}): {status}, expected failed")
        elif Path(locs_path).exists():
            problems.append(f"{path.name} ({kind}): failed but has an output")
    leftovers = [p.name for p in folder.iterdir() if p.name.endswith(".part")]
    if leftovers:
        problems.append(f"partial files left: {leftovers[:5]}")
    return {"rows": len(rows), "good": good, "good_equal_to_fresh": equal, "integrity": integrity, "problems": problems}


def main(argv):
    n_movies = int(argv[1]) if len(argv) > 1 else 300
    n_kills = int(argv[2]) if len(argv) > 2 else 20
    seed = int(argv[3]) if len(argv) > 3 else 0
    with tempfile.TemporaryDirectory(prefix="soak-") as work:
        result = run_soak(work, n_movies, n_kills, seed)
    print(json.dumps(result, indent=1))
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
