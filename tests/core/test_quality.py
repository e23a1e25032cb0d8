"""quality_metrics: stable keys, correct figures, deterministic subset."""

import numpy as np
import pytest

from napari_picasso.core.quality import metrics_subset, quality_metrics

from _simulated_locs import blinking_table


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
