"""Accuracy of the pipeline on simulated movies with ground truth, against the CRLB.

Prints recall, precision, RMSE / sqrt(CRLB) (Mortensen's MLE bound), photon bias and the
reported-vs-measured precision for MLE and LQ at several photon counts.

    python benchmarks/accuracy.py [--frames 200]
"""

import argparse
import math

import numpy as np

from napari_picasso.core.matching import detection_scores
from napari_picasso.core.precision import mortensen_lq_variance, mortensen_mle_variance
from napari_picasso.io.movie import ArrayMovie
from napari_picasso.pipeline import LocalizeParameters, localize
from napari_picasso.simulate import CameraModel, isolated_spots, render_movie, suggested_min_net_gradient


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    camera = CameraModel(baseline=100, sensitivity=1.0, em_gain=1.0, read_noise_e=0.0)
    print(
        f"{'photons':>8} {'bg':>4} {'fit':>4} {'recall':>7} {'prec.':>7} {'rmse px':>8} "
        f"{'bound px':>8} {'ratio':>6} {'N bias':>7} {'lpx/rmse':>8}"
    )
    for photons, bg in [(1500, 50), (300, 10), (5000, 100)]:
        truth = isolated_spots(args.frames, 96, 96, spacing_px=12, photons=photons, seed=photons)
        movie = ArrayMovie(render_movie(truth, args.frames, 96, 96, bg, camera, seed=photons))
        gradient = suggested_min_net_gradient(photons, camera) * (0.6 if photons < 500 else 1.0)
        for method in ("mle", "lq"):
            params = LocalizeParameters(baseline=100, sensitivity=1, min_net_gradient=gradient, fit_method=method)
            locs = localize(movie, params)
            s = detection_scores(locs, truth)
            rmse = math.hypot(s["rmse_x_px"], s["rmse_y_px"]) / math.sqrt(2)
            variance = mortensen_mle_variance if method == "mle" else mortensen_lq_variance
            bound = math.sqrt(variance(1.0, photons, bg))
            matched = locs[s["locs_index"]]
            bias = np.mean(matched["photons"]) / photons - 1
            print(
                f"{photons:8d} {bg:4d} {method:>4} {s['recall']:7.4f} {s['precision']:7.4f} {rmse:8.4f} "
                f"{bound:8.4f} {rmse / bound:6.3f} {bias:+7.2%} {np.median(matched['lpx']) / rmse:8.3f}"
            )
    print("bound: Mortensen et al. 2010 (MLE bound for mle, least-squares formula for lq)")


if __name__ == "__main__":
    main()
