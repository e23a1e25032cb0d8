"""Speed of the quality metrics and the post-processing; against Picasso side by side.

Simulates localization tables directly (blinking sites on a 256x256 px field, Gaussian
errors of 0.1 px, an injected 100 nm sine + linear drift), then measures in this process:

- ``quality_metrics`` (NeNA, RCC drift, linking, per-field statistics) on ``--n-quality``
  localizations (default 1,000,000),
- ``nena`` on the same table,
- ``rcc_drift`` + ``undrift`` and ``link`` on ``--n-large`` localizations (default
  10,000,000),

each after one warm-up call (numba compiles once, then loads its cache), and prints the
accuracy against the simulation. When ``picassosr`` is importable, Picasso's
``postprocess.nena``, ``postprocess.undrift`` and ``postprocess.link`` run on the same
tables (as the DataFrames they take; the conversion is not timed) and the ratios are
printed. Picasso's functions can take minutes on 10M localizations: ``--picasso-max``
bounds the rows given to them (the first rows, whole frames), and our functions are
then also timed on exactly those rows for the ratio.

    python benchmarks/bench_metrics.py [--n-quality 1000000] [--n-large 10000000]
                                       [--picasso-max 10000000] [--no-picasso]
"""

import argparse
import time

import numba
import numpy as np

from napari_picasso import fitters
from napari_picasso.core.drift import rcc_drift, undrift
from napari_picasso.core.link import link
from napari_picasso.core.nena import nena
from napari_picasso.core.quality import quality_metrics
from napari_picasso.simulate import blinking_sites

PIXELSIZE_NM = 130.0
SIZE = 256
PRECISION_PX = 0.1
MEAN_ON, MEAN_OFF = 4.0, 60.0
SEGMENT = 1000
LINK_DISTANCE_PX = 0.5
LINK_DARK = 1


def simulate(n_locs, seed=0):
    """A locs table of about ``n_locs`` rows, its drift (px per frame) and frame count."""
    on_fraction = MEAN_ON / (MEAN_ON + MEAN_OFF)
    n_sites = 4000
    n_frames = max(2 * SEGMENT, int(round(n_locs / (n_sites * on_fraction))))
    truth = blinking_sites(
        n_frames, SIZE, SIZE, n_sites=n_sites, mean_on_frames=MEAN_ON, mean_off_frames=MEAN_OFF, margin_px=8, seed=seed
    )
    t = np.arange(n_frames)
    drift = np.stack(
        [
            (100 * np.sin(2 * np.pi * t / n_frames) + 60 * t / n_frames) / PIXELSIZE_NM,
            (100 * np.cos(2 * np.pi * t / n_frames) - 40 * t / n_frames) / PIXELSIZE_NM,
        ],
        axis=1,
    )
    rng = np.random.default_rng(seed + 1)
    locs = np.zeros(len(truth), dtype=fitters.get("mle").dtype)
    locs["frame"] = truth["frame"]
    locs["x"] = truth["x"] + rng.normal(0, PRECISION_PX, len(truth)) + drift[truth["frame"], 0]
    locs["y"] = truth["y"] + rng.normal(0, PRECISION_PX, len(truth)) + drift[truth["frame"], 1]
    locs["photons"] = truth["photons"]
    locs["sx"] = locs["sy"] = 1.0
    locs["bg"] = 50.0
    locs["lpx"] = locs["lpy"] = PRECISION_PX
    locs["net_gradient"] = 5000.0
    locs["iterations"] = 5
    return locs, truth, drift, n_frames


CPU = {}


def timed(function, *args, repeats=1, **kwargs):
    """Best wall time of ``repeats`` runs; that run's CPU time (all threads of this
    process) goes to ``CPU[module.name]``: on a shared machine the CPU time is the
    fairer comparison (it does not count waiting for a core)."""
    best = float("inf")
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        cpu = time.process_time()
        result = function(*args, **kwargs)
        wall = time.perf_counter() - start
        if wall < best:
            best = wall
            CPU[_key(function)] = time.process_time() - cpu
    return best, result


def _key(function):
    return f"{function.__module__}.{function.__qualname__}"


def cpu(function):
    return CPU[_key(function)]


def ratio_line(name, ours_wall, ours_cpu, theirs_wall, theirs_cpu):
    return (
        f"{name}: Picasso / ours = {theirs_wall / ours_wall:.1f}x wall "
        f"({theirs_wall:.2f} s / {ours_wall:.2f} s), {theirs_cpu / ours_cpu:.1f}x CPU "
        f"({theirs_cpu:.2f} s / {ours_cpu:.2f} s)"
    )


def drift_rms_nm(estimate, true):
    err = estimate - (true - true[0])
    err -= err.mean(axis=0)
    return float(np.sqrt(np.mean(np.sum(err**2, axis=1))) * PIXELSIZE_NM)


def load_picasso():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import pandas as pd
        from picasso import __version__ as version
        from picasso import postprocess
    except ImportError:
        return None
    return pd, postprocess, version


def first_rows(locs, max_rows):
    """The first rows, cut at a frame boundary."""
    if len(locs) <= max_rows:
        return locs
    stop = int(np.searchsorted(locs["frame"], locs["frame"][max_rows], side="left"))
    return locs[:stop]


