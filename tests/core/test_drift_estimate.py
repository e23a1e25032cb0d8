"""Every method through one entry, and the split-halves error tracks the true error
within a factor of 2 (1M simulated localizations with linear + sine + random-walk drift)."""

import numpy as np
import pytest

from napari_picasso.core.drift_estimate import DriftColumns, DriftOptions, estimate_drift, split_halves
from napari_picasso.simulate import drifting_locs

PIXELSIZE_NM = 130.0


@pytest.fixture(scope="module")
def sims():
    # RCC and AIM on sites only; fiducials with 8 beads (bright points dominate RCC's
    # correlation, whose rendered histogram then locks them to its pixels)
    return {
        n_fiducials: drifting_locs(1_000_000, n_frames=20000, n_fiducials=n_fiducials, z_range_nm=(-400, 400), seed=1)
        for n_fiducials in (0, 8)
    }


def columns_of(sim):
    locs = sim.locs
    return DriftColumns(locs["frame"], locs["x"], locs["y"], locs["z"], locs["photons"], 20000, 256, 256)


@pytest.mark.parametrize("method", ["aim", "rcc", "fiducials"])
def test_split_halves_track_the_true_error(sims, method):
    sim = sims[8 if method == "fiducials" else 0]
    columns = columns_of(sim)
    options = DriftOptions(method=method)
    estimate = estimate_drift(columns, options)
    halves = split_halves(columns, options, estimate)
    drift = estimate.result.drift_columns.copy()
    drift[:, :2] *= PIXELSIZE_NM
    error = drift - sim.drift_nm
    error -= error.mean(axis=0)
    true_nm = np.sqrt(np.mean(error**2, axis=0))
    split_nm = np.r_[halves.residual_px * PIXELSIZE_NM, halves.residual_z_nm]
    ratio = split_nm / true_nm
    assert np.all((ratio > 0.5) & (ratio < 2.0)), (method, true_nm, split_nm)
    limit = {"aim": 1.0, "fiducials": 0.5, "rcc": 2.0}[method]
    assert np.all(true_nm < limit), (method, true_nm)


def test_unknown_method_and_bad_segment_are_refused():
    with pytest.raises(ValueError, match="unknown drift method"):
        DriftOptions(method="fft")
    with pytest.raises(ValueError, match="segment"):
        DriftOptions(method="aim", segment_frames=0)
