"""Speed of the MLE kernel: plain path vs the sCMOS path (per-pixel extra variance).

Run: PYTHONPATH=src python benchmarks/bench_scmos_fit.py [n_spots]
Prints spots/s of the plain fit and of the sCMOS fit on the same spots, side by side.
"""

import sys
import time

import numpy as np

from napari_picasso.core.gaussfit import fit_mle
from napari_picasso.simulate import expected_photons, isolated_spots


def spots_for(n, box=7, seed=0):
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    truth = isolated_spots(1, side * 12 + 8, side * 12 + 8, spacing_px=12, photons=1500, seed=seed)[:n]
    image = expected_photons(truth, 1, side * 12 + 8, side * 12 + 8, 50.0)[0]
    r = box // 2
    ys = np.rint(truth["y"]).astype(int)
    xs = np.rint(truth["x"]).astype(int)
    mu = np.stack([image[y - r : y + r + 1, x - r : x + r + 1] for y, x in zip(ys, xs)])
    return rng.poisson(mu).astype(np.float32)


def best_of(func, repeats=3):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    spots = spots_for(n)
    variance = np.full_like(spots, 2.0)
    fit_mle(spots[:10])  # compile
    plain = best_of(lambda: fit_mle(spots))
    print(f"plain MLE: {n / plain:,.0f} spots/s ({plain:.3f} s for {n})")
    try:
        fit_mle(spots[:10], extra_variance=variance[:10])
    except TypeError:
        return
    scmos = best_of(lambda: fit_mle(spots, extra_variance=variance))
    print(f"sCMOS MLE: {n / scmos:,.0f} spots/s ({scmos:.3f} s); ratio sCMOS/plain time {scmos / plain:.2f}")


if __name__ == "__main__":
    main()
