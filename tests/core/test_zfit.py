"""3D astigmatic localization against ground truth and the z CRLB of the 3D model."""

import math

import numpy as np
import pytest

from napari_picasso.core import zfit
from napari_picasso.core.gaussfit import fit_mle
from napari_picasso.core.matching import match_to_truth
from napari_picasso.pipeline import LocalizeParameters, localize_frames
from napari_picasso.simulate import (
    AstigmaticPSF,
    CameraModel,
    astigmatic_crlb,
    astigmatic_spots,
    bead_stack,
    expected_photons,
    render_movie,
)

PSF = AstigmaticPSF()
STEP_NM = 20.0
N_STEPS = 71  # stage -700 .. +700 nm
MAGNIFICATION = 0.79
# Shot noise only, so that the Poisson Fisher information is the model's.
POISSON_CAMERA = CameraModel(baseline=100.0, sensitivity=1.0, em_gain=1.0, read_noise_e=0.0)
BOX = 9


@pytest.fixture(scope="module")
def bead_calibration():
    truth = bead_stack(STEP_NM, N_STEPS, 64, 64, spacing_px=14, photons=20000, psf=PSF, seed=1)
    movie = render_movie(truth, N_STEPS, 64, 64, bg_photons=50, camera=POISSON_CAMERA, seed=1)
    params = LocalizeParameters(box=BOX, min_net_gradient=3000, fit_method="mle", baseline=100, sensitivity=1)
    locs = localize_frames(movie, params)
    assert len(locs) == len(truth)
    return zfit.calibrate(locs["frame"], locs["sx"], locs["sy"], N_STEPS, STEP_NM, MAGNIFICATION)


def test_calibration_recovers_the_simulated_curves(bead_calibration):
    calibration, curves = bead_calibration
    assert len(calibration["X Coefficients"]) == 7 and len(calibration["Y Coefficients"]) == 7
    assert calibration["Number of frames"] == N_STEPS and calibration["Step size in nm"] == STEP_NM
    assert calibration["Magnification factor"] == MAGNIFICATION
    # The simulated curves cross at stage z = 0: the calibration puts its zero there.
    lo, hi = calibration[zfit.RANGE_KEY]
    z_zero = -(lo + hi) / 2
    assert abs(z_zero) < 5.0
    assert len(curves["z_nm"]) == N_STEPS
    z = np.linspace(lo, hi, 281)
    wx, wy = zfit.calibration_widths(calibration, z)
    true_x, true_y = PSF.widths(z + z_zero)
    assert np.max(np.abs(wx - true_x)) < 0.02  # px, over a width range of 1.0 .. 2.5 px
    assert np.max(np.abs(wy - true_y)) < 0.02
    # and the per-step means the plot shows lie on the simulated curves
    mean_true_x, _ = PSF.widths(curves["z_nm"] + z_zero)
    assert np.sqrt(np.mean((curves["mean_sx"] - mean_true_x) ** 2)) < 0.02
    assert np.all(curves["std_sx"] < 0.1)


def test_calibration_zero_is_the_crossing_and_outliers_are_dropped():
    # Widths straight from the model (no images): 5 beads per frame plus one aggregate
    # per frame twice as wide; the crossing sits at stage +120 nm.
    psf = AstigmaticPSF(c_x_nm=-80.0, c_y_nm=320.0, a_x=0.0, a_y=0.0, b_x=0.0, b_y=0.0)
    z_frames = zfit.frame_positions_nm(N_STEPS, STEP_NM)
    frame = np.repeat(np.arange(N_STEPS), 6)
    sx, sy = psf.widths(np.repeat(z_frames, 6))
    rng = np.random.default_rng(0)
    sx = sx * (1 + 0.01 * rng.standard_normal(len(sx)))
    sy = sy * (1 + 0.01 * rng.standard_normal(len(sy)))
    sx[5::6] *= 2.0
    sy[5::6] *= 2.0
    calibration, curves = zfit.calibrate(frame, sx, sy, N_STEPS, STEP_NM, frame_bounds=(5, 65))
    assert calibration["Frame bounds"] == [5, 65]
    assert len(curves["z_nm"]) == 61
    assert np.all(curves["n_locs"] <= 5)  # the aggregate is never kept
    z_zero = z_frames[5] - curves["z_nm"][0]
    assert z_zero == pytest.approx(120.0, abs=3.0)
    wx, wy = zfit.calibration_widths(calibration, curves["z_nm"])
    true_x, true_y = psf.widths(curves["z_nm"] + z_zero)
    assert np.max(np.abs(wx - true_x)) < 0.01
    assert np.max(np.abs(wy - true_y)) < 0.01


