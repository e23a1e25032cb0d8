"""quality_metrics: stable keys, correct figures, deterministic subset."""

import numpy as np
import pytest
from _simulated_locs import blinking_table

from napari_picasso.core.quality import METRIC_KEYS, metrics_subset, quality_metrics


@pytest.fixture(scope="module")
def table():
    return blinking_table(n_frames=3000, size=128, n_sites=300, precision_px=0.1, seed=7)


def test_quality_metrics_figures(table):
    locs, truth = table
    m = quality_metrics(locs, 128, 128, 130.0, 3000)
    assert all(isinstance(v, float) for v in m.values())
    assert m["n_locs"] == len(locs)
    assert m["locs_per_frame"] == pytest.approx(len(locs) / 3000)
    assert m["nena_px"] == pytest.approx(0.1, rel=0.1)
    assert m["nena_nm"] == pytest.approx(13.0, rel=0.1)
    assert m["mean_photons"] == pytest.approx(float(np.mean(locs["photons"], dtype=np.float64)), rel=1e-6)
    assert m["std_x"] == pytest.approx(float(np.std(locs["x"].astype(np.float64))), rel=1e-6)
    for name in locs.dtype.names:
        assert f"mean_{name}" in m and f"std_{name}" in m
    # exactly the documented fixed keys plus the per-field statistics
    fixed = {k for k in m if not k.startswith(("mean_", "std_"))}
    assert fixed == set(METRIC_KEYS)
    assert len(m) == len(METRIC_KEYS) + 2 * len(locs.dtype.names)


def test_subset_is_whole_frames_spread_over_time(table):
    locs, _ = table
    rows = metrics_subset(locs, max_locs=len(locs) // 4)
    assert len(rows) <= len(locs) // 4
    assert len(rows) > len(locs) // 5
    np.testing.assert_array_equal(rows, metrics_subset(locs, max_locs=len(locs) // 4))
    used = np.unique(locs["frame"][rows])
    # every frame that is used is used completely
    assert np.isin(locs["frame"], used).sum() == len(rows)
    assert used.min() < 300 and used.max() > 2700


def test_subset_metrics_agree_with_full(table):
    locs, _ = table
    full = quality_metrics(locs, 128, 128, 130.0, 3000)
    part = quality_metrics(locs, 128, 128, 130.0, 3000, max_locs=len(locs) // 3)
    assert part["n_locs_used"] < full["n_locs_used"]
    assert part["nena_px"] == pytest.approx(full["nena_px"], rel=0.1)
    assert part["mean_photons"] == full["mean_photons"]


def test_quality_metrics_drift_and_link_figures():
    from _simulated_locs import noisy_locs

    from napari_picasso.simulate import blinking_sites

    n_frames = 6000
    t = np.arange(n_frames)
    dx = 0.5 * t / n_frames  # 65 nm linear drift in x, none in y
    truth = blinking_sites(
        n_frames, 64, 64, n_sites=200, mean_on_frames=4, mean_off_frames=60, min_distance_px=2.0, seed=3
    )
    locs = noisy_locs(truth, 0.1, seed=4, drift_x_px=dx, drift_y_px=np.zeros(n_frames))
    m = quality_metrics(locs, 64, 64, 130.0, n_frames)
    assert m["drift_x_range_nm"] == pytest.approx(65.0, abs=8.0)
    assert m["drift_y_range_nm"] < 8.0
    assert m["drift_residual_px"] < 0.05
    assert m["link_bright_time_frames"] == pytest.approx(4.0, rel=0.15)
    assert m["link_n_events"] * m["link_locs_per_event"] == pytest.approx(len(locs))


def test_without_a_pixel_size_only_nm_figures_are_nan(table):
    locs, _ = table
    known = quality_metrics(locs, 128, 128, 130.0, 3000)
    unknown = quality_metrics(locs, 128, 128, None, 3000)
    assert set(unknown) == set(known)
    for key, value in known.items():
        if key.endswith("_nm"):
            assert np.isnan(unknown[key]), key
        else:
            assert unknown[key] == value or (np.isnan(value) and np.isnan(unknown[key])), key
    assert np.isfinite(unknown["nena_px"])


def test_quality_metrics_of_tiny_table_gives_nan_not_errors():
    locs, _ = blinking_table(n_frames=50, size=32, n_sites=3, precision_px=0.1, seed=1)
    m = quality_metrics(locs, 32, 32, 130.0, 50)
    assert np.isnan(m["nena_px"]) and np.isnan(m["drift_x_range_nm"])
    assert m["n_locs"] == len(locs)
    empty = quality_metrics(locs[:0], 32, 32, 130.0, 50)
    assert empty["n_locs"] == 0 and np.isnan(empty["mean_photons"])
    assert set(METRIC_KEYS) <= set(m) and set(METRIC_KEYS) <= set(empty)
