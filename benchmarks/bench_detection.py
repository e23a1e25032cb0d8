"""Speed of the detectors and of the background estimate, side by side on one movie.

Run: PYTHONPATH=src python benchmarks/bench_detection.py [frames] [size]
Prints frames/s of net gradient (baseline), SNR detection, and the median/mean background
over a 30-frame window, and the localize() throughput with and without them.
"""

import sys
import time

import numpy as np

from napari_picasso.core.background import estimate_background
from napari_picasso.core.identify import identify
from napari_picasso.core.snr_detect import snr_identify
from napari_picasso.pipeline import LocalizeParameters, localize
from napari_picasso.simulate import CameraModel, simulate_movie


def best_of(func, repeats=3):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    camera = CameraModel(baseline=100, sensitivity=0.5, read_noise_e=1.5)
    movie, _ = simulate_movie(n, size, size, camera=camera, n_sites=200, seed=0)
    frames = movie.astype(np.float32)
    identify(frames[:2], 1000.0)
    snr_identify(frames[:2], 1.0, 100.0, 0.5, 2.25)
    estimate_background(frames[:40], 0, np.arange(31, 32), -30, 0, 1, 40)
    base = best_of(lambda: identify(frames, 1000.0))
    print(f"net gradient: {n / base:,.0f} frames/s ({size}x{size})")
    snr = best_of(lambda: snr_identify(frames, 1.0, 100.0, 0.5, 2.25))
    print(f"SNR detector: {n / snr:,.0f} frames/s, time ratio to net gradient {snr / base:.2f}")
    for statistic in ("median", "mean"):
        t = best_of(lambda s=statistic: estimate_background(frames, 0, np.arange(n), -30, 0, 1, n, s))
        print(f"background -30:0 {statistic}: {n / t:,.0f} frames/s, time ratio to net gradient {t / base:.2f}")
    p = LocalizeParameters(min_net_gradient=1500, baseline=100, sensitivity=0.5)
    localize(movie[:40], p)
    localize(movie[:40], p.replace(detector="snr", background_frames="-30:0", subtract_background=True))
    plain = best_of(lambda: localize(movie, p), 2)
    full = best_of(
        lambda: localize(movie, p.replace(detector="snr", background_frames="-30:0", subtract_background=True)), 2
    )
    print(
        f"localize gradient: {n / plain:,.0f} frames/s; snr + median -30:0 subtracted: {n / full:,.0f} frames/s "
        f"(ratio {full / plain:.2f})"
    )


if __name__ == "__main__":
    main()
