"""The PSF calibration dock: bead z-stack layer -> _spline_calib.hdf5, sections layer, Localize's psf."""

import numpy as np
import pytest
import tifffile

from napari_picasso.io.psf_calib import load_psf_calibration
from napari_picasso.simulate import CameraModel, PupilPSF, pupil_bead_stack, write_movie

PIXEL_NM = 110.0
CAMERA = CameraModel(baseline=100, sensitivity=1.0, read_noise_e=1.0)
WAIT_MS = 300_000  # numba compiles on the first run


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_PICASSO_SETTINGS", str(tmp_path / "settings" / "localize.json"))
    monkeypatch.setenv("NAPARI_PICASSO_CONFIG", str(tmp_path / "settings" / "no-config.yaml"))


def _bead_movie(folder):
    """4 beads, +-400 nm in 50 nm steps (17 frames of 48 x 48 px)."""
    beads = pupil_bead_stack(step_nm=50.0, range_nm=400.0, height=48, width=48, photons=100000.0, seed=3)
    n_steps = int(beads["frame"].max()) + 1
    return write_movie(
        folder / "beads.tif", beads, n_steps, 48, 48, 20.0, CAMERA, 3, pixelsize_nm=PIXEL_NM, psf=PupilPSF()
    )


def _fill(dock, layer):
    dock.movie.reset_choices()
    dock.movie.value = layer
    dock.step_nm.value = 50.0
    dock.box.value = 11
    dock.min_net_gradient.value = 2000.0
    dock.baseline.value = 100.0
    dock.sensitivity.value = 1.0
    dock.em_gain.value = 1.0
    dock.pixelsize_nm.value = PIXEL_NM


def _calibrate(dock, qtbot):
    dock.button.native.click()
    qtbot.waitUntil(lambda: dock.button.enabled and not dock.status.value.startswith("Calibrating"), timeout=WAIT_MS)


def test_calibrate_beads_writes_the_file_shows_sections_and_fills_localize(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    movie = _bead_movie(tmp_path)
    (layer,) = viewer.open(str(movie), plugin="napari-picassosr")
    _, localize = viewer.window.add_plugin_dock_widget("napari-picassosr", "Localize")
    _, dock = viewer.window.add_plugin_dock_widget("napari-picassosr", "PSF calibration")
    assert [name for name, _ in dock._movie_choices()] == [layer.name]
    _fill(dock, layer)
    _calibrate(dock, qtbot)

    target = tmp_path / "beads_spline_calib.hdf5"
    assert target.is_file(), dock.status.value
    assert dock.status.value.startswith(f"Saved {target}"), dock.status.value
    calibration = load_psf_calibration(target)
    assert calibration["box"] == 11
    sections = dock.sections_layer
    assert sections in viewer.layers
    assert sections.data.shape[0] == 17 and np.isfinite(sections.data).all()
    assert "sections" in sections.name
    # The sections are no movie to localize or calibrate.
    assert sections not in [choice for _, choice in dock._movie_choices()]
    assert str(localize.fit.fields["psf"].line_edit.value) == str(target)


def test_a_stack_without_beads_is_an_inline_error(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    path = tmp_path / "empty.tif"
    tifffile.imwrite(path, rng.poisson(120.0, (17, 48, 48)).astype(np.uint16))
    (layer,) = viewer.open(str(path), plugin="napari-picassosr")
    _, dock = viewer.window.add_plugin_dock_widget("napari-picassosr", "PSF calibration")
    _fill(dock, layer)
    _calibrate(dock, qtbot)
    assert dock.status.value.startswith("Error:") and "no beads found" in dock.status.value
    assert "Traceback" not in dock.status.value
    assert not (tmp_path / "empty_spline_calib.hdf5").exists()
    assert dock.sections_layer is None

    # Too few steps for the box: the same inline error, naming the fix.
    dock.box.value = 21
    _calibrate(dock, qtbot)
    assert dock.status.value.startswith("Error:") and "too few" in dock.status.value