def test_calibration_needs_crossing_curves_and_enough_frames():
    frame = np.repeat(np.arange(20), 3)
    with pytest.raises(ValueError, match="do not cross"):
        zfit.calibrate(frame, np.full(60, 1.0), np.full(60, 1.5) + frame * 0.01, 20, 10.0)
    with pytest.raises(ValueError, match="at least 7"):
        zfit.calibrate(frame[frame < 4], np.ones(12), np.ones(12), 20, 10.0)


def test_fit_z_inverts_the_calibration(bead_calibration):
    calibration, _ = bead_calibration
    lo, hi = zfit.calibrated_range(calibration)
    z_true = np.linspace(lo + 1, hi - 1, 2001)
    wx, wy = zfit.calibration_widths(calibration, z_true)
    z, d, z_stage = zfit.fit_z(wx, wy, calibration)
    np.testing.assert_allclose(z_stage, z_true, atol=0.01)
    np.testing.assert_allclose(z, z_true * MAGNIFICATION, atol=0.01)
    assert np.max(d) < 1e-5
    # Off the curve: d_zcalib is the distance in sqrt(px).
    z, d, _ = zfit.fit_z(wx[1000:1001] * 1.1, wy[1000:1001] * 1.1, calibration)
    assert d[0] == pytest.approx(
        math.hypot(math.sqrt(1.1 * wx[1000]) - math.sqrt(wx[1000]), math.sqrt(1.1 * wy[1000]) - math.sqrt(wy[1000])),
        rel=0.05,
    )
    # Beyond the calibrated range z stops at its edge; invalid widths give NaN.
    big_x, small_y = zfit.calibration_widths(calibration, np.array([hi]))
    z, _, z_stage = zfit.fit_z(big_x * 1.3, small_y, calibration)
    assert z_stage[0] == pytest.approx(hi)
    z, d, _ = zfit.fit_z(np.array([-1.0, np.nan]), np.array([1.0, 1.0]), calibration)
    assert np.all(np.isnan(z)) and np.all(np.isnan(d))


def test_fit_z_finds_the_global_minimum(bead_calibration):
    """Against brute force on a 0.5 nm grid, for noisy and far-off-curve widths."""
    calibration, _ = bead_calibration
    lo, hi = zfit.calibrated_range(calibration)
    rng = np.random.default_rng(4)
    wx, wy = zfit.calibration_widths(calibration, rng.uniform(lo, hi, 1500))
    sx = np.concatenate([wx * (1 + 0.08 * rng.standard_normal(1500)), rng.uniform(0.6, 3.0, 500)])
    sy = np.concatenate([wy * (1 + 0.08 * rng.standard_normal(1500)), rng.uniform(0.6, 3.0, 500)])
    _, d, z_stage = zfit.fit_z(sx, sy, calibration)
    grid = np.linspace(lo, hi, int((hi - lo) / 0.5) + 1)
    gx, gy = (np.sqrt(w) for w in zfit.calibration_widths(calibration, grid))
    d2 = (np.sqrt(sx)[:, None] - gx) ** 2 + (np.sqrt(sy)[:, None] - gy) ** 2
    best = d2.min(axis=1)
    assert np.all(d**2 <= best + 1e-9)
    near = np.abs(z_stage - grid[d2.argmin(axis=1)]) < 1.0
    assert near.mean() > 0.99  # the rest: two minima of (nearly) equal depth


def test_add_z_fills_the_z_fields(bead_calibration):
    calibration, _ = bead_calibration
    from napari_picasso import fitters

    locs = np.zeros(200, dtype=fitters.get("mle-3d").dtype)
    z_stage = np.linspace(-500, 500, 200)
    locs["sx"], locs["sy"] = zfit.calibration_widths(calibration, z_stage)
    locs["sx"] *= 1.02
    locs["sx_unc"], locs["sy_unc"] = 0.03, 0.05
    zfit.add_z(locs, calibration)
    z, d, stage = zfit.fit_z(locs["sx"], locs["sy"], calibration)
    np.testing.assert_allclose(locs["z"], z, rtol=1e-6, atol=1e-3)
    np.testing.assert_allclose(locs["d_zcalib"], d, rtol=1e-6)
    reference = zfit.z_precision(stage, locs["sx"], locs["sy"], locs["sx_unc"], locs["sy_unc"], calibration)
    np.testing.assert_allclose(locs["lpz"], reference, rtol=1e-5)
    # where one width is flat (its focus), the other carries the z information
    assert np.all(locs["lpz"] > 0) and np.all(np.isfinite(locs["lpz"]))


def test_filter_z_drops_off_curve_localizations():
    locs = np.zeros(100, dtype=[("d_zcalib", "f4")])
    locs["d_zcalib"] = 0.01
    locs["d_zcalib"][:3] = 0.5
    kept = zfit.filter_z(locs, 2.0)
    assert len(kept) == 97 and np.all(kept["d_zcalib"] == np.float32(0.01))
    assert len(zfit.filter_z(locs, 0)) == 100


