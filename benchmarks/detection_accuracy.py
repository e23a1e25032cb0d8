"""Figures behind the detection tests: hot-pixel false positives, recall, background gain.

Run: PYTHONPATH=src:tests python benchmarks/detection_accuracy.py
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))

from test_background import CAMERA, recall_at_false_positives, structured_background_movie  # noqa: E402
from test_snr import HOT_VARIANCE, hot_false_positive_rate, match_candidates  # noqa: E402

from napari_picasso.core.background import estimate_background  # noqa: E402
from napari_picasso.core.snr_detect import snr_identify  # noqa: E402
from napari_picasso.simulate import isolated_spots, render_movie, scmos_camera  # noqa: E402


def hot_pixels():
    camera = scmos_camera(96, 96, hot_fraction=0.03, seed=5)
    truth = isolated_spots(30, 96, 96, spacing_px=12, photons=700, sigma_px=1.0, seed=5)
    movie = render_movie(truth, 30, 96, 96, bg_photons=3.0, camera=camera, seed=5)
    ppc = 1.0 / camera.gain_map
    hot = camera.variance_map > HOT_VARIANCE
    for label, variance in (
        ("variance map", camera.variance_map),
        ("uniform median variance", np.full_like(camera.variance_map, np.median(camera.variance_map))),
    ):
        for factor in (0.7, 1.0, 1.5):
            fi, y, x, _ = snr_identify(movie, factor, camera.offset_map, ppc, variance * ppc**2, 1.0, debounce_px=4)
            matched, recall = match_candidates(fi, y, x, truth)
            fp = hot_false_positive_rate(fi, y, x, matched, hot, len(movie))
            print(
                f"sCMOS 3% hot, {label:24s} factor {factor}: recall {recall:.4f}, "
                f"false candidates on hot pixels {100 * fp:.2f}% of hot pixel-frames, all false {int((~matched).sum())}"
            )


def background_gain():
    movie, truth = structured_background_movie(blob_photons=float(sys.argv[1]) if len(sys.argv) > 1 else 500.0)
    common = dict(
        offset=CAMERA.baseline,
        photons_per_count=CAMERA.sensitivity,
        read_variance=CAMERA.read_noise_e**2,
        debounce_px=4,
        box=7,
    )
    none = snr_identify(movie, 0.2, **common)
    bg = estimate_background(movie, 0, np.arange(len(movie)), -20, 21, 1, len(movie), "median")
    with_bg = snr_identify(movie, 0.2, background=bg, **common)
    for fraction in (0.005, 0.01, 0.05):
        k = int(fraction * len(truth))
        print(
            f"structured slow background, false positives <= {k} ({100 * fraction:g}% of {len(truth)} emitters): "
            f"recall none {recall_at_false_positives(*none, truth, k):.3f}, "
            f"with -20:21 median {recall_at_false_positives(*with_bg, truth, k):.3f}"
        )


if __name__ == "__main__":
    hot_pixels()
    background_gain()
