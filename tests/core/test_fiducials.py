"""Fiducials: found automatically or picked, tracked, outliers dropped, drift smoothed
over time to well below a nanometre."""

import numpy as np
import pytest

from napari_picasso.core.fiducials import FiducialError, fiducial_drift, find_fiducials, smooth_random_walk
from napari_picasso.simulate import drifting_locs

PIXELSIZE_NM = 130.0
RADIUS_PX = 150 / PIXELSIZE_NM


def rms_error_nm(result, truth_nm):
    estimate = np.array(result.drift_columns, dtype=np.float64)
    estimate[:, :2] *= PIXELSIZE_NM
    error = estimate - truth_nm
    error -= error.mean(axis=0)
    return np.sqrt(np.mean(error**2, axis=0))


@pytest.fixture(scope="module")
def sim():
    return drifting_locs(300_000, n_frames=6000, width=128, height=128, n_fiducials=6, z_range_nm=(-300, 300), seed=11)


def test_automatic_fiducials_give_the_drift_below_half_a_nanometre(sim):
    locs = sim.locs
    # the rough drift only finds them: a drift 20 nm off still does
    rough = sim.drift_px + 20 / PIXELSIZE_NM * np.sin(np.arange(6000) / 500)[:, None]
    out = fiducial_drift(
        locs["frame"], locs["x"], locs["y"], 6000, radius_px=RADIUS_PX, z_nm=locs["z"], rough_drift_px=rough,
        photons=locs["photons"],
    )  # fmt: skip
    assert len(out.centres_px) == 6 and out.used.all()
    # centres: each within 10 nm of a true fiducial (at frame 0's drift, the reference)
    distances = np.hypot(*(out.centres_px[:, None, :] - sim.fiducials_px[None, :, :]).transpose(2, 0, 1))
    assert np.all(distances.min(axis=1) * PIXELSIZE_NM < 10)
    assert np.all(rms_error_nm(out.result, sim.drift_nm) < 0.5)
    assert out.result.method == "fiducials" and out.result.n_pairs_used == 6
    # the fiducials' own rows are recognized (they leave the output)
    assert np.mean((out.member >= 0) == sim.is_fiducial) > 0.999


def test_picked_fiducials_and_an_outlier_bead(sim):
    locs = sim.locs.copy()
    # one bead wanders off on its own after frame 3000 (it came loose): dropped
    loose = sim.is_fiducial & (
        np.hypot(
            locs["x"] - sim.fiducials_px[0, 0] - sim.drift_px[locs["frame"], 0],
            locs["y"] - sim.fiducials_px[0, 1] - sim.drift_px[locs["frame"], 1],
        )
        < 0.2
    )
    late = loose & (locs["frame"] > 3000)
    locs["x"][late] += (locs["frame"][late] - 3000) * 1e-4
    picks = np.column_stack([sim.fiducials_px + sim.drift_px[0], np.full(6, 4.0)])
    out = fiducial_drift(locs["frame"], locs["x"], locs["y"], 6000, radius_px=RADIUS_PX, picks=picks)
    assert not out.used[0] and out.used[1:].all()
    assert np.all(rms_error_nm(out.result, sim.drift_nm[:, :2]) < 0.5)


def test_no_fiducial_and_empty_picks_are_reported():
    sim = drifting_locs(50_000, n_frames=2000, width=64, height=64, seed=4)
    locs = sim.locs
    with pytest.raises(FiducialError, match="no fiducial found"):
        fiducial_drift(locs["frame"], locs["x"], locs["y"], 2000, radius_px=RADIUS_PX, rough_drift_px=sim.drift_px)
    with pytest.raises(FiducialError, match="holds no localizations"):
        fiducial_drift(
            locs["frame"], locs["x"], locs["y"], 2000, radius_px=RADIUS_PX, picks=np.array([[0.5, 0.5, 0.2]])
        )
    assert len(find_fiducials(locs["frame"], locs["x"], locs["y"], 2000, sim.drift_px, radius_px=RADIUS_PX)) == 0


def test_random_walk_smoother_bridges_gaps_and_beats_raw_frames():
    rng = np.random.default_rng(2)
    truth = np.cumsum(rng.normal(0, 0.05, 5000))
    observed = truth + rng.normal(0, 0.5, 5000)
    variance = np.full(5000, 0.25)
    observed[2000:2100] = np.nan  # frames without any fiducial
    variance[2000:2100] = np.inf
    smooth = smooth_random_walk(observed, variance)
    assert np.all(np.isfinite(smooth))
    assert np.std(smooth - truth) < 0.3 * 0.5
    assert np.max(np.abs(smooth[2000:2100] - truth[2000:2100])) < 1.0