def test_sigma_crlb_equals_the_mle_fisher_bound():
    truth = astigmatic_spots(1, 9, 9, spacing_px=20, margin_px=4, seed=3)
    mu = expected_photons(truth, 1, 9, 9, 20.0)[0]
    spots = np.random.default_rng(1).poisson(mu, (5, 9, 9)).astype(np.float32)
    fit = fit_mle(spots)
    crlb = zfit.sigma_crlb(fit["x"], fit["y"], fit["photons"], fit["bg"], fit["sx"], fit["sy"], 9)
    # The fitter reports its bound at the last evaluated parameters (it skips the
    # evaluation after the converging step), so allow for that final sub-tolerance move.
    np.testing.assert_allclose(crlb[:, 0], fit["crlb_sx"], rtol=0.02)
    np.testing.assert_allclose(crlb[:, 1], fit["crlb_sy"], rtol=0.02)


def z_crlb_nm(z_nm, photons, bg):
    return astigmatic_crlb(z_nm, photons, bg, PSF, MAGNIFICATION, BOX)["z"]


def test_crlb_of_the_3d_model_is_sane():
    # More photons, tighter bound (1 / sqrt(N) at low background); z worst far from focus.
    low, high = z_crlb_nm(0.0, 1500, 0.01), z_crlb_nm(0.0, 6000, 0.01)
    assert high == pytest.approx(low / 2, rel=0.05)
    assert z_crlb_nm(400.0, 1500, 20) > z_crlb_nm(0.0, 1500, 20)
    assert 10 < z_crlb_nm(0.0, 1500, 20) < 40


def test_z_precision_reaches_the_crlb_and_bias_is_small(bead_calibration):
    calibration, _ = bead_calibration
    photons, bg = 1500.0, 20.0
    truth = astigmatic_spots(
        200,
        96,
        96,
        spacing_px=12,
        photons=photons,
        z_range_nm=(-400, 400),
        psf=PSF,
        magnification=MAGNIFICATION,
        seed=2,
    )
    movie = render_movie(truth, 200, 96, 96, bg_photons=bg, camera=POISSON_CAMERA, seed=2)
    params = LocalizeParameters(
        box=BOX, min_net_gradient=400, fit_method="mle-3d", baseline=100, sensitivity=1, z_calibration=calibration
    )
    locs = localize_frames(movie, params)
    li, ti = match_to_truth(locs, truth, 1.0)
    assert len(ti) > 0.99 * len(truth)
    error = locs["z"][li].astype(float) - truth["z"][ti]
    z_true = truth["z"][ti].astype(float)
    edges = np.linspace(-400, 400, 9)
    which = np.digitize(z_true, edges) - 1
    for b in range(8):
        inside = which == b
        rmse = math.sqrt(np.mean(error[inside] ** 2))
        grid = np.linspace(edges[b] + 10, edges[b + 1] - 10, 5)
        crlb = math.sqrt(np.mean([z_crlb_nm(z, photons, bg) ** 2 for z in grid]))
        bias = np.mean(error[inside])
        lpz = np.sqrt(np.mean(locs["lpz"][li][inside].astype(float) ** 2))
        message = (
            f"z {edges[b]:.0f}..{edges[b + 1]:.0f} nm: RMSE {rmse:.1f}, CRLB {crlb:.1f}, bias {bias:.1f}, lpz {lpz:.1f}"
        )
        assert 0.85 < rmse / crlb < 1.2, message
        assert abs(bias) < 10.0, message
        # lpz says what the estimator achieves
        assert 0.8 < lpz / rmse < 1.2, message
    assert np.all(locs["d_zcalib"] >= 0)


def test_lq_3d_adds_z_with_fisher_based_lpz(bead_calibration):
    calibration, _ = bead_calibration
    truth = astigmatic_spots(20, 48, 48, spacing_px=12, photons=3000, psf=PSF, magnification=MAGNIFICATION, seed=5)
    movie = render_movie(truth, 20, 48, 48, bg_photons=20, camera=POISSON_CAMERA, seed=5)
    params = LocalizeParameters(
        box=BOX, min_net_gradient=400, fit_method="lq-3d", baseline=100, sensitivity=1, z_calibration=calibration
    )
    locs = localize_frames(movie, params)
    assert locs.dtype.names[-3:] == ("z", "d_zcalib", "lpz")
    li, ti = match_to_truth(locs, truth, 1.0)
    assert len(ti) > 0.95 * len(truth)
    error = locs["z"][li] - truth["z"][ti]
    rmse = math.sqrt(np.mean(error.astype(float) ** 2))
    assert 10 < rmse < 40
    assert np.all((locs["lpz"] > 5) & (locs["lpz"] < 60))
