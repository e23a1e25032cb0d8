"""The engine benchmark's own bookkeeping (benchmarks/bench_engine.py) on a small movie."""

import importlib.util
from pathlib import Path

import numpy as np

from napari_picasso.simulate import blinking_sites, suggested_min_net_gradient, write_movie

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_engine.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lq_table_does_not_depend_on_the_end_to_end_rows(tmp_path, monkeypatch):
    bench = load_bench()
    truth = blinking_sites(
        40, 48, 48, n_sites=12, photons=1500, mean_on_frames=3, mean_off_frames=10, min_distance_px=9, seed=3
    )
    movie = write_movie(tmp_path / "bench.raw", truth, 40, 48, 48, bg_photons=50, camera=bench.CAMERA, seed=3)
    real_localize = bench.localize
    # End to end drops invalid fits, so its table may be shorter than the identified spots
    # the LQ fits are of; the LQ table used to be that table with its x, y overwritten.
    monkeypatch.setattr(bench, "localize", lambda *a, **k: real_localize(*a, **k)[1:])
    results = bench.ours(movie, suggested_min_net_gradient(1500, bench.CAMERA), repeats=1)
    lq = results["lq_locs"]
    assert len(lq) == results["n_spots"] == len(results["locs"]) + 1
    rmse_px, _, n_common = bench.rmse_on_common(truth, lq, lq)
    assert n_common >= 0.95 * len(truth)
    assert rmse_px < 0.1  # 1500 photons: ~0.05 px; misaligned rows would be pixels off
    assert np.all(np.diff(lq["frame"].astype(np.int64)) >= 0)
