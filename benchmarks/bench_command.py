"""The whole command as a user times it, beside Picasso 0.11.3's computation, in one run.

Simulates (or reuses) a 128x128x10,000-frame blinking movie (.raw), then, ``--repeats``
times, alternating:

- ``napari-picasso localize MOVIE`` as a new process (``python -m napari_picasso``), the
  database row on (a fresh SQLite file in the benchmark's folder), numba's cache warm
  (a first run fills it), timed from the moment the process is started to its exit; with
  ``NAPARI_PICASSO_TIMINGS=1`` the command prints where its time went (see
  ``napari_picasso.core.timings``): interpreter start-up, imports, numba kernels loaded
  from the cache, reading, identification, fitting, writing, the summary line, the
  quality figures and the database row; ``other`` is the rest (argument parsing, glue,
  the interpreter's exit);
- Picasso 0.11.3's computation on the same movie in this process: ``localize.identify``
  and ``localize.fit`` (``gaussmle`` for ``--fit mle``, ``gausslq`` for ``--fit lq``)
  with its worker count set to all cores; its start-up, imports and numba compilation
  are not counted (warmed up first on a few frames), nor is writing its file.

It prints each run's stages, the ratio (Picasso's seconds / the command's seconds) of
each pair and of the best of each side. Under load from other processes compare ratios
of one run, not absolute seconds. ``--cold`` adds a first run with an empty numba cache
(``NUMBA_CACHE_DIR`` set to a new temporary folder): the time a user waits once after
installing or upgrading.

    python benchmarks/bench_command.py [--frames 10000] [--size 128] [--repeats 2] [--fit mle] [--cold]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_picasso.simulate import CameraModel, blinking_sites, suggested_min_net_gradient, write_movie

CAMERA = CameraModel(baseline=100, sensitivity=0.5, em_gain=1, read_noise_e=1.5)
BOX = 7
PICASSO_FIT = {"mle": "gaussmle", "lq": "gausslq"}
STAGES = (
    "interpreter",
    "imports",
    "numba kernels",
    "reading",
    "identification",
    "fitting",
    "writing",
    "summary line",
    "quality figures",
    "database",
    "exit",
    "other",
)


def movie_for(folder, n_frames, size):
    """The benchmark movie in ``folder``: simulated once, reused while its shape matches."""
    path = folder / f"command_{size}x{size}x{n_frames}.raw"
    if not path.exists() or path.stat().st_size != n_frames * size * size * 2:
        truth = blinking_sites(
            n_frames,
            size,
            size,
            n_sites=size**2 // 55,
            photons=1500,
            mean_on_frames=3,
            mean_off_frames=25,
            min_distance_px=9,
            seed=1,
        )
        write_movie(path, truth, n_frames, size, size, bg_photons=50, camera=CAMERA, seed=1)
    return path


def command_line(movie, gradient, fit, database):
    return [
        sys.executable,
        "-m",
        "napari_picasso",
        "localize",
        str(movie),
        "--fit",
        fit,
        "--box",
        str(BOX),
        "--gradient",
        f"{gradient:g}",
        "--baseline",
        str(CAMERA.baseline),
        "--sensitivity",
        str(CAMERA.sensitivity),
        "--db",
        str(database),
        "--quiet",
    ]


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_command(arguments, env=None):
    """Run the command in a new process; (seconds from start to exit, stages, its output, CPU seconds)."""
    env = {**os.environ, **(env or {}), "NAPARI_PICASSO_TIMINGS": "1"}
    cpu = children_cpu_seconds()
    started = time.monotonic()
    done = subprocess.run(arguments, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    cpu = children_cpu_seconds() - cpu
    if done.returncode != 0:
        raise SystemExit(f"the command failed ({done.returncode}):\n{done.stderr}")
    report = [line for line in done.stderr.splitlines() if line.startswith("napari-picasso timings ")]
    if not report:  # a tree from before the stage timers (--baseline-src): the whole command only
        return seconds, {}, done.stdout.strip(), cpu, {}
    timings = json.loads(report[0].split(" ", 2)[2])
    stages = {"interpreter": timings["imported_at"] - started, **timings["stages"]}
    stages["exit"] = started + seconds - timings["reported_at"]
    stages["other"] = seconds - sum(stages.values())
    cpu_stages = {"interpreter": timings["imported_cpu"], **timings["cpu_stages"]}
    cpu_stages["exit"] = cpu - timings["process_cpu"]
    cpu_stages["other"] = cpu - sum(cpu_stages.values())
    return seconds, stages, done.stdout.strip(), cpu, cpu_stages


def picasso_computation(movie_path, gradient, fit):
    """A function that runs Picasso's identify + fit on the movie; (seconds, localizations)."""
    from picasso import io as pio
    from picasso import lib as plib
    from picasso import localize as ploc

    cores = os.cpu_count()
    plib.n_workers = lambda cpu_utilization=0.75: cores  # all cores, as our kernels use
    movie, _ = pio.load_movie(str(movie_path))
    camera_info = {"Baseline": CAMERA.baseline, "Sensitivity": CAMERA.sensitivity, "Gain": CAMERA.em_gain, "Qe": 1}
    camera_info["Pixelsize"] = 130
    method = PICASSO_FIT[fit]

    def identify(frame_bounds=None):
        out = ploc.identify(movie, gradient, BOX, threaded=True, frame_bounds=frame_bounds)
        return out[0] if isinstance(out, tuple) else out

    def fit_spots(ids):
        out = ploc.fit(movie, camera_info=camera_info, identifications=ids, box=BOX, fitting_method=method)
        return out[0] if isinstance(out, tuple) else out

    fit_spots(identify((0, 50)))  # compiles Picasso's kernels: not counted

    def computation():
        cpu = time.process_time() + children_cpu_seconds()  # its least-squares fit runs in processes
        started = time.perf_counter()
        locs = fit_spots(identify())
        return time.perf_counter() - started, len(locs), time.process_time() + children_cpu_seconds() - cpu

    return computation


