"""Engine options in the Localize dock (real viewer): SNR detector, background, sCMOS maps,
3D fits, compute choice. Each is checked against the pipeline run with the same parameters."""

import numpy as np
import pytest
import yaml

from napari_picasso.core.matching import detection_scores
from napari_picasso.io.camera_maps import save_camera_maps
from napari_picasso.io.locs import load_locs
from napari_picasso.pipeline import localize
from napari_picasso.simulate import isolated_spots, scmos_camera, write_movie

from test_localize_widget import _dock, _private_settings, movie_layer  # noqa: F401 (autouse fixture)


def _localization_doc(yaml_path):
    return [d for d in yaml.safe_load_all(open(yaml_path)) if "Detector" in d][0]


@pytest.fixture
def scmos_movie(tmp_path):
    height = width = 64
    camera = scmos_camera(height, width, hot_fraction=0.03, seed=4)
    truth = isolated_spots(24, height, width, spacing_px=12, photons=800, sigma_px=1.0, seed=4)
    path = write_movie(tmp_path / "scmos.tif", truth, 24, height, width, bg_photons=5.0, camera=camera, seed=4)
    maps = save_camera_maps(tmp_path / "cam.hdf5", camera.offset_map, camera.variance_map, camera.gain_map)
    return path, maps, truth


def test_snr_detector_preview_and_localize_with_camera_maps(make_napari_viewer, qtbot, scmos_movie):
    path, maps_path, truth = scmos_movie
    viewer = make_napari_viewer()
    layer = movie_layer(viewer, path)
    widget = _dock(viewer)
    ident = widget.identification
    assert widget.movie_layer() is layer
    assert not ident.snr_threshold.enabled  # the gradient detector is the default
    ident.detector.value = "snr"
    assert ident.snr_threshold.enabled and not ident.min_net_gradient.enabled
    ident.snr_threshold.value = 1.0
    ident.debounce.value = 3.0
    widget.photons.camera_maps.value = str(maps_path)
    widget.photons.read_noise.value = 2.0

    # The preview is the pipeline's detection with the SNR detector: it finds this frame's spots.
    frame = 10
    viewer.dims.set_current_step(0, frame)
    widget.preview.preview.value = True
    qtbot.waitUntil(lambda: not widget.preview_busy and widget.preview_result is not None
                    and widget.preview_result["frame"] == frame, timeout=20000)
    points = widget.preview_layer.data
    on = truth[truth["frame"] == frame]
    assert len(points) == len(on), widget.preview.status.value
    for y, x in points:
        assert np.min(np.hypot(on["y"] - y, on["x"] - x)) < 1.5
    # A bad background slice is reported in the dock, not raised.
    ident.background_frames.value = "0:-3"
    qtbot.waitUntil(lambda: not widget.preview_busy and "background frames" in widget.preview.status.value,
                    timeout=20000)
    ident.background_frames.value = ""
    ident.start_frame.value = 4

    widget.start_localize()
    assert widget.localize_busy, widget.fit.status.value
    qtbot.waitUntil(lambda: not widget.localize_busy and not widget.preview_busy, timeout=60000)
    assert not widget.last_output["cancelled"], widget.fit.status.value
    locs_path = path.with_name("scmos_locs.hdf5")
    locs, _ = load_locs(locs_path)
    doc = _localization_doc(locs_path.with_suffix(".yaml"))
    assert doc["Detector"] == "snr" and doc["SNR threshold"] == 1.0 and doc["Debounce (px)"] == 3.0
    assert doc["Background frames"] is None
    assert doc["Camera maps"] == str(maps_path) and doc["Read noise (e-)"] == 2.0 and doc["Start frame"] == 4
    assert locs["frame"].min() >= 4
    scores = detection_scores(locs, truth[truth["frame"] >= 4])
    assert scores["recall"] >= 0.95 and scores["precision"] >= 0.95, scores
    # The same localizations as the pipeline with the dock's parameters.
    expected = localize(str(path), widget.parameters())
    assert len(locs) == len(expected) and np.allclose(locs["x"], expected["x"])

    # A background estimate (mean of the 8 frames before each frame) reaches the run too.
    ident.background_frames.value = "-8:0"
    ident.background_statistic.value = "mean"
    ident.subtract_background.value = True
    widget.start_localize()
    qtbot.waitUntil(lambda: not widget.localize_busy and not widget.preview_busy, timeout=60000)
    assert not widget.last_output["cancelled"], widget.fit.status.value
    locs, _ = load_locs(locs_path)
    doc = _localization_doc(locs_path.with_suffix(".yaml"))
    assert doc["Background frames"] == "-8:0" and doc["Background statistic"] == "mean"
    assert doc["Subtract background"] is True
    expected = localize(str(path), widget.parameters())
    assert len(locs) == len(expected) and np.allclose(locs["x"], expected["x"], equal_nan=True)
