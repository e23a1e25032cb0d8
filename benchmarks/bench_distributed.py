"""Distributed localization: scaling with workers and overhead against the plain pipeline.

Runs side by side in one process, on one simulated blinking movie (``.raw``):

- ``localize_file`` in this process (numba threads on all cores): the baseline;
- ``localize_file`` in this process with numba limited to 1 thread;
- a LocalCluster of 1 worker x 1 numba thread, then 2 workers x 1 thread (and more with
  ``--workers``), each warmed up first (worker start and numba cache loading are
  reported apart, they are paid once per cluster, not per movie);
- the Dask scheduler's cost per task (no-op tasks) and the movie's read rate from the
  page cache, which bound how far more machines help;
- what camera maps cost a block: reading full-sensor maps from their file against the
  copy a worker keeps for its next blocks.

Every run's rows are checked identical to the baseline's.

Usage::

    python benchmarks/bench_distributed.py                    # 128x128x20000
    python benchmarks/bench_distributed.py --frames 4000       # quicker
    python benchmarks/bench_distributed.py --movie /data/m.raw # an existing movie

The machine's other load makes single runs noisy: use ``--repeat`` and read the best.
"""

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numba

from napari_picasso.distributed import default_block_frames, localize_file_distributed, start_local_cluster
from napari_picasso.distributed.cluster import available_cores, close_cluster
from napari_picasso.io.locs import load_locs
from napari_picasso.io.movies import open_movie
from napari_picasso.pipeline import LocalizeParameters, localize_file
from napari_picasso.simulate import CameraModel, blinking_sites, write_movie

CAMERA = CameraModel(baseline=100.0, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)
PARAMETERS = LocalizeParameters(min_net_gradient=800.0, baseline=100.0, sensitivity=0.5)


def make_movie(folder, frames, size):
    path = Path(folder) / f"bench_{size}x{size}x{frames}.raw"
    if path.exists():
        return path
    print(f"simulating {path} ...", flush=True)
    started = time.perf_counter()
    # About 10 molecules on per frame, as in a typical DNA-PAINT acquisition of this size.
    truth = blinking_sites(
        frames,
        size,
        size,
        n_sites=int(150 * (size / 128) ** 2),
        photons=1500,
        mean_on_frames=3,
        mean_off_frames=40,
        min_distance_px=9,
        seed=1,
    )
    write_movie(path, truth, frames, size, size, bg_photons=50, camera=CAMERA, seed=1)
    print(f"  {time.perf_counter() - started:.0f} s, {path.stat().st_size / 2**20:.0f} MB", flush=True)
    return path


def rows(path):
    return load_locs(path, with_info=False).tobytes()


def cpu_seconds(clients):
    """CPU seconds used so far by this process (all its threads) and the clients' workers."""
    total = time.process_time()
    for client in clients:
        total += sum(client.run(time.process_time).values())
    return total


def scheduler_seconds_per_task(client, n=2000):
    """Round trip of ``n`` no-op tasks through the scheduler, per task."""
    client.gather(client.map(abs, range(-50, 0), pure=False))  # warm
    started = time.perf_counter()
    client.gather(client.map(abs, range(-n, 0), pure=False))
    return (time.perf_counter() - started) / n


def read_rate(movie_path, block=1000):
    """Frames per second read from the file (page cache warm after the runs above)."""
    with open_movie(movie_path) as movie:
        started = time.perf_counter()
        for start in range(0, movie.shape[0], block):
            movie.read_frames(start, start + block)
        seconds = time.perf_counter() - started
        return movie.shape[0] / seconds, movie.nbytes / seconds


