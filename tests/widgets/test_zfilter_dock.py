"""The Localize dock's 3D options (real viewer): d_zcalib filter and magnification override."""

import numpy as np
import pytest
from test_localize_widget import _dock, _private_settings, movie_layer  # noqa: F401 (autouse fixture)

from napari_picasso.core import zfit
from napari_picasso.io.locs import load_locs
from napari_picasso.io.zcalib import save_calibration
from napari_picasso.pipeline import LocalizeParameters, localize, localize_frames
from napari_picasso.simulate import (
    CameraModel,
    astigmatic_outliers,
    astigmatic_spots,
    bead_stack,
    render_movie,
    write_movie,
)

CAMERA = CameraModel(baseline=100.0, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)
MAX_D = 0.05


@pytest.fixture(scope="module")
def spoiled_movie(tmp_path_factory):
    """An astigmatic movie with emitters beyond the calibrated range and overlapping pairs."""
    folder = tmp_path_factory.mktemp("zfilter_dock")
    beads = bead_stack(20.0, 71, 48, 48, spacing_px=14, photons=20000, seed=1)
    bead_movie = render_movie(beads, 71, 48, 48, bg_photons=50, camera=CAMERA, seed=1)
    found = localize_frames(bead_movie, LocalizeParameters(box=9, min_net_gradient=3000, baseline=100, sensitivity=0.5))
    calibration, _ = zfit.calibrate(found["frame"], found["sx"], found["sy"], 71, 20.0, 0.79)
    calib_path = save_calibration(folder / "beads_3d_calib.yaml", calibration)
    truth = astigmatic_spots(20, 48, 48, spacing_px=12, photons=2000, seed=2)
    scene, _, _ = astigmatic_outliers(truth, far_fraction=0.2, seed=2)
    path = write_movie(folder / "spoiled.tif", scene, 20, 48, 48, bg_photons=30, camera=CAMERA, seed=2)
    return path, calib_path


def test_dock_sets_the_3d_options(make_napari_viewer, qtbot, spoiled_movie, tmp_path):
    path, calib_path = spoiled_movie
    viewer = make_napari_viewer()
    movie_layer(viewer, path)
    widget = _dock(viewer)
    fit = widget.fit
    widget.identification.box.value = 9
    widget.identification.min_net_gradient.value = 800
    widget.photons.baseline.value = 100
    widget.photons.sensitivity.value = 0.5
    fit.out_folder.value = str(tmp_path)
    # Shown for 3D methods only; a value left on a field hidden by a 2D method is not used.
    assert fit.max_d_zcalib.native.isHidden() and fit.z_magnification.native.isHidden()
    fit.max_d_zcalib.value = MAX_D
    assert widget.parameters().max_d_zcalib is None
    fit.fit_method.value = "mle-3d"
    assert not fit.max_d_zcalib.native.isHidden() and not fit.z_magnification.native.isHidden()
    fit.z_calibration.value = str(calib_path)
    # Off (0) reads as "off" / "from calibration": None.
    fit.max_d_zcalib.value = 0
    assert fit.max_d_zcalib.native.text() == "off" and "calibration" in fit.z_magnification.native.text()
    params = widget.parameters()
    assert params.max_d_zcalib is None and params.z_magnification is None
    unfiltered = localize(str(path), params)

    fit.max_d_zcalib.value = MAX_D
    fit.z_magnification.value = 0.7
    params = widget.parameters()
    assert params.max_d_zcalib == pytest.approx(MAX_D) and params.z_magnification == pytest.approx(0.7)
    widget.start_localize()
    qtbot.waitUntil(lambda: not widget.localize_busy, timeout=60000)
    assert not widget.last_output["cancelled"], fit.status.value
    locs, info = load_locs(tmp_path / "spoiled_locs.hdf5")
    rms = np.sqrt(np.mean(locs["d_zcalib"].astype(np.float64) ** 2))
    assert f"rms d_zcalib {rms:.4f}" in fit.status.value  # what a threshold is set from
    assert info[1]["Max. d_zcalib"] == pytest.approx(MAX_D) and info[1]["Magnification factor"] == pytest.approx(0.7)
    # The dock ran the pipeline with these parameters: the filter removed the off-curve rows.
    d = unfiltered["d_zcalib"].astype(np.float64)
    assert 0 < len(locs) == int(np.sum(d <= MAX_D)) < len(unfiltered)
    assert locs.tobytes() == localize(str(path), params).tobytes()
    np.testing.assert_allclose(locs["z"], unfiltered["z"][d <= MAX_D] * 0.7 / 0.79, rtol=1e-5, atol=1e-3)
    # Remembered between sessions, and back to 2D: hidden and unused.
    assert widget.settings()["max_d_zcalib"] == pytest.approx(MAX_D)
    fit.fit_method.value = "mle"
    assert fit.max_d_zcalib.native.isHidden() and widget.parameters().max_d_zcalib is None
