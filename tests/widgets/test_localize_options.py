"""Engine options in the Localize dock (real viewer): SNR detector, background, sCMOS maps,
3D fits, compute choice. Each is checked against the pipeline run with the same parameters."""

import numpy as np
import pytest
import yaml
from test_localize_widget import _dock, _private_settings, movie_layer  # noqa: F401 (autouse fixture)

from napari_picasso.core import zfit
from napari_picasso.core.matching import detection_scores, match_to_truth
from napari_picasso.io.camera_maps import save_camera_maps
from napari_picasso.io.locs import load_locs
from napari_picasso.io.zcalib import save_calibration
from napari_picasso.pipeline import LocalizeParameters, localize, localize_frames
from napari_picasso.simulate import (
    CameraModel,
    astigmatic_spots,
    bead_stack,
    isolated_spots,
    render_movie,
    scmos_camera,
    write_movie,
)


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
    ident.debounce_px.value = 3.0
    widget.photons.camera_maps.value = str(maps_path)
    widget.photons.read_noise_e.value = 2.0

    # The preview is the pipeline's detection with the SNR detector: it finds this frame's spots.
    frame = 10
    viewer.dims.set_current_step(0, frame)
    widget.preview.preview.value = True
    qtbot.waitUntil(
        lambda: (
            not widget.preview_busy and widget.preview_result is not None and widget.preview_result["frame"] == frame
        ),
        timeout=20000,
    )
    points = widget.preview_layer.data
    on = truth[truth["frame"] == frame]
    assert len(points) == len(on), widget.preview.status.value
    for y, x in points:
        assert np.min(np.hypot(on["y"] - y, on["x"] - x)) < 1.5
    # A bad background slice is reported in the dock, not raised.
    ident.background_frames.value = "0:-3"
    qtbot.waitUntil(
        lambda: not widget.preview_busy and "background frames" in widget.preview.status.value, timeout=20000
    )
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


# -- 3D -----------------------------------------------------------------------------------
ZCAMERA = CameraModel(baseline=100.0, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)


@pytest.fixture(scope="module")
def astigmatic_movie(tmp_path_factory):
    """A simulated astigmatic movie with ground-truth z, and a calibration made from a bead stack."""
    folder = tmp_path_factory.mktemp("zdock")
    beads = bead_stack(20.0, 71, 48, 48, spacing_px=14, photons=20000, seed=1)
    bead_movie = render_movie(beads, 71, 48, 48, bg_photons=50, camera=ZCAMERA, seed=1)
    found = localize_frames(bead_movie, LocalizeParameters(box=9, min_net_gradient=3000, baseline=100, sensitivity=0.5))
    calibration, _ = zfit.calibrate(found["frame"], found["sx"], found["sy"], 71, 20.0, 0.79)
    calib_path = save_calibration(folder / "beads_3d_calib.yaml", calibration)
    truth = astigmatic_spots(20, 48, 48, spacing_px=12, photons=1500, seed=2)
    path = write_movie(folder / "cells.tif", truth, 20, 48, 48, bg_photons=30, camera=ZCAMERA, seed=2)
    return path, calib_path, truth


