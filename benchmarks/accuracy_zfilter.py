"""What the d_zcalib filter removes, on simulated astigmatic movies with spoiled emitters.

Calibrates from a simulated bead z-stack, then localizes (mle-3d) a movie of isolated
emitters at known depths (+-400 nm sample) of which a fraction lies beyond the calibrated
range and a fraction has an overlapping partner (``simulate.astigmatic_outliers``). Prints,
for absolute thresholds (``--max-d-zcalib``, applied per localization) and for Picasso's
whole-file rule (d_zcalib <= 2 x rms), the fraction removed of each kind and the z RMSE of
the kept rows against the truth.

    PYTHONPATH=src python benchmarks/accuracy_zfilter.py [--frames 100] [--photons 2000]
"""

import argparse
import math

import numpy as np

from napari_picasso.core import zfit
from napari_picasso.core.matching import match_to_truth
from napari_picasso.pipeline import LocalizeParameters, localize_frames
from napari_picasso.simulate import (
    AstigmaticPSF,
    CameraModel,
    astigmatic_outliers,
    astigmatic_spots,
    bead_stack,
    render_movie,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--photons", type=float, default=2000.0)
    parser.add_argument("--bg", type=float, default=20.0)
    parser.add_argument("--far", type=float, default=0.125, help="fraction beyond the calibrated range")
    parser.add_argument("--pairs", type=float, default=0.125, help="fraction with an overlapping partner")
    args = parser.parse_args()
    psf, camera, size = AstigmaticPSF(), CameraModel(baseline=100, sensitivity=1.0, read_noise_e=0.0), 96
    beads = bead_stack(20.0, 71, 64, 64, spacing_px=14, photons=20000, psf=psf, seed=1)
    bead_movie = render_movie(beads, 71, 64, 64, bg_photons=50, camera=camera, seed=1)
    found = localize_frames(bead_movie, LocalizeParameters(box=9, min_net_gradient=3000, baseline=100, sensitivity=1))
    calibration, _ = zfit.calibrate(found["frame"], found["sx"], found["sy"], 71, 20.0, 0.79)

    truth = astigmatic_spots(args.frames, size, size, spacing_px=12, photons=args.photons, psf=psf, seed=2)
    scene, spoiled, emitters = astigmatic_outliers(truth, args.far, args.pairs, psf=psf, seed=2)
    movie = render_movie(scene, args.frames, size, size, bg_photons=args.bg, camera=camera, seed=3)
    params = LocalizeParameters(
        box=9, min_net_gradient=400, fit_method="mle-3d", baseline=100, sensitivity=1, z_calibration=calibration
    )
    locs = localize_frames(movie, params)
    li, ti = match_to_truth(locs, emitters, 1.0)
    kind = spoiled[ti]
    d = locs["d_zcalib"][li].astype(np.float64)
    error = locs["z"][li].astype(np.float64) - emitters["z"][ti]
    rms = math.sqrt(np.mean(locs["d_zcalib"].astype(np.float64) ** 2))
    print(
        f"{len(locs)} localizations ({len(li)} matched: clean {np.sum(kind == 0)}, beyond range "
        f"{np.sum(kind == 1)}, pairs {np.sum(kind == 2)}); rms d_zcalib {rms:.4f}; "
        f"clean emitters' z RMSE {math.sqrt(np.mean(error[kind == 0] ** 2)):.1f} nm"
    )
    print("* matched localizations kept")
    print(f"{'rule':>22} {'kept*':>6} {'removed: clean':>15} {'beyond':>7} {'pairs':>6} {'z RMSE kept (nm)':>17}")
    rules = [("off", np.inf)] + [(f"d <= {t:g}", t) for t in (0.03, 0.04, 0.05, 0.06, 0.08, 0.1)]
    rules.append((f"Picasso 2 x rms = {2 * rms:.3f}", 2 * rms))
    for name, threshold in rules:
        removed = d > threshold
        fractions = [f"{np.mean(removed[kind == k]):.1%}" if np.any(kind == k) else "-" for k in range(3)]
        rmse = math.sqrt(np.mean(error[~removed] ** 2))
        print(f"{name:>22} {np.sum(~removed):6d} {fractions[0]:>15} {fractions[1]:>7} {fractions[2]:>6} {rmse:17.1f}")


if __name__ == "__main__":
    main()
