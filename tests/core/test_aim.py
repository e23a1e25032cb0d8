"""AIM recovers a known drift (x, y, z) below 1 nm, no worse than Picasso 0.11.3's AIM;
its leave-one-out reference leaves out exactly the segment's own localizations."""

import numpy as np
import pandas as pd
import pytest

from napari_picasso.core import aim
from napari_picasso.core.aim import aim_drift, aim_z_drift
from napari_picasso.simulate import drift_trajectory_nm, drifting_locs

PIXELSIZE_NM = 130.0
BIN_PX = 20 / PIXELSIZE_NM
SHIFT_PX = 60 / PIXELSIZE_NM


def rms_error_nm(estimate, truth):
    """Per-axis RMS error over frames, a constant offset removed (it is not observable)."""
    error = np.asarray(estimate, dtype=np.float64) - truth
    error -= error.mean(axis=0)
    return np.sqrt(np.mean(error**2, axis=0))


def as_nm(drift_columns):
    out = np.array(drift_columns, dtype=np.float64)
    out[:, :2] *= PIXELSIZE_NM
    return out


@pytest.fixture(scope="module")
def sim_3d():
    return drifting_locs(400_000, n_frames=8000, width=128, height=128, z_range_nm=(-400, 400), seed=3)


def test_aim_recovers_drift_below_a_nanometre_and_beats_picasso_in_x_y(sim_3d):
    locs = sim_3d.locs
    result = aim_drift(
        locs["frame"], locs["x"], locs["y"], 8000, width=128, height=128, bin_px=BIN_PX, max_shift_px=SHIFT_PX,
        segment_frames=100, z_nm=locs["z"],
    )  # fmt: skip
    assert result.method == "AIM" and result.drift_px.shape == (8000, 2) and result.drift_z_nm.shape == (8000,)
    np.testing.assert_array_equal(result.drift_px[0], [0.0, 0.0])
    ours = rms_error_nm(as_nm(result.drift_columns), sim_3d.drift_nm)
    assert np.all(ours < 1.0), ours
    # Picasso 0.11.3's AIM on the same table and parameters
    from picasso import aim as picasso_aim

    _, _, drift = picasso_aim.aim(pd.DataFrame(locs), sim_3d.info, segmentation=100, intersect_d=BIN_PX, roi_r=SHIFT_PX)
    theirs = rms_error_nm(
        np.column_stack([drift["x"] * PIXELSIZE_NM, drift["y"] * PIXELSIZE_NM, drift["z"]]), sim_3d.drift_nm
    )
    assert np.all(ours[:2] <= theirs[:2]), (ours, theirs)


def test_z_step_alone_given_the_lateral_drift(sim_3d):
    locs = sim_3d.locs
    drift_z, segment_z, smoothing = aim_z_drift(
        locs["frame"], locs["x"], locs["y"], locs["z"], 8000, sim_3d.drift_px, width=128, height=128, bin_px=BIN_PX
    )
    assert drift_z[0] == 0.0 and len(segment_z) == 80 and smoothing >= 0
    assert rms_error_nm(drift_z[:, None], sim_3d.drift_nm[:, 2:])[0] < 1.0


def test_a_pure_sub_bin_shift_is_found_without_bias():
    # two halves of an acquisition, the second moved by 0.37 bin: a shift the bins cannot
    # show, found by the balance of the counts either side
    n_frames = 2000
    drift = np.zeros((n_frames, 2))
    drift[1000:, 0] = 0.37 * 20.0
    drift[1000:, 1] = -0.21 * 20.0
    sim = drifting_locs(300_000, n_frames=n_frames, width=96, height=96, drift_nm=drift, seed=5)
    locs = sim.locs
    result = aim_drift(
        locs["frame"], locs["x"], locs["y"], n_frames, width=96, height=96, bin_px=BIN_PX, max_shift_px=SHIFT_PX,
        segment_frames=1000, spline_smoothing=0.0,
    )  # fmt: skip
    found_nm = result.segment_drift_px[1] * PIXELSIZE_NM - result.segment_drift_px[0] * PIXELSIZE_NM
    np.testing.assert_allclose(found_nm, [7.4, -4.2], atol=0.15)