def test_3d_fit_in_the_dock_shows_z_layers(make_napari_viewer, qtbot, astigmatic_movie, tmp_path):
    path, calib_path, truth = astigmatic_movie
    viewer = make_napari_viewer()
    movie_layer(viewer, path)
    widget = _dock(viewer)
    fit = widget.fit
    assert not fit.z_calibration.enabled  # 2D fit by default
    widget.identification.box.value = 9
    widget.identification.min_net_gradient.value = 800
    widget.photons.baseline.value = 100
    widget.photons.sensitivity.value = 0.5
    fit.out_folder.value = str(tmp_path)
    fit.fit_method.value = "mle-3d"
    assert fit.z_calibration.enabled and "calibration" in fit.zcalib_message.value
    # Without a calibration: a clear message, nothing runs.
    assert widget.start_localize() is None
    assert "needs a 3D calibration" in fit.status.value
    fit.z_calibration.value = str(tmp_path / "absent_3d_calib.yaml")
    assert widget.start_localize() is None and "does not exist" in fit.status.value
    fit.z_calibration.value = str(calib_path)
    assert fit.zcalib_message.value == ""

    widget.start_localize()
    assert widget.localize_busy, fit.status.value
    qtbot.waitUntil(lambda: not widget.localize_busy, timeout=60000)
    assert not widget.last_output["cancelled"], fit.status.value
    locs, info = load_locs(tmp_path / "cells_locs.hdf5")
    assert "z" in locs.dtype.names and info[1]["Fit method"] == "mle-3d"
    li, ti = match_to_truth(locs, truth, 1.0)
    assert len(ti) > 0.95 * len(truth)
    assert np.sqrt(np.mean((locs["z"][li] - truth["z"][ti]).astype(float) ** 2)) < 60  # nm
    # The 3D views: points (z / pixel size, y, x) coloured by z, and the z-coloured render.
    image, points = widget.z_layers
    assert image in viewer.layers and points in viewer.layers
    assert image.rgb and points.ndim == 3 and len(points.data) == len(locs)
    np.testing.assert_allclose(points.data[:, 0], locs["z"] / fit.pixelsize_nm.value, rtol=1e-5)
    assert "z" in points.features and points.face_colormap.name == "turbo"
    # Localizing again replaces the 3D layers instead of piling them up.
    widget.start_localize()
    qtbot.waitUntil(lambda: not widget.localize_busy, timeout=60000)
    assert len([c for c in viewer.layers if c.name.endswith((" z render", " 3D"))]) == 2


# -- compute choice -----------------------------------------------------------------------
def test_local_cluster_in_the_dock_writes_the_in_process_file(make_napari_viewer, qtbot, scmos_movie):
    pytest.importorskip("distributed")
    path, maps_path, _ = scmos_movie
    viewer = make_napari_viewer()
    movie_layer(viewer, path)
    widget = _dock(viewer)
    widget.identification.detector.value = "snr"
    widget.identification.background_frames.value = "-5:0"
    widget.photons.camera_maps.value = str(maps_path)
    assert widget.compute.choice().mode == "threads"  # the default: in this process
    widget.start_localize()
    qtbot.waitUntil(lambda: not widget.localize_busy, timeout=60000)
    locs_path = path.with_name("scmos_locs.hdf5")
    serial_locs, serial_info = load_locs(locs_path)
    assert len(serial_locs) > 0

    widget.compute.mode.value = "local-cluster"
    widget.compute.workers.value = 2
    choice = widget.compute.choice()
    assert (choice.mode, choice.workers) == ("local-cluster", 2)
    frames_seen = []
    widget.chunk_frames = None
    try:
        worker = widget.start_localize()
        assert worker is not None, widget.fit.status.value
        qtbot.waitUntil(lambda: frames_seen.append(widget.frames_done) or not widget.localize_busy, timeout=120000)
        assert not widget.last_output["cancelled"], widget.fit.status.value
        client = widget.compute_session.client
        assert client is not None and len(client.nthreads()) == 2
        locs, info = load_locs(locs_path)
        assert locs.tobytes() == serial_locs.tobytes() and info == serial_info
        assert widget.frames_done == 24  # per-block progress reached the end
        # Same choice again: the session keeps the cluster.
        widget.start_localize()
        qtbot.waitUntil(lambda: not widget.localize_busy, timeout=120000)
        assert widget.compute_session.client is client
    finally:
        widget.compute_session.close()
    assert widget.compute_session.client is None


def test_scheduler_without_address_is_refused_in_the_dock(make_napari_viewer, scmos_movie):
    path, _, _ = scmos_movie
    viewer = make_napari_viewer()
    movie_layer(viewer, path)
    widget = _dock(viewer)
    widget.compute.mode.value = "scheduler"
    assert widget.start_localize() is None
    assert "scheduler address" in widget.fit.status.value
