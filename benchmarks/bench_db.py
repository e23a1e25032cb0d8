"""Experiment database figures: recording a 1M-localization file, write rate, query time.

Run: ``PYTHONPATH=src python benchmarks/bench_db.py [--locs 1000000] [--rows 2000]``.
The baseline beside our write path is sqlite-utils' plain ``insert(..., alter=True)`` of the
same rows in the default (rollback journal) mode, one commit per row.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlite_utils

from napari_picasso import fitters
from napari_picasso.core.quality import quality_metrics
from napari_picasso.db import open_database, query_rows, record_localization
from napari_picasso.io.locs import load_locs, save_locs


def synthetic_locs(n, n_frames=20_000, size=256, seed=0):
    rng = np.random.default_rng(seed)
    locs = np.zeros(n, dtype=fitters.get("mle").dtype)
    locs["frame"] = np.sort(rng.integers(0, n_frames, n))
    sites = rng.uniform(5, size - 5, (5000, 2))
    pick = rng.integers(0, len(sites), n)
    locs["x"] = sites[pick, 0] + rng.normal(0, 0.05, n)
    locs["y"] = sites[pick, 1] + rng.normal(0, 0.05, n)
    locs["photons"] = rng.gamma(5, 300, n)
    locs["sx"] = locs["sy"] = rng.normal(1.0, 0.05, n)
    locs["bg"] = rng.normal(50, 5, n)
    locs["lpx"] = locs["lpy"] = 0.05
    locs["net_gradient"] = rng.gamma(5, 1000, n)
    info = [
        {"Width": size, "Height": size, "Frames": n_frames},
        {"Box Size": 7, "Min. Net Gradient": 5000.0, "Fit method": "mle", "Pixelsize": 130.0},
    ]
    return locs, info


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--locs", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-db-"))
    locs, info = synthetic_locs(args.locs)
    path = save_locs(folder / "big_locs.hdf5", locs, info)
    db = open_database(folder / "bench.db")
    record_localization(db, path)  # warm-up: numba compilation of the metrics
    t0 = time.perf_counter()
    loaded, loaded_info = load_locs(path)
    t1 = time.perf_counter()
    metrics = quality_metrics(loaded, 256, 256, 130.0, 20_000)
    t2 = time.perf_counter()
    record_localization(db, path, metrics=metrics, locs=loaded, info=loaded_info)
    t3 = time.perf_counter()
    print(
        f"record_localization of {args.locs:,} localizations: load {t1 - t0:.2f} s, "
        f"metrics {t2 - t1:.2f} s ({len(metrics)} figures), database write {1000 * (t3 - t2):.1f} ms"
    )

    small, small_info = synthetic_locs(200, n_frames=100, size=32)
    files = [save_locs(folder / f"f{i:05d}_locs.hdf5", small, small_info) for i in range(args.rows)]
    rows_db = open_database(folder / "rows.db")
    t0 = time.perf_counter()
    for i, f in enumerate(files):
        record_localization(rows_db, f, metrics={**metrics, "nena_nm": float(i)}, locs=small, info=small_info)
    ours = time.perf_counter() - t0
    plain = sqlite_utils.Database(folder / "plain.db")
    t0 = time.perf_counter()
    for i, f in enumerate(files):
        plain["localizations"].insert({"locs_path": str(f), **info[1], **metrics, "nena_nm": float(i)}, alter=True)
    baseline = time.perf_counter() - t0
    print(
        f"{args.rows} rows with {len(metrics)} metrics: ours (WAL, BEGIN IMMEDIATE, upsert) "
        f"{args.rows / ours:,.0f} rows/s; sqlite-utils insert (rollback journal) {args.rows / baseline:,.0f} rows/s; "
        f"ratio {baseline / ours:.2f}x"
    )
    t0 = time.perf_counter()
    for _ in range(10):
        found = query_rows(rows_db, text="f009", order_by="nena_nm")
    t1 = time.perf_counter()
    everything = query_rows(rows_db)
    t2 = time.perf_counter()
    print(
        f"query_rows on {args.rows} rows: filtered ({len(found)} rows) {100 * (t1 - t0):.1f} ms, "
        f"all rows {1000 * (t2 - t1):.1f} ms ({len(everything)} rows)"
    )


if __name__ == "__main__":
    main()