def stage_table(runs):
    """Rows of stage seconds, two columns per run of the command: wall and CPU seconds."""
    lines = [f"  {'stage':18s}" + "".join(f"{f'run {i + 1} wall':>12s}{'CPU':>7s}" for i in range(len(runs)))]
    for name in STAGES:
        lines.append(
            f"  {name:18s}" + "".join(f"{run[1].get(name, 0.0):12.2f}{run[4].get(name, 0.0):7.2f}" for run in runs)
        )
    lines.append(f"  {'whole command':18s}" + "".join(f"{run[0]:12.2f}{run[3]:7.2f}" for run in runs))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--fit", choices=sorted(PICASSO_FIT), default="mle")
    parser.add_argument("--cold", action="store_true", help="also time a first run with an empty numba cache")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        metavar="DIR",
        help="another tree's src folder (e.g. an earlier commit's): its command runs too, alternating, for a before/after",
    )
    parser.add_argument(
        "--folder", type=Path, default=Path(tempfile.gettempdir()) / "napari-picasso-bench-command", help="movie cache"
    )
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    movie = movie_for(args.folder, args.frames, args.size)
    gradient = suggested_min_net_gradient(1500, CAMERA)
    import numba

    print(
        f"movie {movie} ({args.size}x{args.size}x{args.frames}), --fit {args.fit}, {os.cpu_count()} cores, "
        f"numba threads {numba.get_num_threads()}, load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(dir=args.folder) as scratch:
        database = Path(scratch) / "bench.db"
        arguments = command_line(movie, gradient, args.fit, database)
        if args.cold:
            with tempfile.TemporaryDirectory() as cache:
                cold, cold_stages, *_ = run_command(arguments, {"NUMBA_CACHE_DIR": cache})
            print(
                f"cold first run (empty numba cache): {cold:.1f} s, of which numba {cold_stages['numba kernels']:.1f} s"
            )
        baseline_env = None
        if args.baseline_src:
            baseline_env = {"PYTHONPATH": os.pathsep.join([str(args.baseline_src), os.environ.get("PYTHONPATH", "")])}
            run_command(arguments, baseline_env)
        run_command(arguments)  # fills the numba cache (if empty) and the page cache
        computation = picasso_computation(movie, gradient, args.fit)
        runs, theirs, baseline = [], [], []
        for _ in range(args.repeats):
            runs.append(run_command(arguments))
            theirs.append(computation())
            if baseline_env:
                baseline.append(run_command(arguments, baseline_env))
    print(runs[-1][2])
    print("napari-picasso localize, new process, database row written, numba cache warm (seconds):")
    print("  (interpreter: start-up before napari_picasso.core.timings is imported; exit: the interpreter's,")
    print("   after the command returned; other: argument parsing, glue; CPU: seconds of all the process's threads)")
    print(stage_table(runs))
    print(f"Picasso 0.11.3 identify + {PICASSO_FIT[args.fit]} (all cores), {theirs[-1][1]} localizations (seconds):")
    print(f"  {'wall':18s}" + "".join(f"{t[0]:9.2f}" for t in theirs))
    print(f"  {'CPU seconds':18s}" + "".join(f"{t[2]:9.2f}" for t in theirs))
    ratios = [t[0] / r[0] for r, t in zip(runs, theirs)]
    cpu_ratios = [t[2] / r[3] for r, t in zip(runs, theirs)]
    print("ratio per pair (Picasso / whole command), wall: " + " ".join(f"{r:.2f}" for r in ratios))
    print("                                      CPU time: " + " ".join(f"{r:.2f}" for r in cpu_ratios))
    best = min(t[0] for t in theirs) / min(r[0] for r in runs)
    print(f"ratio of the best wall times: {best:.2f}  (median pair {np.median(ratios):.2f})")
    print("  (wall: both using all cores; CPU time: the same work counted in CPU seconds of all threads and")
    print("   processes, less sensitive to other processes on a shared machine)")
    if baseline:
        print(f"the command of {args.baseline_src}, same runs:")
        print(f"  {'wall':18s}" + "".join(f"{b[0]:9.2f}" for b in baseline))
        print(f"  {'CPU seconds':18s}" + "".join(f"{b[3]:9.2f}" for b in baseline))
        print("  its ratio to Picasso, wall: " + " ".join(f"{t[0] / b[0]:.2f}" for b, t in zip(baseline, theirs)))
        print("                    CPU time: " + " ".join(f"{t[2] / b[3]:.2f}" for b, t in zip(baseline, theirs)))
        print("  this tree's speed-up over it, wall: " + " ".join(f"{b[0] / r[0]:.2f}" for r, b in zip(runs, baseline)))
        print("                            CPU time: " + " ".join(f"{b[3] / r[3]:.2f}" for r, b in zip(runs, baseline)))
    identification = [run[1]["identification"] for run in runs]
    print(f"identification: {args.frames / min(identification):,.0f} frames/s (best run)")


if __name__ == "__main__":
    main()
