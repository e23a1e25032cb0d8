"""Cubic-spline PSF fits against ground truth from a pupil-function PSF, and Picasso's layout."""

import numpy as np
import pytest

from napari_picasso.core import psf_spline
from napari_picasso.simulate import PupilPSF

BOX = 13
STEP_NM = 20.0


@pytest.fixture(scope="module")
def template():
    """The pupil PSF at every 20 nm of +-800 nm (slice k at z = 800 - 20 k), unit peak in focus."""
    z = np.arange(800.0, -800.1, -STEP_NM)
    volume = PupilPSF().images(np.zeros(len(z)), np.zeros(len(z)), z, BOX)
    focus = len(z) // 2
    volume = volume / volume[focus].max()
    return volume, focus, z


def test_coefficients_interpolate_and_match_picasso(template):
    volume, _, _ = template
    c = psf_spline.coefficients(volume)
    assert np.allclose(psf_spline.knot_values(c), volume, atol=1e-12)
    spline = pytest.importorskip("picasso.spline")
    theirs = spline.spline_coefficients(np.ascontiguousarray(volume.transpose(2, 1, 0)))  # (x, y, z)
    assert np.allclose(theirs.ravel(), c.astype(np.float32).ravel(), atol=1e-5)


def test_mle_is_unbiased_at_the_crlb(template):
    volume, focus, _ = template
    psf = PupilPSF()
    rng = np.random.default_rng(3)
    n = 400
    z = rng.uniform(-500, 500, n)
    dx, dy = rng.uniform(-0.5, 0.5, (2, n))
    spots = rng.poisson(psf.images(dx, dy, z, BOX) * 3000 + 20).astype(float)
    out = psf_spline.fit_spline(spots, psf_spline.coefficients(volume), photon_scale=volume[focus].sum(), z_focus=focus)
    z_fit = (focus - out["z"]) * STEP_NM
    ratio_z = np.sqrt(np.mean((z_fit - z) ** 2) / np.mean(out["crlb_z"] * STEP_NM**2))
    ratio_x = np.sqrt(np.mean((out["x"] - dx) ** 2) / np.mean(out["crlb_x"]))
    assert ratio_z < 1.15 and ratio_x < 1.15, (ratio_z, ratio_x)
    assert abs(np.mean(z_fit - z)) < 3.0
    assert np.allclose(np.median(out["bg"]), 20, rtol=0.02)


def test_scmos_variance_and_2d(template):
    volume, focus, _ = template
    psf = PupilPSF()
    rng = np.random.default_rng(4)
    n = 200
    dx, dy = rng.uniform(-0.5, 0.5, (2, n))
    expected = psf.images(dx, dy, np.zeros(n), BOX) * 3000 + 20
    variance = np.full((n, BOX, BOX), 4.0)
    variance[:, 3, 3] = 400.0  # a hot pixel
    spots = rng.poisson(expected) + rng.normal(0, np.sqrt(variance))
    c = psf_spline.coefficients(volume)
    out = psf_spline.fit_spline(
        spots, c, photon_scale=volume[focus].sum(), z_focus=focus, three_d=False, extra_variance=variance
    )
    assert np.all(out["z"] == focus)
    ratio_x = np.sqrt(np.mean((out["x"] - dx) ** 2) / np.mean(out["crlb_x"]))
    assert ratio_x < 1.15
    assert np.isfinite(out["log_likelihood"]).all()


def test_spots_of_another_box_are_refused(template):
    volume, focus, _ = template
    with pytest.raises(ValueError, match="box"):
        psf_spline.fit_spline(np.zeros((1, BOX + 2, BOX + 2)), psf_spline.coefficients(volume))
