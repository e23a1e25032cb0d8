"""RCC drift recovers an injected drift; the smoothing spline."""

import numpy as np
import pytest
from _simulated_locs import noisy_locs

from napari_picasso.core.drift import rcc_drift, undrift
from napari_picasso.core.spline import SmoothingSpline
from napari_picasso.simulate import blinking_sites

PIXELSIZE_NM = 130.0


def injected_drift(n_frames):
    """100 nm sine plus a linear drift, px (x and y differ)."""
    t = np.arange(n_frames)
    dx = (100 * np.sin(2 * np.pi * t / n_frames) + 60 * t / n_frames) / PIXELSIZE_NM
    dy = (100 * np.cos(3 * np.pi * t / n_frames) - 40 * t / n_frames) / PIXELSIZE_NM
    return dx, dy


@pytest.fixture(scope="module")
def drifting():
    n_frames = 10000
    dx, dy = injected_drift(n_frames)
    truth = blinking_sites(n_frames, 64, 64, n_sites=300, mean_on_frames=4, mean_off_frames=60, seed=1)
    locs = noisy_locs(truth, 0.1, seed=2, drift_x_px=dx, drift_y_px=dy)
    return locs, truth, dx, dy, n_frames


def test_rcc_recovers_injected_drift(drifting):
    locs, truth, dx, dy, n_frames = drifting
    result = rcc_drift(locs, n_frames, segment_frames=500)
    assert result.drift_px.shape == (n_frames, 2)
    np.testing.assert_array_equal(result.drift_px[0], [0.0, 0.0])
    # a constant offset is not observable: compare up to one
    err_x = result.drift_px[:, 0] - dx
    err_y = result.drift_px[:, 1] - dy
    err_x -= err_x.mean()
    err_y -= err_y.mean()
    rms_nm = np.sqrt(np.mean(err_x**2 + err_y**2)) * PIXELSIZE_NM
    assert rms_nm < 5.0
    summary = result.summary(PIXELSIZE_NM)
    assert summary["drift_x_range_nm"] == pytest.approx(np.ptp(dx) * PIXELSIZE_NM, rel=0.05)
    assert summary["drift_y_range_nm"] == pytest.approx(np.ptp(dy) * PIXELSIZE_NM, rel=0.05)
    # undrift brings every localization back onto its site
    corrected = undrift(locs, result.drift_px)
    off_x = corrected["x"] - truth["x"]
    assert np.std(off_x) == pytest.approx(0.1, rel=0.05)


def test_rcc_needs_two_segments(drifting):
    locs, _, _, _, n_frames = drifting
    with pytest.raises(ValueError, match="at least 2"):
        rcc_drift(locs, n_frames, segment_frames=n_frames)


def test_smoothing_spline_interpolates_and_smooths():
    t = np.linspace(0, 10, 15)
    y = np.sin(t)
    exact = SmoothingSpline(t, y, lam=0.0)
    np.testing.assert_allclose(exact(t), y, atol=1e-10)
    fine = np.linspace(0, 10, 200)
    # natural end conditions (no curvature) cost a little accuracy near the ends only
    inner = (fine > 2) & (fine < 8)
    assert np.max(np.abs(exact(fine) - np.sin(fine))[inner]) < 0.005
    assert np.max(np.abs(exact(fine) - np.sin(fine))) < 0.03
    rng = np.random.default_rng(0)
    noisy = y + rng.normal(0, 0.1, len(t))
    smooth = SmoothingSpline(t, noisy, lam="gcv")
    assert np.sqrt(np.mean((smooth(fine) - np.sin(fine)) ** 2)) < np.sqrt(
        np.mean((SmoothingSpline(t, noisy, 0.0)(fine) - np.sin(fine)) ** 2)
    )
    # straight-line continuation outside the knots
    line = SmoothingSpline([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], lam=0.0)
    np.testing.assert_allclose(line([-1.0, 3.0]), [-1.0, 3.0], atol=1e-12)