def info_for(n_frames):
    return [{"Width": SIZE, "Height": SIZE, "Frames": int(n_frames)}, {"Pixelsize": PIXELSIZE_NM}]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-quality", type=int, default=1_000_000)
    parser.add_argument("--n-large", type=int, default=10_000_000)
    parser.add_argument(
        "--picasso-max", type=int, default=10_000_000, help="rows given to Picasso's functions (default %(default)s)"
    )
    parser.add_argument("--no-picasso", action="store_true")
    args = parser.parse_args(argv)
    picasso = None if args.no_picasso else load_picasso()
    print(f"numba threads: {numba.get_num_threads()}")
    print(f"Picasso: {'picassosr ' + picasso[2] if picasso else 'not installed (pip install picassosr), no ratios'}")

    # -- quality metrics on n_quality -----------------------------------------------
    locs, truth, drift, n_frames = simulate(args.n_quality, seed=0)
    print(f"\n== quality metrics: {len(locs):,} localizations, {n_frames:,} frames, {SIZE}x{SIZE} px")
    quality_metrics(locs[:20000], SIZE, SIZE, PIXELSIZE_NM, n_frames)  # compile / load cache
    seconds, metrics = timed(quality_metrics, locs, SIZE, SIZE, PIXELSIZE_NM, n_frames, repeats=2)
    print(
        f"quality_metrics: {seconds:.2f} s wall, {cpu(quality_metrics):.2f} s CPU  (NeNA {metrics['nena_nm']:.2f} nm, true {PRECISION_PX * PIXELSIZE_NM:.1f} nm; "
        f"drift range x {metrics['drift_x_range_nm']:.0f} nm, true {np.ptp(drift[:, 0]) * PIXELSIZE_NM:.0f} nm; "
        f"mean bright time {metrics['link_bright_time_frames']:.2f} frames; {len(metrics)} figures)"
    )
    ours_nena, result = timed(nena, locs, PIXELSIZE_NM, repeats=2)
    ours_nena_cpu = cpu(nena)
    print(f"nena: {ours_nena:.2f} s wall, {ours_nena_cpu:.2f} s CPU, {result.s_nm:.2f} nm")
    if picasso:
        pd, postprocess, _ = picasso
        frame = pd.DataFrame(locs)
        theirs, (_, s_px) = timed(postprocess.nena, frame, info_for(n_frames))
        print(f"Picasso nena: {s_px * PIXELSIZE_NM:.2f} nm")
        print(ratio_line("nena", ours_nena, ours_nena_cpu, theirs, cpu(postprocess.nena)))
    del locs, truth

    # -- undrift and link on n_large --------------------------------------------------
    locs, truth, drift, n_frames = simulate(args.n_large, seed=1)
    print(f"\n== undrift and link: {len(locs):,} localizations, {n_frames:,} frames")
    warm = locs[:50000]
    rcc_drift(warm, int(warm["frame"].max()) + 1, segment_frames=50)  # compile / load cache
    link(locs[:50000], LINK_DISTANCE_PX, LINK_DARK)

    def our_undrift(table, frames):
        result = rcc_drift(table, frames, segment_frames=SEGMENT, viewport=(0.0, 0.0, SIZE, SIZE))
        return result, undrift(table, result.drift_px)

    seconds, (result, _) = timed(our_undrift, locs, n_frames)
    print(
        f"undrift (RCC, {SEGMENT}-frame segments): {seconds:.2f} s wall, {cpu(our_undrift):.2f} s CPU, "
        f"drift error {drift_rms_nm(result.drift_px, drift):.2f} nm RMS"
    )
    seconds_link, linked = timed(link, locs, LINK_DISTANCE_PX, LINK_DARK)
    print(
        f"link (r {LINK_DISTANCE_PX} px, {LINK_DARK} dark frame): {seconds_link:.2f} s wall, {cpu(link):.2f} s CPU, "
        f"{linked.n_events:,} events, mean bright time {linked.mean_bright_time_frames:.2f} frames"
    )
    if picasso:
        pd, postprocess, _ = picasso
        part = first_rows(locs, args.picasso_max)
        part_frames = int(part["frame"].max()) + 1
        if part_frames < 4 * SEGMENT:  # Picasso's cubic spline needs 4 segments
            print(
                f"-- --picasso-max {args.picasso_max:,} leaves fewer than 4 segments of {SEGMENT} frames: no Picasso run"
            )
            return
        if len(part) < len(locs):
            print(f"-- Picasso on the first {len(part):,} rows ({part_frames:,} frames); ours again on the same rows")
            seconds, (result, _) = timed(our_undrift, part, part_frames)
            seconds_link, linked = timed(link, part, LINK_DISTANCE_PX, LINK_DARK)
        frame = pd.DataFrame(part)
        theirs, (their_drift, _) = timed(postprocess.undrift, frame, info_for(part_frames), SEGMENT, display=False)
        their_drift = np.stack([their_drift["x"].to_numpy(), their_drift["y"].to_numpy()], axis=1)
        print(
            f"Picasso undrift: drift error {drift_rms_nm(their_drift, drift[:part_frames]):.2f} nm RMS "
            f"(ours {drift_rms_nm(result.drift_px, drift[:part_frames]):.2f})"
        )
        print(ratio_line("undrift", seconds, cpu(our_undrift), theirs, cpu(postprocess.undrift)))
        theirs_link, their_linked = timed(postprocess.link, frame, info_for(part_frames), LINK_DISTANCE_PX, LINK_DARK)
        print(f"Picasso link: {len(their_linked):,} events (ours {linked.n_events:,})")
        print(ratio_line("link", seconds_link, cpu(link), theirs_link, cpu(postprocess.link)))


if __name__ == "__main__":
    main()