def test_leave_one_out_counts_equal_a_reference_without_the_segment():
    # The stripe sweep takes each segment's own rows out of the grid; its counts must equal
    # those of a reference built from the other segments only (brute force).
    sim = drifting_locs(60_000, n_frames=600, width=48, height=48, seed=7)
    locs = sim.locs
    bounds = aim.segment_bounds(600, 100)
    cols = aim._Columns(locs["frame"], locs["x"], locs["y"], None, 600, bounds)
    grid = aim._Grid(48, 48, BIN_PX, pad_px=SHIFT_PX + 4.0)
    grid.stripe_bins = 8  # many stripes: segment rows on both sides of every boundary
    grid.n_stripes = -(-grid.ny // grid.stripe_bins)
    drift = np.random.default_rng(0).normal(0, 0.3, (600, 2)).cumsum(axis=0) * 0.05
    drift_x, drift_y = np.ascontiguousarray(drift[:, 0]), np.ascontiguousarray(drift[:, 1])
    cols.regroup(grid, drift_y)
    counts = np.zeros(grid.nx * grid.ny, dtype=np.int32)
    args = grid.args(counts, cols, drift_x, drift_y)
    aim._add_groups(*args, cols.groups, grid.x0, grid.y0, grid.inv_bin, 1)
    cap = aim._count_cap(counts)
    swept = aim.leave_one_out_counts(args, cols, grid, cap)
    for s in range(cols.n_segments):
        lo, hi = cols.segment(s)
        others = np.zeros_like(counts)
        other_args = grid.args(others, cols, drift_x, drift_y)
        aim._add_rows(*other_args, 0, lo, grid.x0, grid.y0, grid.inv_bin, 1)
        aim._add_rows(*other_args, hi, len(cols.frame), grid.x0, grid.y0, grid.inv_bin, 1)
        expected = np.zeros((2, aim.SUB_BINS, 5))
        aim._fine_xy(*other_args, lo, hi, 0.0, 0.0, grid.x0, grid.y0, grid.inv_bin, cap, expected)
        np.testing.assert_array_equal(swept[s], expected)
    assert counts.sum() == len(cols.frame)  # every row put back


def test_too_few_localizations_per_segment_is_refused():
    sim = drifting_locs(3000, n_frames=2000, width=64, height=64, seed=2)
    locs = sim.locs
    with pytest.raises(ValueError, match="too few localizations per segment"):
        aim_drift(
            locs["frame"], locs["x"], locs["y"], 2000, width=64, height=64, bin_px=BIN_PX, max_shift_px=SHIFT_PX,
            segment_frames=10,
        )  # fmt: skip


def test_unsorted_frames_are_refused():
    sim = drifting_locs(20_000, n_frames=1000, width=64, height=64, seed=2)
    locs = sim.locs[::-1]
    with pytest.raises(ValueError, match="sorted by frame"):
        aim_drift(locs["frame"], locs["x"], locs["y"], 1000, width=64, height=64, bin_px=BIN_PX, max_shift_px=SHIFT_PX)


def test_drift_trajectory_is_linear_plus_sine_plus_walk():
    drift = drift_trajectory_nm(10_000, linear_nm=(200.0, -100.0), sine_nm=0.0, walk_nm=0.0)
    np.testing.assert_allclose(drift[-1], [200.0, -100.0])
    walk = drift_trajectory_nm(10_000, linear_nm=(0.0, 0.0), sine_nm=0.0, walk_nm=10.0, seed=1)
    steps = np.diff(walk[:, 0])
    assert np.std(steps) == pytest.approx(10.0 / np.sqrt(10_000), rel=0.05)
