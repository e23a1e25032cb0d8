"""GPU fits against this project's CPU path and Picasso 0.11.3's GPU fit, on one machine.

Short by design (a GPU machine may be lent for minutes): simulated 7x7 spots (1500
photons on 50 per pixel, sigma 1 px, +-1 px offsets) are fitted by

- ``mle`` and ``lq`` on the GPU (:mod:`napari_picasso.core.gpu`, Numba-CUDA),
- the same on the CPU (:mod:`napari_picasso.core.gaussfit`, numba, every core),
- Picasso 0.11.3's ``localize.fit_spots_gauss_gpu`` (LQ and MLE) where it is installed
  and finds the GPU,

each after a warm-up call (compilation excluded), printing fits/s, ratios and the
largest position difference from the CPU's result. ``mle-multi`` (windows of one to three
emitters, up to 5 per window) is timed the same way on both devices; its rows count windows
per second. The same for ``spline-mle`` (13x13 pupil-PSF spots, 3000 photons on 20 per
pixel, z in +-600 nm, a template of 161 slices: +-800 nm in 10 nm steps, as
``bench_spline.py``) and ``mle-ratio`` (7x7 spot pairs of both splitter channels). Then the
whole ``pipeline.localize`` (read, identify, fit, CRLB) runs on a 2048x2048 movie with
``--device gpu`` and ``cpu``: end-to-end frames/s.

    python benchmarks/bench_gpu.py [--spots 1000000] [--frames 20] [--cpu-spots 200000]
        [--windows 200000] [--cpu-windows 20000]
        [--spline-spots 200000] [--cpu-spline-spots 5000] [--ratio-spots 500000] [--cpu-ratio-spots 50000]

The CPU path is timed on ``--cpu-spots`` spots and ``--cpu-windows`` windows (fits/s does
not depend on the count) so that the run stays short. Without a GPU the GPU rows are skipped and said so.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_picasso.core import channelfit, gaussfit, gpu, multifit, psf_spline
from napari_picasso.pipeline import LocalizeParameters, localize_file
from napari_picasso.simulate import CameraModel, PupilPSF, isolated_spots, write_movie

BOX = 7


def simulated_spots(n, seed=0):
    """``(n, 7, 7)`` Poisson spots, the emitter within 1 px of the centre."""
    rng = np.random.default_rng(seed)
    grid = np.arange(BOX) - BOX // 2
    out = np.empty((n, BOX, BOX), np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        x0 = rng.uniform(-1, 1, stop - start)[:, None, None]
        y0 = rng.uniform(-1, 1, stop - start)[:, None, None]
        mean = 50 + 1500 / (2 * np.pi) * np.exp(
            -((grid[None, :, None] - y0) ** 2 + (grid[None, None, :] - x0) ** 2) / 2
        )
        out[start:stop] = rng.poisson(mean)
    return out


def simulated_windows(n, seed=0):
    """``(n, 7, 7)`` Poisson windows of one to three emitters (1500 photons each, anywhere
    within 2.5 px of the centre, 50 per pixel): mle-multi's single fits, tests and joint fits."""
    rng = np.random.default_rng(seed)
    grid = np.arange(BOX) - BOX // 2
    out = np.empty((n, BOX, BOX), np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        count = rng.integers(1, 4, stop - start)
        mean = np.full((stop - start, BOX, BOX), 50.0)
        for e in range(3):
            x0 = rng.uniform(-2.5, 2.5, stop - start)[:, None, None]
            y0 = rng.uniform(-2.5, 2.5, stop - start)[:, None, None]
            spot = 1500 / (2 * np.pi) * np.exp(-((grid[None, :, None] - y0) ** 2 + (grid[None, None, :] - x0) ** 2) / 2)
            mean += (e < count)[:, None, None] * spot
        out[start:stop] = rng.poisson(mean)
    return out


def matched_share(result, cpu, n_windows, tolerance_px=1e-3):
    """Share of the CPU's rows of the first ``n_windows`` windows with a GPU row of the same
    window within ``tolerance_px``, and the largest such distance (px); (None, None) when a
    window's emitter count differs. A joint fit stops on a log-likelihood gain below 1e-4
    and the CPU re-associates sums: a crawling fit can end 1e-4 to 1e-2 px away, and a
    close pair's two emitters can come out swapped (hence matched, not compared in order)."""
    close = 0
    largest = 0.0
    for window in range(n_windows):
        u = result["spot"] == window
        v = cpu["spot"] == window
        if u.sum() != v.sum():
            return None, None
        if v.any():
            distance = np.hypot(result["x"][u][:, None] - cpu["x"][v], result["y"][u][:, None] - cpu["y"][v])
            nearest = distance.min(axis=0)
            close += int((nearest < tolerance_px).sum())
            largest = max(largest, float(nearest.max()))
    return close / max(1, len(cpu["spot"])), largest


def multi_rates(n_windows, n_cpu_windows):
    """mle-multi windows/s on the CPU and the GPU, the emitters found per window, and how
    closely the GPU reproduces the CPU's rows (:func:`matched_share`)."""
    windows = simulated_windows(n_windows)
    cpu, seconds = timed(multifit.fit_multi, windows[:n_cpu_windows], max_emitters=5)
    cpu_rate = n_cpu_windows / seconds
    rows = [("mle-multi, this project, CPU", cpu_rate, (None, None), len(cpu["x"]) / n_cpu_windows)]
    if gpu.cuda_available():
        result, seconds = timed(gpu.fit_multi, windows, max_emitters=5)
        agreement = matched_share(result, cpu, n_cpu_windows)
        rows.append(("mle-multi, this project, GPU", n_windows / seconds, agreement, len(result["x"]) / n_windows))
    else:
        print("no CUDA GPU found by numba: the mle-multi GPU row is skipped")
    header = f"{'windows/s':>10} {'vs CPU':>8} {'emitters/window':>16} {'rows within 1e-3 px':>20} {'max |d| px':>11}"
    print(f"\n{'mle-multi, 7x7 windows of 1-3 emitters':<40} {header}")
    for label, rate, (share, largest), per_window in rows:
        agreement = "" if share is None else f"{share:20.1%} {largest:11.1e}"
        print(f"{label:<40} {rate:10,.0f} {rate / cpu_rate:8.1f} {per_window:16.2f} {agreement}")


def timed(function, *args, **kwargs):
    function(args[0][:64], *args[1:], **kwargs)  # warm-up: compilation excluded
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def fit_rates(n_spots, n_cpu_spots):
    spots = simulated_spots(n_spots)
    rows = []
    cpu = {}
    for name in ("mle", "lq"):
        result, seconds = timed(getattr(gaussfit, f"fit_{name}"), spots[:n_cpu_spots])
        cpu[name] = (result, n_cpu_spots / seconds)
        rows.append((f"{name}, this project, CPU", n_cpu_spots / seconds, None))
    if gpu.cuda_available():
        for name in ("mle", "lq"):
            result, seconds = timed(getattr(gpu, f"fit_{name}"), spots)
            reference = cpu[name][0]
            diff = max(np.abs(result[k][:n_cpu_spots] - reference[k]).max() for k in ("x", "y"))
            rows.append((f"{name}, this project, GPU", n_spots / seconds, diff))
        rows += picasso_gpu_rates(spots)
    else:
        print("no CUDA GPU found by numba: the GPU rows are skipped")
    print(f"\n{'fit':<34} {'fits/s':>14} {'vs CPU':>8} {'max |dx| vs CPU (px)':>22}")
    for label, rate, diff in rows:
        base = cpu[label.split(",")[0]][1] if label.split(",")[0] in cpu else None
        ratio = f"{rate / base:8.1f}" if base else " " * 8
        print(f"{label:<34} {rate:14,.0f} {ratio} {'' if diff is None else f'{diff:22.2e}'}")


def print_rows(rows, cpu_rate):
    """Rows of (label, fits/s, max position difference from the CPU or None)."""
    print(f"\n{'fit':<34} {'fits/s':>14} {'vs CPU':>8} {'max |dx| vs CPU (px)':>22}")
    for label, rate, diff in rows:
        print(f"{label:<34} {rate:14,.0f} {rate / cpu_rate:8.1f} {'' if diff is None else f'{diff:22.2e}'}")


def spline_rates(n_spots, n_cpu_spots, seed=0):
    """``spline-mle`` (3D) fits/s on the CPU and the GPU, same spots."""
    rng = np.random.default_rng(seed)
    psf = PupilPSF()
    box = 13
    z = np.arange(800.0, -800.1, -10.0)
    volume = psf.images(np.zeros(len(z)), np.zeros(len(z)), z, box + 2)
    focus = len(z) // 2
    volume /= volume[focus].max()
    coeff = psf_spline.coefficients(volume)
    options = {"photon_scale": float(volume[focus, 1:-1, 1:-1].sum()), "z_focus": focus}
    # A pool of noise-free spots (the pupil PSF is slow to draw), new Poisson noise per copy.
    pool = 2000
    dx, dy = rng.uniform(-0.8, 0.8, (2, pool))
    mean = psf.images(dx, dy, rng.uniform(-600, 600, pool), box) * 3000 + 20
    spots = np.empty((n_spots, box, box))
    for start in range(0, n_spots, pool):
        stop = min(n_spots, start + pool)
        spots[start:stop] = rng.poisson(mean[: stop - start])
    cpu, seconds = timed(psf_spline.fit_spline, spots[:n_cpu_spots], coeff, **options)
    rows = [("spline-mle, this project, CPU", n_cpu_spots / seconds, None)]
    if gpu.cuda_available():
        result, seconds = timed(gpu.fit_spline, spots, coeff, **options)
        diff = max(np.abs(result[k][:n_cpu_spots] - cpu[k]).max() for k in ("x", "y"))
        rows.append(("spline-mle, this project, GPU", n_spots / seconds, diff))
    print_rows(rows, rows[0][1])


def ratio_rates(n_spots, n_cpu_spots, seed=0):
    """``mle-ratio`` (joint fit of both splitter channels) fits/s on the CPU and the GPU."""
    rng = np.random.default_rng(seed)
    theta = np.column_stack(
        [
            rng.uniform(-1, 1, (n_spots, 2)),
            rng.uniform(500, 2500, (n_spots, 2)),
            np.full((n_spots, 2), 30.0),
            np.full((n_spots, 2), 1.1),
        ]
    )
    offsets = rng.uniform(-0.5, 0.5, (n_spots, 2))
    jacobians = np.broadcast_to(np.eye(2), (n_spots, 2, 2))
    pairs = rng.poisson(channelfit.expected_spots(theta, offsets, jacobians, BOX)).astype(np.float32)

    def fit(function, count):
        function(pairs[:64], offsets[:64], jacobians[:64], read_variance=1.0)  # warm-up: compilation excluded
        start = time.perf_counter()
        result = function(pairs[:count], offsets[:count], jacobians[:count], read_variance=1.0)
        return result, time.perf_counter() - start

    cpu, seconds = fit(channelfit.fit_two_channels, n_cpu_spots)
    rows = [("mle-ratio, this project, CPU", n_cpu_spots / seconds, None)]
    if gpu.cuda_available():
        result, seconds = fit(gpu.fit_two_channels, n_spots)
        diff = max(np.abs(result[k][:n_cpu_spots] - cpu[k]).max() for k in ("x", "y"))
        rows.append(("mle-ratio, this project, GPU", n_spots / seconds, diff))
    print_rows(rows, rows[0][1])


def picasso_gpu_rates(spots):
    try:
        from picasso import localize as picasso_localize
    except ImportError:
        print("Picasso is not installed: its GPU row is skipped")
        return []
    rows = []
    for name, mle in (("lq", False), ("mle", True)):
        try:
            picasso_localize.fit_spots_gauss_gpu(spots[:64], mle=mle)
            start = time.perf_counter()
            picasso_localize.fit_spots_gauss_gpu(spots, mle=mle)
            rows.append((f"{name}, Picasso 0.11 GPU", len(spots) / (time.perf_counter() - start), None))
        except Exception as error:  # its CUDA packages may not install beside ours
            print(f"Picasso's GPU {name} fit did not run: {type(error).__name__}: {error}")
    return rows


def end_to_end(n_frames, folder):
    camera = CameraModel(baseline=100, sensitivity=0.5, em_gain=1, read_noise_e=1.5)
    truth = isolated_spots(n_frames, 2048, 2048, spacing_px=16, photons=1500, sigma_px=1.0, seed=1)
    movie = write_movie(Path(folder) / "large.raw", truth, n_frames, 2048, 2048, bg_photons=50, camera=camera)
    print(f"\nend to end, {n_frames} frames of 2048x2048, {len(truth) // n_frames} spots per frame")
    devices = ("cpu", "gpu") if gpu.cuda_available() else ("cpu",)
    for device in devices:
        parameters = LocalizeParameters(
            box=BOX, min_net_gradient=2000, baseline=100, sensitivity=0.5, pixelsize_nm=130, device=device
        )
        localize_file(movie, parameters, Path(folder) / f"warm_{device}_locs.hdf5", chunk_frames=2)
        start = time.perf_counter()
        result = localize_file(movie, parameters, Path(folder) / f"{device}_locs.hdf5")
        seconds = time.perf_counter() - start
        print(f"  {device}: {n_frames / seconds:8.1f} frames/s, {result.n_locs / seconds:12,.0f} locs/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spots", type=int, default=1_000_000)
    parser.add_argument("--cpu-spots", type=int, default=200_000)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--windows", type=int, default=200_000)
    parser.add_argument("--cpu-windows", type=int, default=20_000)
    parser.add_argument("--spline-spots", type=int, default=200_000)
    parser.add_argument("--cpu-spline-spots", type=int, default=5_000)
    parser.add_argument("--ratio-spots", type=int, default=500_000)
    parser.add_argument("--cpu-ratio-spots", type=int, default=50_000)
    args = parser.parse_args()
    print(f"GPU: {gpu.device_name() or 'none'}")
    fit_rates(args.spots, min(args.cpu_spots, args.spots))
    multi_rates(args.windows, min(args.cpu_windows, args.windows))
    spline_rates(args.spline_spots, min(args.cpu_spline_spots, args.spline_spots))
    ratio_rates(args.ratio_spots, min(args.cpu_ratio_spots, args.ratio_spots))
    with tempfile.TemporaryDirectory() as folder:
        end_to_end(args.frames, folder)


if __name__ == "__main__":
    main()
