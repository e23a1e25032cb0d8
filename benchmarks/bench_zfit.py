"""Speed of the z fit: napari-picasso's numba kernel vs Picasso's z fit, same localizations.

Simulates a bead z-stack and a movie of emitters at known z (1500 photons, +-400 nm),
localizes both with the pipeline (mle), calibrates, then times the z fit (z, d_zcalib,
lpz) of the same localizations by ``core.zfit.add_z`` (all threads and one thread) and,
when ``picassosr`` is importable, by ``picasso.zfit.zfit`` (single process, its default
per-localization ``scipy.optimize.minimize_scalar``) on a subset. Prints fits per second,
the ratio and the largest z difference between the two.

    PYTHONPATH=src python benchmarks/bench_zfit.py [--frames 200] [--picasso-locs 3000]
"""

import argparse
import time

import numba
import numpy as np

from napari_picasso.core import zfit
from napari_picasso.pipeline import LocalizeParameters, localize_frames
from napari_picasso.simulate import AstigmaticPSF, CameraModel, astigmatic_spots, bead_stack, render_movie


def best_of(func, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def simulated_locs(frames):
    camera = CameraModel(baseline=100, sensitivity=1.0, read_noise_e=0.0)
    psf = AstigmaticPSF()
    params = LocalizeParameters(box=9, min_net_gradient=3000, fit_method="mle", baseline=100, sensitivity=1)
    beads = bead_stack(20.0, 71, 64, 64, spacing_px=14, photons=20000, psf=psf, seed=1)
    bead_locs = localize_frames(render_movie(beads, 71, 64, 64, 50, camera, 1), params)
    calibration, _ = zfit.calibrate(bead_locs["frame"], bead_locs["sx"], bead_locs["sy"], 71, 20.0)
    truth = astigmatic_spots(frames, 96, 96, spacing_px=12, photons=1500, psf=psf, seed=2)
    movie = render_movie(truth, frames, 96, 96, 20, camera, 2)
    locs = localize_frames(movie, params.replace(min_net_gradient=400, fit_method="mle-3d", z_calibration=calibration))
    return locs, calibration


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200, help="frames of the emitter movie (49 spots each)")
    parser.add_argument("--picasso-locs", type=int, default=3000, help="localizations Picasso fits")
    parser.add_argument("--copies", type=int, default=50, help="our fit also runs on this many copies")
    args = parser.parse_args()
    locs, calibration = simulated_locs(args.frames)
    n = len(locs)
    print(
        f"{n} localizations, calibrated range {calibration[zfit.RANGE_KEY][0]:.0f} .. "
        f"{calibration[zfit.RANGE_KEY][1]:.0f} nm (stage), {numba.get_num_threads()} numba threads"
    )

    work = locs.copy()
    zfit.add_z(work, calibration)  # compile outside the timing; these z are compared below
    big = np.tile(locs, args.copies)
    seconds = best_of(lambda: zfit.add_z(big, calibration), repeats=5)
    ours = len(big) / seconds
    print(f"napari-picasso add_z (z, d_zcalib, lpz):   {ours:12,.0f} fits/s  ({seconds:.3f} s for {len(big):,})")
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    seconds_1 = best_of(lambda: zfit.add_z(big, calibration), repeats=5)
    numba.set_num_threads(threads)
    ours_1 = len(big) / seconds_1
    print(f"napari-picasso add_z, 1 thread:            {ours_1:12,.0f} fits/s")

    try:
        import pandas as pd
        from picasso import zfit as picasso_zfit
    except ImportError:
        print("picassosr not importable: no side-by-side comparison (pip install picassosr to run it)")
        return
    m = min(args.picasso_locs, n)
    subset = locs[:m]
    frame = pd.DataFrame({name: subset[name] for name in subset.dtype.names if name not in ("z", "d_zcalib", "lpz")})
    info = [{"Width": 96, "Height": 96, "Frames": args.frames}, {"Pixelsize": 130.0}]
    start = time.perf_counter()
    theirs, _ = picasso_zfit.zfit(
        frame,
        info,
        calibration={k: calibration[k] for k in zfit.CALIBRATION_KEYS},
        fitting_method="gaussmle",
        filter=0,
        multiprocess=False,
    )
    seconds_p = time.perf_counter() - start
    picasso = m / seconds_p
    print(f"Picasso zfit (single process):             {picasso:12,.0f} fits/s  ({seconds_p:.2f} s for {m})")
    print(f"ratio napari-picasso / Picasso:            {ours / picasso:12,.0f}x  (1 thread: {ours_1 / picasso:,.0f}x)")
    inside = np.abs(theirs["z"].to_numpy() / calibration["Magnification factor"]) < calibration[zfit.RANGE_KEY][1]
    dz = np.abs(theirs["z"].to_numpy() - work["z"][:m])[inside]
    dlpz = np.abs(theirs["lpz"].to_numpy() - work["lpz"][:m])[inside]
    print(
        f"agreement on {inside.sum()} localizations inside the calibrated range: max |dz| {dz.max():.4f} nm, "
        f"max |dlpz| {dlpz.max():.4f} nm"
    )


if __name__ == "__main__":
    main()
