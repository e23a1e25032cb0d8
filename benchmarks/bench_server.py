"""Browser app reads of a large file: streamed fields (Compare, Preview) vs loading the whole table.

Run: ``PYTHONPATH=src python benchmarks/bench_server.py [--locs 10000000] [--tasks ...]``.
Each measurement runs in a fresh process (peak resident memory from ``getrusage``, minus
what the imports took); the
baseline is :func:`napari_picasso.io.locs.load_locs`, which reads every field of every row
at once, run side by side on the same file.

"Add to database" (``record_localization``, what the watcher, ``db add`` and the Status
page's add run) is measured the same way: before, the whole table loaded and passed to it
(``load_locs`` + ``quality_metrics``, the path it used to take); after, the file read blockwise
(frame column, the metrics' 1M-row subset by row ranges, per-field statistics streamed).
The two rows' metrics are compared.
"""

import argparse
import multiprocessing
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_picasso import fitters
from napari_picasso.io.locs import LocsWriter

CHUNK = 1_000_000
BEFORE = "add to database (before, whole table)"
AFTER = "add to database (after, blocks)"


def write_big(path, n, n_frames=50_000, size=256, seed=0):
    """A synthetic ``_locs.hdf5`` of ``n`` rows written chunk by chunk (bounded memory)."""
    rng = np.random.default_rng(seed)
    sites = rng.uniform(5, size - 5, (20_000, 2))
    frames = np.sort(rng.integers(0, n_frames, n))
    info = [
        {"Width": size, "Height": size, "Frames": n_frames},
        {"Box Size": 7, "Min. Net Gradient": 5000.0, "Fit method": "mle", "Pixelsize": 130.0},
    ]
    with LocsWriter(path, fitters.get("mle").dtype, info) as writer:
        for start in range(0, n, CHUNK):
            m = min(CHUNK, n - start)
            locs = np.zeros(m, dtype=fitters.get("mle").dtype)
            locs["frame"] = frames[start : start + m]
            pick = rng.integers(0, len(sites), m)
            locs["x"] = sites[pick, 0] + rng.normal(0, 0.05, m)
            locs["y"] = sites[pick, 1] + rng.normal(0, 0.05, m)
            locs["photons"] = rng.gamma(5, 300, m)
            locs["lpx"] = locs["lpy"] = 0.05
            writer.append(locs)
        writer.commit()
    return path


def _measure(task, path, queue):
    from napari_picasso.db import compare
    from napari_picasso.io.locs import load_locs

    calls = []
    before_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # after the imports
    progress = lambda done, n: calls.append(done)  # noqa: E731
    start = time.perf_counter()
    if task == "load_locs (baseline)":
        load_locs(path)
    elif task == "locs_per_frame":
        compare.locs_per_frame(path, progress=progress)
    elif task == "field_histograms photons":
        compare.field_histograms([path], "photons", progress=lambda p, done, n: calls.append(done))
    elif task == "preview_data x5":
        compare.preview_data(path, oversampling=5, progress=progress)
    elif task.startswith("add to database"):
        from napari_picasso.db import open_database, query_rows, record_localization, table_columns

        db = open_database(Path(path).with_name(task.split("(")[1].split(",")[0] + ".db"))
        if "whole table" in task:  # the path record_localization took before
            locs, info = load_locs(path)
            record_localization(db, path, locs=locs, info=info)
            del locs
        else:
            record_localization(db, path)
        seconds = time.perf_counter() - start
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        (row,) = query_rows(db, columns=[c for c in table_columns(db) if c not in ("id", "entered")])
        db.close()
        queue.put((seconds, peak_mib - before_mib, 0, peak_mib, row))
        return
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, peak_mib - before_mib, len(calls), peak_mib, None))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--locs", type=int, default=10_000_000)
    parser.add_argument(
        "--tasks",
        nargs="+",
        choices=("read", "add"),
        default=("read", "add"),
        help="read: Compare/Preview reads; add: Add to database before/after",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-server-"))
    try:
        t0 = time.perf_counter()
        path = write_big(folder / "big_locs.hdf5", args.locs)
        print(
            f"{args.locs:,} localizations, {path.stat().st_size / 2**20:.0f} MiB, written in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        context = multiprocessing.get_context("spawn")
        # Warm numba's cache (render and metrics kernels) outside the measured processes.
        warm = folder / "warm_locs.hdf5"
        write_big(warm, 1000)
        queue = context.Queue()
        for task in ("preview_data x5", "add to database (warm, blocks)"):
            process = context.Process(target=_measure, args=(task, warm, queue))
            process.start(), queue.get(), process.join()
        results = {}
        tasks = []
        if "read" in args.tasks:
            tasks += ["load_locs (baseline)", "locs_per_frame", "field_histograms photons", "preview_data x5"]
        if "add" in args.tasks:
            tasks += [BEFORE, AFTER]
        for task in tasks:
            process = context.Process(target=_measure, args=(task, path, queue))
            process.start()
            results[task] = queue.get()
            process.join()
            seconds, peak_mib, calls, total_mib, _ = results[task]
            print(
                f"{task:26s} {seconds:6.2f} s   peak RSS {total_mib:6.0f} MiB, above the imports' peak "
                f"{peak_mib:5.0f} MiB   progress calls {calls}"
            )
        if "read" in args.tasks:
            base_s, base_mib, _, _, _ = results["load_locs (baseline)"]
            for task in ("locs_per_frame", "field_histograms photons", "preview_data x5"):
                seconds, peak_mib, _, _, _ = results[task]
                print(
                    f"{task}: {base_mib / max(peak_mib, 1):.1f}x less peak memory, {base_s / seconds:.2f}x the baseline's speed"
                )
        if "add" in args.tasks:
            before, after = results[BEFORE], results[AFTER]
            row_before, row_after = before[4], after[4]
            differ = sorted(
                k
                for k in row_before
                if k != "info_json"
                and row_before[k] != row_after[k]
                and not (row_before[k] != row_before[k] and row_after[k] != row_after[k])
            )
            print(
                f"add to database: {before[1] / max(after[1], 1):.1f}x less peak memory above the imports "
                f"({before[1]:.0f} -> {after[1]:.0f} MiB), {before[0] / after[0]:.2f}x the speed; "
                f"rows identical: {not differ}" + (f" (differ: {differ})" if differ else "")
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
