"""Cubic-spline PSF: accuracy against ground truth and CRLB, speed, Picasso 0.11.3 side by side.

A pupil-function PSF (astigmatism, spherical aberration and coma: rings and lobes beyond
focus) draws a bead z-stack (9 beads, +-800 nm, 10 nm steps) and a movie of isolated
emitters at z uniform in +-600 nm (3000 photons, 20 photons/px background). Then:

1. ``calibrate-psf`` on the beads (library call) -> ``_spline_calib.hdf5``;
2. ``spline-mle`` through the pipeline: Jaccard (match radius 2 px), z RMSE / CRLB_z
   within +-400 nm and overall, bias per 100 nm bin of +-500 nm, xy RMSE / CRLB (after
   removing the PSF origin's constant offset, which is printed);
3. ``mle-3d`` on the same movie with an astigmatism calibration of the same beads;
4. Picasso 0.11.3 ``spline-mle`` (its identify, get_spots, fit, CRLB) with our calibration;
5. speed on the same spots, compile excluded: ours vs Picasso's CPU fit (+ CRLB), Picasso
   with its default worker count and with 2 workers;
6. file exchange: Picasso's own calibration of the beads fitted here and in Picasso
   (z difference), and ours opened by ``picasso.io.load_spline_calibration``.

    PYTHONPATH=src python benchmarks/bench_spline.py [--frames 150] [--no-picasso]
"""

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_picasso.calibrate.psf import calibrate_psf
from napari_picasso.core import psf_spline, zfit
from napari_picasso.core.matching import match_to_truth
from napari_picasso.core.spots import extract_spots
from napari_picasso.detection import detect
from napari_picasso.fitters.spline import psf_model, z_nm
from napari_picasso.io.psf_calib import save_psf_calibration
from napari_picasso.pipeline import LocalizeParameters, localize_frames
from napari_picasso.simulate import CameraModel, PupilPSF, pupil_bead_stack, pupil_spots, render_movie, write_movie

BOX = 15
PIXEL_NM = 110.0
STEP_NM = 10.0
BG = 20.0
CAMERA = CameraModel(baseline=100, sensitivity=1.0, read_noise_e=1.0)


def jaccard(n_matched, n_locs, n_truth):
    return n_matched / (n_locs + n_truth - n_matched)