def camera_maps_cost(folder, side=2048, repeat=5):
    """Seconds per block to get ``side`` x ``side`` sensor maps: (read from the file, worker's kept copy)."""
    import numpy as np

    from napari_picasso.distributed.blocks import _CameraMapsCache
    from napari_picasso.io.camera_maps import load_camera_maps, save_camera_maps

    path = Path(folder) / f"bench_maps_{side}.hdf5"
    if not path.exists():
        rng = np.random.default_rng(1)
        save_camera_maps(
            path, rng.normal(100, 2, (side, side)), rng.gamma(2, 2, (side, side)), rng.normal(2, 0.1, (side, side))
        )
    load_camera_maps(path)  # page cache warm, as for the later blocks of a run
    started = time.perf_counter()
    for _ in range(repeat):
        load_camera_maps(path)
    read = (time.perf_counter() - started) / repeat
    cache = _CameraMapsCache()
    cache.get(path)
    started = time.perf_counter()
    for _ in range(repeat):
        cache.get(path)
    return read, (time.perf_counter() - started) / repeat


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--size", type=int, default=128, help="frame side, px")
    parser.add_argument("--movie", type=Path, help="use this movie instead of simulating one")
    parser.add_argument(
        "--folder",
        type=Path,
        default=Path(tempfile.gettempdir()) / "napari-picasso-bench",
        help="where the simulated movie is kept between runs",
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="cluster sizes to run")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (best and median reported)")
    args = parser.parse_args(argv)

    args.folder.mkdir(parents=True, exist_ok=True)
    movie = args.movie or make_movie(args.folder, args.frames, args.size)
    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    with open_movie(movie) as opened:
        shape = opened.shape
        n_frames = shape[0]
        frame_mb = opened.nbytes / n_frames / 2**20
    cores = available_cores()
    print(
        f"movie {movie} ({n_frames} frames, {frame_mb * n_frames:.0f} MB), {cores} cores, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    import distributed

    # Every cluster is started and warmed before timing (worker start and numba cache
    # loading are paid once per cluster, not per movie); the runs are then interleaved,
    # round after round, so that the machine's other load hits them all alike.
    warm_parameters = PARAMETERS.replace(frame_range=(0, min(200, n_frames)))
    localize_file(movie, warm_parameters, out / "warm_locs.hdf5")
    default_threads = numba.get_num_threads()
    clusters = {}
    with contextlib.ExitStack() as stack:
        for n_workers in args.workers:
            started = time.perf_counter()
            cluster = start_local_cluster(n_workers, threads_per_worker=1)
            stack.callback(close_cluster, cluster)
            client = stack.enter_context(distributed.Client(cluster))
            startup = time.perf_counter() - started
            localize_file_distributed(movie, warm_parameters, out / "warm_locs.hdf5", client=client, block_frames=25)
            print(
                f"  {n_workers}-worker cluster: started in {startup:.1f} s, warm after "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
            clusters[n_workers] = client

        def in_process(threads):
            def run():
                numba.set_num_threads(threads)
                try:
                    return localize_file(movie, PARAMETERS, out / f"serial{threads}_locs.hdf5")
                finally:
                    numba.set_num_threads(default_threads)

            return run

        busy = {}

        def on_cluster(n_workers):
            def run():
                client = clusters[n_workers]
                with distributed.get_task_stream(client) as stream:
                    started = time.perf_counter()
                    result = localize_file_distributed(
                        movie, PARAMETERS, out / f"cluster{n_workers}_locs.hdf5", client=client
                    )
                    wall = time.perf_counter() - started
                computing = sum(
                    s["stop"] - s["start"]
                    for task in stream.data
                    for s in task["startstops"]
                    if s["action"] == "compute"
                )
                busy.setdefault(n_workers, []).append(computing / (wall * n_workers))
                return result

            return run

        runs = {f"in-process, {default_threads} numba threads": in_process(default_threads)}
        if default_threads > 1:
            runs["in-process, 1 numba thread"] = in_process(1)
        for n_workers in args.workers:
            runs[f"local cluster, {n_workers} worker(s) x 1 numba thread"] = on_cluster(n_workers)
        cpu_clients = {name: [] for name in runs}
        for n_workers in args.workers:
            cpu_clients[f"local cluster, {n_workers} worker(s) x 1 numba thread"] = [clusters[n_workers]]
        times = {name: [] for name in runs}
        cpu = {name: [] for name in runs}
        baseline_rows = None
        for round_ in range(args.repeat):
            for name, run in runs.items():
                cpu_before = cpu_seconds(cpu_clients[name])
                started = time.perf_counter()
                result = run()
                times[name].append(time.perf_counter() - started)
                cpu[name].append(cpu_seconds(cpu_clients[name]) - cpu_before)
                if baseline_rows is None:
                    baseline_rows = rows(result.locs_path)
                    n_locs = result.n_locs
                assert rows(result.locs_path) == baseline_rows, f"{name}: rows differ from the serial run"
            print(
                f"  round {round_ + 1}/{args.repeat}: " + ", ".join(f"{t[-1]:.1f}" for t in times.values()) + " s",
                flush=True,
            )
        per_task = scheduler_seconds_per_task(next(iter(clusters.values()))) if clusters else None
    figures = {name: min(t) for name, t in times.items()}
    medians = {name: statistics.median(t) for name, t in times.items()}
    cpu_used = {name: min(c) for name, c in cpu.items()}

    print(f"\n{n_locs} localizations, identical rows in every run\n")
    print(f"{'run':50s} {'best s':>8s} {'median s':>9s} {'frames/s':>9s} {'CPU s':>7s}")
    for name, seconds in figures.items():
        print(f"{name:50s} {seconds:8.2f} {medians[name]:9.2f} {n_frames / seconds:9.0f} {cpu_used[name]:7.2f}")
    one = figures.get("local cluster, 1 worker(s) x 1 numba thread")
    two = figures.get("local cluster, 2 worker(s) x 1 numba thread")
    serial_all = figures[f"in-process, {default_threads} numba threads"]
    serial_one = figures.get("in-process, 1 numba thread", serial_all)
    print()
    if one and two:
        print(f"speed-up 2 workers vs 1 worker:                         {one / two:5.2f}x  (target >= 1.7)")
    same = figures.get(f"local cluster, {default_threads} worker(s) x 1 numba thread")
    if same:
        print(
            f"overhead {default_threads} workers vs in-process, same {default_threads} cores:"
            f"{' ' * 9}{100 * (same / serial_all - 1):+5.1f} %  (target <= 15 %)"
        )
    if one:
        print(f"overhead 1 worker x 1 thread vs in-process 1 thread:    {100 * (one / serial_one - 1):+5.1f} %")
    # CPU seconds (this process with its threads, plus the cluster's worker processes) do
    # not depend on how much of the machine other programs take: the work the
    # distributed path adds, and the speed-up free cores would give.
    serial_cpu = cpu_used[f"in-process, {default_threads} numba threads"]
    for n_workers in args.workers:
        name = f"local cluster, {n_workers} worker(s) x 1 numba thread"
        blocks = -(-n_frames // default_block_frames(shape, n_frames, n_workers))
        balance = (blocks / n_workers) / -(-blocks // n_workers)
        print(
            f"CPU {n_workers} worker(s) vs in-process: {100 * (cpu_used[name] / serial_cpu - 1):+5.1f} %; "
            f"{blocks} blocks, speed-up on {n_workers} free cores <= {n_workers * balance * serial_cpu / cpu_used[name]:.2f}x"
        )
    if one and two:
        one_cpu = cpu_used["local cluster, 1 worker(s) x 1 numba thread"]
        two_cpu = cpu_used["local cluster, 2 worker(s) x 1 numba thread"]
        blocks = -(-n_frames // default_block_frames(shape, n_frames, 2))
        balance = (blocks / 2) / -(-blocks // 2)
        print(
            f"speed-up 2 workers vs 1 worker on 2 free cores, from CPU seconds: {2 * balance * one_cpu / two_cpu:5.2f}x"
        )
        if default_threads == 2:
            print(
                f"(control: in-process 2 threads vs 1 thread, same rounds: "
                f"{serial_one / serial_all:.2f}x; below 2 when other programs hold the cores)"
            )
    for n_workers, fractions in busy.items():
        print(
            f"{n_workers} worker(s) busy computing blocks: {100 * min(fractions):.0f}-{100 * max(fractions):.0f} % "
            "of the wall time (the rest: scheduling, the first and last block)"
        )
    frames_per_s, bytes_per_s = read_rate(movie)
    block = default_block_frames(shape, n_frames, 2)
    print(
        f"\nscheduler round trip per task:  {per_task * 1e3:.2f} ms "
        f"(default block on 2 workers: {block} frames, {block / (n_frames / (one or serial_one)):.2f} s of work)"
    )
    print(f"file read rate (page cache):    {frames_per_s:,.0f} frames/s, {bytes_per_s / 2**20:,.0f} MB/s")
    print(
        f"localization per core:          {n_frames / (one or serial_one):,.0f} frames/s, "
        f"{n_frames / (one or serial_one) * frame_mb:,.1f} MB/s of movie"
    )
    read, kept = camera_maps_cost(args.folder)
    print(
        f"2048x2048 camera maps per block: {read * 1e3:.0f} ms read from the file (every block, before "
        f"workers kept them), {kept * 1e6:.0f} us from a worker's kept copy; "
        f"the read is the work of {read / ((one or serial_one) / n_frames):,.0f} frames on one core"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
