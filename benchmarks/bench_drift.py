"""Drift correction: error and time of RCC, AIM and fiducials against Picasso 0.11.3's AIM.

Simulated localization tables with a known drift (:func:`napari_picasso.simulate.drifting_locs`:
DNA-PAINT sites on a 256 x 256 px field of 130 nm pixels, 6 nm median precision, 5%
non-specific localizations; drift linear 250/-150/120 nm + a 50 nm sine + a 10 nm random
walk in x/y/z), 2D and 3D (z in -400..400 nm, z precision 2.5x the lateral), with and
without 8 fiducials (1 nm precision, present in 98% of the frames). In one process, after
one warm-up call each (numba compiles once, then loads its cache):

- ours: ``rcc`` (1000-frame segments), ``aim`` (100-frame segments, 20 nm bins, 60 nm
  search) and, on the tables with fiducials, ``fiducials`` (found automatically), each
  with its split-halves error (:func:`napari_picasso.core.drift_estimate.split_halves`);
- Picasso 0.11.3: ``picasso.aim.aim`` with the same segmentation, intersection distance
  and search radius, on the same table as its DataFrame (the conversion is not timed).

Error: RMS over frames of (estimated - true) drift per axis, a constant offset removed
(it is not observable), nm. Time: the estimate alone, s; ``+split`` the split halves.

``--command N`` also times the whole command ``napari-picasso undrift FILE --method aim
--no-db`` (a new process: start-up, reading, the estimate, the split halves, writing) on
a file of N localizations, against Picasso's AIM computation alone on the same table in
this process, and its peak memory (the child's maximum resident set).

    python benchmarks/bench_drift.py [--sizes 1e6 1e7] [--command 7e6] [--no-picasso]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_picasso.core.drift_estimate import DriftColumns, DriftOptions, estimate_drift, split_halves
from napari_picasso.io.locs import save_locs
from napari_picasso.simulate import drifting_locs

PIXELSIZE_NM = 130.0
FRAMES = {1_000_000: 20_000, 10_000_000: 50_000}
BIN_NM, SHIFT_NM, SEGMENT_AIM = 20.0, 60.0, 100


def frames_for(n_locs):
    return FRAMES.get(n_locs, int(np.clip(n_locs / 200, 5000, 50_000)))


def rms_error_nm(drift_columns, truth_nm):
    drift = np.array(drift_columns, dtype=np.float64)
    drift[:, :2] *= PIXELSIZE_NM
    error = drift - truth_nm[:, : drift.shape[1]]
    error -= error.mean(axis=0)
    return np.sqrt(np.mean(error**2, axis=0))


def columns_of(sim, n_frames):
    locs = sim.locs
    z = locs["z"] if "z" in locs.dtype.names else None
    return DriftColumns(locs["frame"], locs["x"], locs["y"], z, locs["photons"], n_frames, 256, 256)


def ours(sim, n_frames, method):
    columns = columns_of(sim, n_frames)
    options = DriftOptions(method=method, pixelsize_nm=PIXELSIZE_NM)
    started = time.perf_counter()
    estimate = estimate_drift(columns, options)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    halves = split_halves(columns, options, estimate)
    split_seconds = time.perf_counter() - started
    split_nm = np.r_[halves.residual_px * PIXELSIZE_NM, halves.residual_z_nm][: estimate.result.drift_columns.shape[1]]
    return rms_error_nm(estimate.result.drift_columns, sim.drift_nm), seconds, split_nm, split_seconds


def picasso_aim(sim):
    import pandas as pd
    from picasso import aim

    frame = pd.DataFrame(sim.locs)
    started = time.perf_counter()
    _, _, drift = aim.aim(
        frame, sim.info, segmentation=SEGMENT_AIM, intersect_d=BIN_NM / PIXELSIZE_NM, roi_r=SHIFT_NM / PIXELSIZE_NM
    )
    seconds = time.perf_counter() - started
    columns = [drift["x"].to_numpy(), drift["y"].to_numpy()] + ([drift["z"].to_numpy()] if "z" in drift else [])
    return rms_error_nm(np.column_stack(columns), sim.drift_nm), seconds


def warm_up():
    sim = drifting_locs(150_000, n_frames=4000, width=64, height=64, n_fiducials=2, z_range_nm=(-300, 300), seed=9)
    for method in ("rcc", "aim", "fiducials"):
        columns = DriftColumns(sim.locs["frame"], sim.locs["x"], sim.locs["y"], sim.locs["z"], sim.locs["photons"],
                               4000, 64, 64)  # fmt: skip
        options = DriftOptions(method=method, segment_frames=500 if method == "rcc" else 100)
        split_halves(columns, options, estimate_drift(columns, options))


def row(label, error_nm, seconds, split_nm=None, split_seconds=None):
    axes = " ".join(f"{e:6.3f}" for e in error_nm)
    text = f"  {label:<18} error (nm) {axes:<22} time {seconds:7.2f} s"
    if split_nm is not None:
        text += f"   split-halves (nm) {' '.join(f'{e:6.3f}' for e in split_nm):<22} +split {split_seconds:5.2f} s"
    print(text, flush=True)


def table(n_locs, three_d, fiducials, with_picasso):
    n_frames = frames_for(n_locs)
    sim = drifting_locs(
        n_locs, n_frames=n_frames, z_range_nm=(-400.0, 400.0) if three_d else None, n_fiducials=8 if fiducials else 0,
        seed=1,
    )  # fmt: skip
    print(
        f"{len(sim.locs):,} localizations, {n_frames} frames, {'3D' if three_d else '2D'}"
        f"{', 8 fiducials' if fiducials else ''} (axes x y{' z' if three_d else ''})",
        flush=True,
    )
    results = {}
    for method in ("rcc", "aim") + (("fiducials",) if fiducials else ()):
        results[method] = ours(sim, n_frames, method)
        row(f"ours {method}", *results[method])
    if with_picasso:
        results["picasso_aim"] = picasso_aim(sim)
        row("Picasso 0.11.3 AIM", *results["picasso_aim"])
        ratio = results["picasso_aim"][1] / results["aim"][1]
        print(f"  AIM: ours {ratio:.1f}x faster than Picasso's", flush=True)
    return results


def command_benchmark(n_locs, with_picasso):
    n_frames = frames_for(n_locs)
    sim = drifting_locs(n_locs, n_frames=n_frames, seed=2)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench_locs.hdf5"
        save_locs(path, sim.locs, sim.info)
        small = Path(folder) / "warm_locs.hdf5"
        warm = drifting_locs(100_000, n_frames=2000, width=64, height=64, seed=3)
        save_locs(small, warm.locs, warm.info)
        command = [sys.executable, "-c", COMMAND, "undrift", "--method", "aim", "--no-db"]
        subprocess.run(command + [str(small)], check=True, capture_output=True)  # numba's cache loaded once
        started = time.perf_counter()
        done = subprocess.run(command + [str(path)], capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        *printed, peak = done.stdout.strip().splitlines()
        peak_gb = int(peak) * 1024 / 1e9
        print(f"{len(sim.locs):,} localizations, whole command (start-up, read, AIM, split halves, write)")
        print(f"  napari-picasso undrift --method aim: {seconds:.2f} s, peak memory {peak_gb:.2f} GB", flush=True)
        print("  " + "\n  ".join(printed))
        if with_picasso:
            _, picasso_seconds = picasso_aim(sim)
            print(f"  Picasso 0.11.3 aim.aim alone (table in memory): {picasso_seconds:.2f} s "
                  f"-> the whole command takes {seconds / picasso_seconds:.2f}x its time", flush=True)  # fmt: skip


# The console script's entry, then the process's own peak resident memory (VmHWM, kB): a
# parent's figure for its children (ru_maxrss) would count this large process's pages,
# which a child shares between fork and exec.
COMMAND = (
    "import sys\n"
    "from napari_picasso.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"
    "sys.exit(code)"
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7], help="localizations per table")
    parser.add_argument("--command", type=float, default=7e6, help="rows of the whole-command comparison (0: none)")
    parser.add_argument("--no-picasso", action="store_true", help="skip Picasso's AIM")
    args = parser.parse_args(argv)
    with_picasso = not args.no_picasso
    warm_up()
    for n in args.sizes:
        for three_d in (False, True):
            for fiducials in (False, True):
                table(int(n), three_d, fiducials, with_picasso)
    if args.command:
        command_benchmark(int(args.command), with_picasso)


if __name__ == "__main__":
    main()