def z_report(name, z_fit, z_true, lpz=None):
    error = z_fit - z_true
    line = f"{name}: z RMSE {math.sqrt(np.mean(error**2)):.1f} nm overall"
    inner = np.abs(z_true) <= 400
    line += f", {math.sqrt(np.mean(error[inner] ** 2)):.1f} nm within +-400 nm"
    if lpz is not None:
        overall = math.sqrt(np.mean(error**2) / np.mean(lpz**2))
        within = math.sqrt(np.mean(error[inner] ** 2) / np.mean(lpz[inner] ** 2))
        line += f"; RMSE/CRLB_z {within:.3f} within +-400 nm, {overall:.3f} overall"
    print(line)
    print(f"  {'true z (nm)':>14} {'n':>5} {'bias':>6} {'RMSE':>6} {'CRLB':>6}")
    for lo in range(-600, 600, 100):
        m = (z_true >= lo) & (z_true < lo + 100)
        crlb = f"{math.sqrt(np.mean(lpz[m] ** 2)):6.1f}" if lpz is not None else "     -"
        print(
            f"  {lo:>6}..{lo + 100:<6} {m.sum():>5} {np.mean(error[m]):6.1f} "
            f"{math.sqrt(np.mean(error[m] ** 2)):6.1f} {crlb}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--photons", type=float, default=3000.0)
    parser.add_argument("--no-picasso", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_spline_"))
    psf = PupilPSF(pixelsize_nm=PIXEL_NM)

    beads = pupil_bead_stack(step_nm=STEP_NM, range_nm=800.0, photons=100000.0, seed=1)
    n_steps = int(beads["frame"].max()) + 1
    beads_path = write_movie(
        folder / "beads.tif", beads, n_steps, 64, 64, BG, CAMERA, 1, pixelsize_nm=PIXEL_NM, psf=psf
    )
    calibration, _ = calibrate_psf(
        beads_path, step_nm=STEP_NM, box=BOX, min_net_gradient=2000, baseline=100, pixelsize_nm=PIXEL_NM
    )
    calib_path = save_psf_calibration(folder / "beads_spline_calib.hdf5", calibration)
    print(
        f"calibration: {calibration['n_beads']} beads, {n_steps} steps, box {BOX}, focus slice {calibration['z_init']}"
    )

    truth = pupil_spots(args.frames, 96, 96, spacing_px=16, photons=args.photons, seed=2)
    movie = render_movie(truth, args.frames, 96, 96, BG, CAMERA, 2, psf=psf)
    print(f"movie: {args.frames} frames, {len(truth)} emitters, z uniform in +-600 nm, {args.photons:g} photons")

    params = LocalizeParameters(
        box=BOX, min_net_gradient=400, baseline=100, sensitivity=1, pixelsize_nm=PIXEL_NM, fit_method="spline-mle"
    ).replace(psf=str(calib_path))
    localize_frames(movie[:2], params)  # compile
    started = time.perf_counter()
    locs = localize_frames(movie, params)
    seconds = time.perf_counter() - started
    li, ti = match_to_truth(locs, truth, 2.0)
    print(
        f"\nspline-mle (pipeline): {len(locs)} locs, Jaccard {jaccard(len(li), len(locs), len(truth)):.4f}, "
        f"{len(locs) / seconds:.0f} locs/s end to end"
    )
    z_report("spline-mle", locs["z"][li].astype(float), truth["z"][ti].astype(float), locs["lpz"][li].astype(float))
    ex = locs["x"][li] - truth["x"][ti]
    ey = locs["y"][li] - truth["y"][ti]
    zt = truth["z"][ti]
    for lo in range(-600, 600, 200):
        m = (zt >= lo) & (zt < lo + 200)
        print(
            f"  lateral bias at z {lo}..{lo + 200} nm: x {ex[m].mean() * PIXEL_NM:5.1f}, y {ey[m].mean() * PIXEL_NM:5.1f} nm"
        )
    print(
        f"  PSF origin offset x {np.mean(ex) * PIXEL_NM:.1f} nm, y {np.mean(ey) * PIXEL_NM:.1f} nm; "
        f"xy RMSE/CRLB x {math.sqrt(np.mean((ex - ex.mean()) ** 2) / np.mean(locs['lpx'][li] ** 2)):.3f}, "
        f"y {math.sqrt(np.mean((ey - ey.mean()) ** 2) / np.mean(locs['lpy'][li] ** 2)):.3f} "
        f"(raw, offset kept: x {math.sqrt(np.mean(ex**2) / np.mean(locs['lpx'][li] ** 2)):.3f}, "
        f"y {math.sqrt(np.mean(ey**2) / np.mean(locs['lpy'][li] ** 2)):.3f})"
    )
    unsmoothed = detection_without_smoothing(movie, params, truth)
    print(f"  detection without the smoothing (Picasso's way): Jaccard of found boxes {unsmoothed:.4f}")

    # mle-3d with an astigmatism calibration of the same beads
    bead_movie = render_movie(beads, n_steps, 80, 80, BG, CAMERA, 1, psf=psf)
    gauss = LocalizeParameters(box=9, min_net_gradient=2000, baseline=100, sensitivity=1, pixelsize_nm=PIXEL_NM)
    bead_locs = localize_frames(bead_movie, gauss)
    zcal, _ = zfit.calibrate(bead_locs["frame"], bead_locs["sx"], bead_locs["sy"], n_steps, STEP_NM, 1.0)
    locs3d = localize_frames(
        movie, gauss.replace(fit_method="mle-3d", z_calibration=zcal, min_net_gradient=1500, box=BOX)
    )
    li3, ti3 = match_to_truth(locs3d, truth, 2.0)
    print(f"\nmle-3d (astigmatic Gaussian): Jaccard {jaccard(len(li3), len(locs3d), len(truth)):.4f}")
    z_report("mle-3d", locs3d["z"][li3].astype(float), truth["z"][ti3].astype(float))

    if not args.no_picasso:
        picasso_side_by_side(folder, movie, truth, calibration, calib_path, beads_path, locs, params)


def detection_without_smoothing(movie, params, truth):
    plain = params.replace(fit_method="mle", psf=None, min_net_gradient=1500)
    fi, y, x, _, _ = detect(movie.astype(np.float32), plain, (0, 0, 96, 96))  # the plain gradient detector
    found = np.zeros(len(fi), dtype=[("frame", "u4"), ("x", "f4"), ("y", "f4")])
    found["frame"], found["x"], found["y"] = fi, x, y
    li, _ = match_to_truth(found, truth, 2.0)
    return jaccard(len(li), len(found), len(truth))


def picasso_side_by_side(folder, movie, truth, calibration, calib_path, beads_path, locs, params):
    import pandas as pd
    from picasso import io as pio
    from picasso import localize as ploc
    from picasso import spline as pspline
    from picasso.fitting import splinefit

    camera_info = {"Baseline": 100.0, "Sensitivity": 1.0, "Gain": 1, "Qe": 1.0, "Pixelsize": PIXEL_NM}
    theirs = pio.load_spline_calibration(str(calib_path))
    print(f"\nour calibration in picasso.io.load_spline_calibration: {theirs['model']}, {theirs['coefficients'].shape}")

    # Picasso's own pipeline on the same movie (its identify at the same net gradient)
    ids = ploc.identify(movie, 1500, BOX, threaded=False)
    ids = ids[0] if isinstance(ids, tuple) else ids
    spots = ploc.get_spots(movie, ids, BOX, camera_info)
    theta = ploc.fit_spots_spline(spots[:50], theirs, mle=True, use_gpu=False)  # compile
    started = time.perf_counter()
    theta = ploc.fit_spots_spline(spots, theirs, mle=True, use_gpu=False)
    plocs = ploc.locs_from_fits_spline(ids, theta, BOX, False, theirs, mle=True)
    seconds = time.perf_counter() - started
    rec = np.zeros(len(plocs), dtype=[("frame", "u4"), ("x", "f4"), ("y", "f4"), ("z", "f4")])
    for key in rec.dtype.names:
        rec[key] = plocs[key].to_numpy()
    li, ti = match_to_truth(rec, truth, 2.0)
    print(
        f"Picasso 0.11.3 spline-mle (its identify + fit + CRLB): Jaccard {jaccard(len(li), len(rec), len(truth)):.4f}, "
        f"{len(rec) / seconds:.0f} fits/s"
    )
    z_report("Picasso spline-mle", rec["z"][li].astype(float), truth["z"][ti].astype(float))

    # speed on the same spots (ours cut them; both fit the same array), compile excluded
    fi, y, x, _, _ = detect(movie.astype(np.float32), params, (0, 0, 96, 96))
    same = extract_spots(movie.astype(np.float32), fi, y, x, BOX, 100.0, 1.0, 1.0).astype(np.float64)
    model = psf_model(calib_path)
    fit_args = {
        "photon_scale": model["photon_scale"],
        "z_focus": model["z_focus"],
        "knots": model["knots"],
    }
    psf_spline.fit_spline(same[:50], model["coeff"], **fit_args)
    timings = {}
    for _ in range(3):
        started = time.perf_counter()
        ours = psf_spline.fit_spline(same, model["coeff"], **fit_args)
        timings["ours"] = min(timings.get("ours", 1e9), time.perf_counter() - started)
    frame_ids = pd.DataFrame({"frame": fi, "x": x, "y": y, "net_gradient": np.ones(len(fi))})
    for workers in (splinefit.n_workers(), 2):
        original = splinefit.n_workers
        splinefit.n_workers = lambda w=workers: w
        try:
            for _ in range(2):
                started = time.perf_counter()
                th = ploc.fit_spots_spline(same.astype(np.float32), theirs, mle=True, use_gpu=False)
                pl = ploc.locs_from_fits_spline(frame_ids, th, BOX, False, theirs, mle=True)
                key = f"picasso_{workers}"
                timings[key] = min(timings.get(key, 1e9), time.perf_counter() - started)
        finally:
            splinefit.n_workers = original
    n = len(same)
    print(f"\nspeed on the same {n} spots (fit + CRLB, compile excluded, best of runs):")
    print(f"  ours: {n / timings['ours']:.0f} fits/s")
    for key in sorted(k for k in timings if k.startswith("picasso")):
        print(
            f"  Picasso, {key.split('_')[1]} worker(s): {n / timings[key]:.0f} fits/s "
            f"(ours x{timings[key] / timings['ours']:.2f})"
        )
    z_ours = z_nm(model, ours["z"])
    dz = np.abs(z_ours - pl["z"].to_numpy())
    print(
        f"  same spots, same (our) calibration: |z ours - z Picasso| median {np.median(dz):.2f} nm, "
        f"95% {np.percentile(dz, 95):.2f} nm"
    )

    # Picasso's own calibration of the beads, fitted here and in Picasso
    pmovie, pinfo = pio.load_movie(str(beads_path))
    pcal = pspline.calibrate_spline(pmovie, pinfo, camera_info, BOX, 2000, STEP_NM, magnification_factor=1.0)
    ppath = folder / "picasso_spline_calib.hdf5"
    pio.save_spline_calibration(str(ppath), pcal)
    pmodel = psf_model(ppath)
    ours_p = psf_spline.fit_spline(
        same, pmodel["coeff"], photon_scale=pmodel["photon_scale"], z_focus=pmodel["z_focus"], knots=pmodel["knots"]
    )
    th = ploc.fit_spots_spline(same.astype(np.float32), pcal, mle=True, use_gpu=False)
    pl = ploc.locs_from_fits_spline(frame_ids, th, BOX, False, pcal, mle=True)
    dz = np.abs(z_nm(pmodel, ours_p["z"]) - pl["z"].to_numpy())
    print(
        f"Picasso's calibration ({ppath.name}) fitted here vs in Picasso: |dz| median {np.median(dz):.2f} nm, "
        f"95% {np.percentile(dz, 95):.2f} nm, {np.mean(dz <= 1.0):.1%} within 1 nm"
    )


if __name__ == "__main__":
    main()
