"""z accuracy of the 3D fits on simulated astigmatic movies, against the 3D-model CRLB.

Calibrates from a simulated bead z-stack, localizes isolated emitters at known depths
(uniform in +-400 nm, sample) with mle-3d and lq-3d, and prints per 100 nm bin of true z:
RMSE, the z CRLB of the pixel-integrated astigmatic Gaussian (x, y, z, N, bg), their
ratio, the bias (mean error) and the reported lpz (rms).

    PYTHONPATH=src python benchmarks/accuracy_z.py [--frames 200] [--photons 1500] [--bg 20]
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
    astigmatic_crlb,
    astigmatic_spots,
    bead_stack,
    render_movie,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--photons", type=float, default=1500.0)
    parser.add_argument("--bg", type=float, default=20.0)
    args = parser.parse_args()
    camera = CameraModel(baseline=100, sensitivity=1.0, read_noise_e=0.0)
    psf = AstigmaticPSF()
    params = LocalizeParameters(box=9, min_net_gradient=3000, fit_method="mle", baseline=100, sensitivity=1)
    beads = bead_stack(20.0, 71, 64, 64, spacing_px=14, photons=20000, psf=psf, seed=1)
    bead_locs = localize_frames(render_movie(beads, 71, 64, 64, 50, camera, 1), params)
    calibration, _ = zfit.calibrate(bead_locs["frame"], bead_locs["sx"], bead_locs["sy"], 71, 20.0)
    truth = astigmatic_spots(args.frames, 96, 96, spacing_px=12, photons=args.photons, psf=psf, seed=2)
    movie = render_movie(truth, args.frames, 96, 96, args.bg, camera, 2)
    edges = np.linspace(-400, 400, 9)
    crlb = []
    for b in range(8):
        grid = np.linspace(edges[b] + 10, edges[b + 1] - 10, 5)
        crlb.append(math.sqrt(np.mean([astigmatic_crlb(z, args.photons, args.bg, psf)["z"] ** 2 for z in grid])))
    gradient = 400 * args.photons / 1500
    for method in ("mle-3d", "lq-3d"):
        locs = localize_frames(
            movie, params.replace(fit_method=method, min_net_gradient=gradient, z_calibration=calibration)
        )
        li, ti = match_to_truth(locs, truth, 1.0)
        error = locs["z"][li].astype(float) - truth["z"][ti]
        which = np.digitize(truth["z"][ti], edges) - 1
        print(
            f"{method}: {args.photons:.0f} photons, bg {args.bg:g}/px, {len(ti)} of {len(truth)} matched, "
            f"overall RMSE {math.sqrt(np.mean(error**2)):.1f} nm"
        )
        print(f"  {'true z (nm)':>14} {'RMSE':>6} {'CRLB':>6} {'ratio':>6} {'bias':>6} {'lpz':>6}")
        for b in range(8):
            inside = which == b
            rmse = math.sqrt(np.mean(error[inside] ** 2))
            lpz = math.sqrt(np.mean(locs["lpz"][li][inside].astype(float) ** 2))
            print(
                f"  {edges[b]:>6.0f}..{edges[b + 1]:<6.0f} {rmse:6.1f} {crlb[b]:6.1f} {rmse / crlb[b]:6.2f} "
                f"{np.mean(error[inside]):6.1f} {lpz:6.1f}"
            )


if __name__ == "__main__":
    main()
