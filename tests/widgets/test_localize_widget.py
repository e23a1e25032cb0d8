"""The Localize dock in a real napari viewer: ROI, live preview, localize, cancel, results."""

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from napari_picasso import parameters as parameters_module
from napari_picasso.core.matching import detection_scores
from napari_picasso.io.locs import load_locs
from napari_picasso.pipeline import LocalizeParameters, localize
from napari_picasso.simulate import suggested_min_net_gradient as gradient_for

RECT = (10, 6, 45, 41)  # y0, x0, y1, x1: what the drawn shape below covers
RECT_VERTICES = np.array([[9.5, 5.5], [9.5, 40.5], [44.5, 40.5], [44.5, 5.5]])
SCREENSHOT_ENV = "NAPARI_PICASSO_SCREENSHOTS"


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_PICASSO_SETTINGS", str(tmp_path / "settings" / "localize.json"))
    monkeypatch.setenv("NAPARI_PICASSO_CONFIG", str(tmp_path / "settings" / "no-config.yaml"))


def movie_layer(viewer, path):
    """Open a movie through the plugin's reader (a lazy Movie layer with path and metadata)."""
    layers = viewer.open(path, plugin="napari-picassosr")
    assert len(layers) == 1 and layers[0].metadata["napari_picasso"]["path"] == str(path)
    return layers[0]


@pytest.fixture
def add_movie_layer():
    """``add_movie_layer(viewer, path)``: open a movie into a layer (see :func:`movie_layer`)."""
    return movie_layer


def _dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-picassosr", "Localize")
    return widget


def _set_camera(widget, camera, gradient):
    widget.identification.min_net_gradient.value = gradient
    widget.photons.baseline.value = camera.baseline
    widget.photons.sensitivity.value = camera.sensitivity
    widget.photons.em_gain.value = camera.em_gain


def _inside(y, x, rect, margin=0.0):
    y0, x0, y1, x1 = rect
    return (y >= y0 - 0.5 + margin) & (y < y1 - 0.5 - margin) & (x >= x0 - 0.5 + margin) & (x < x1 - 0.5 - margin)


def _wait_preview(qtbot, widget, frame):
    qtbot.waitUntil(
        lambda: (
            not widget.preview_busy and widget.preview_result is not None and widget.preview_result["frame"] == frame
        ),
        timeout=20000,
    )
    return widget.preview_layer.data


def _check_preview_against_truth(points, truth, frame, rect, box):
    """Preview squares sit in the rectangle, on the frame's emitters inside it."""
    assert len(points) > 0
    assert np.all(_inside(points[:, 0], points[:, 1], rect))
    on = truth[truth["frame"] == frame]
    well_inside = on[_inside(on["y"], on["x"], rect, margin=box // 2 + 1)]
    for emitter in well_inside:
        assert np.min(np.hypot(points[:, 0] - emitter["y"], points[:, 1] - emitter["x"])) < 1.5
    # Every square is an emitter of this frame (no false spots at this threshold).
    for y, x in points:
        assert np.min(np.hypot(on["y"] - y, on["x"] - x)) < 1.5


def _frames_with_spots_inside_and_outside(truth, rect, box):
    frames = []
    for frame in np.unique(truth["frame"]):
        on = truth[truth["frame"] == frame]
        inside = _inside(on["y"], on["x"], rect, margin=box // 2 + 1)
        outside = ~_inside(on["y"], on["x"], rect, margin=-2)
        if inside.sum() >= 2 and outside.sum() >= 1:
            frames.append(int(frame))
    return frames


def test_rectangle_preview_localize_cancel_results(make_napari_viewer, qtbot, movie_copy, add_movie_layer, tmp_path):
    path, truth, camera = movie_copy
    # Shown, as a user has it (markers created in a never-shown window are not drawn later).
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    movie_layer = add_movie_layer(viewer, path)
    widget = _dock(viewer)
    assert widget.movie_layer() is movie_layer
    assert widget.identification.last_frame.value == 299
    gradient = gradient_for(1500, camera)
    _set_camera(widget, camera, gradient)

    # Draw a rectangle in a Shapes layer: the typed ROI follows.
    shapes = widget.add_roi_layer()
    shapes.add(RECT_VERTICES, shape_type="rectangle")
    assert widget.identification.roi_text.value == ", ".join(map(str, RECT))
    assert widget.parameters().roi == RECT

    # Preview on a frame with emitters inside and outside the rectangle.
    frame_a, frame_b = _frames_with_spots_inside_and_outside(truth, RECT, 7)[:2]
    viewer.dims.set_current_step(0, frame_a)
    widget.preview.preview.value = True
    points_a = _wait_preview(qtbot, widget, frame_a)
    _check_preview_against_truth(points_a, truth, frame_a, RECT, 7)
    assert widget.preview_result["thread"] != threading.main_thread().name  # off the GUI thread
    assert widget.preview_layer.symbol[0].value == "square" and np.all(widget.preview_layer.size == 7)
    # Change frame: the squares follow.
    viewer.dims.set_current_step(0, frame_b)
    points_b = _wait_preview(qtbot, widget, frame_b)
    _check_preview_against_truth(points_b, truth, frame_b, RECT, 7)
    assert not np.array_equal(points_a, points_b)
    # A parameter change updates the preview too: a huge threshold finds nothing.
    widget.identification.min_net_gradient.value = 1e8
    qtbot.waitUntil(lambda: not widget.preview_busy and len(widget.preview_layer.data) == 0, timeout=20000)
    widget.identification.min_net_gradient.value = gradient

    # Localize in the worker, to completion.
    widget.start_localize()
    assert widget.localize_busy, widget.fit.status.value
    qtbot.waitUntil(lambda: not widget.localize_busy, timeout=60000)
    locs_path = path.with_name("blinking_locs.hdf5")
    assert widget.last_output is not None and not widget.last_output["cancelled"], widget.fit.status.value
    assert widget.last_output["thread"] != threading.main_thread().name
    locs, info = load_locs(locs_path)
    assert locs_path.with_suffix(".yaml").exists()
    assert info[1]["ROI"] == list(RECT) and info[1]["Box Size"] == 7
    assert info[1]["Min. Net Gradient"] == pytest.approx(gradient) and info[1]["Sensitivity"] == camera.sensitivity
    assert info[0]["Frames"] == 300 and info[0]["Camera"] == "Simulation"
    # The same file as the pipeline makes with the same parameters.
    expected = localize(path, widget.parameters())
    assert len(locs) == len(expected) and np.allclose(locs["x"], expected["x"])
    # Against ground truth: everything found inside the rectangle, nothing outside.
    assert np.all(_inside(locs["y"], locs["x"], RECT, margin=-1.0))
    truth_inside = truth[_inside(truth["y"], truth["x"], RECT, margin=4)]
    scores = detection_scores(locs[_inside(locs["y"], locs["x"], RECT, margin=4)], truth_inside, radius_px=1.0)
    assert scores["recall"] > 0.85 and scores["precision"] > 0.9, scores
    assert scores["rmse_x_px"] < 0.2 and scores["rmse_y_px"] < 0.2, scores

    # Result layers: points (frame, y, x) with features, coloured by photons; the render.
    points, rendered = widget.points_layer, widget.render_layer
    assert points.data.shape == (len(locs), 3)
    assert np.allclose(points.data[:, 0], locs["frame"]) and np.allclose(points.data[:, 2], locs["x"])
    for feature in ("photons", "sx", "sy", "bg", "lpx", "lpy", "net_gradient"):
        assert np.allclose(points.features[feature], locs[feature])
    assert len(np.unique(points.face_color, axis=0)) > 10  # a colour map, not one colour
    by_photons = points.face_color.copy()
    widget.fit.color_by.value = "lpx"
    assert not np.allclose(points.face_color, by_photons)
    # The colour map spans the feature: viridis' dark end at the smallest lpx, yellow at the largest.
    assert np.allclose(points.face_color[np.argmin(locs["lpx"]), :3], [0.267, 0.005, 0.329], atol=0.01)
    assert np.allclose(points.face_color[np.argmax(locs["lpx"]), :3], [0.993, 0.906, 0.144], atol=0.01)
    oversampling = widget.fit.oversampling.value
    assert rendered.data.shape == (64 * oversampling, 64 * oversampling)
    # Gaussian blobs of unit weight: the image sums to the number of localizations.
    assert rendered.data.sum() == pytest.approx(len(locs), rel=0.02)
    # The brightest render pixel lies on a localization (the overlay is registered).
    j, i = np.unravel_index(np.argmax(rendered.data), rendered.data.shape)
    world = rendered.data_to_world((j, i))
    assert np.min(np.hypot(locs["y"] - world[-2], locs["x"] - world[-1])) < 0.5

    # Parameters are remembered for the next session.
    remembered = json.loads(Path(os.environ["NAPARI_PICASSO_SETTINGS"]).read_text())
    assert remembered["min_net_gradient"] == pytest.approx(gradient) and remembered["box"] == 7

    # A second run, cancelled midway: nothing is written.
    second = tmp_path / "second"
    widget.fit.out_folder.value = second
    widget.chunk_frames = 1
    widget.start_localize()
    qtbot.waitUntil(lambda: widget.frames_done > 0, timeout=30000)
    widget.fit.cancel.native.click()
    qtbot.waitUntil(lambda: not widget.localize_busy, timeout=30000)
    assert widget.last_output["cancelled"], "the run finished before the cancel arrived"
    assert "nothing written" in widget.fit.status.value
    assert not second.exists() or not any(second.iterdir())

    # Preview and localization at the same time (two threads in numba kernels).
    widget.start_localize()
    for frame in range(0, 120, 6):
        viewer.dims.set_current_step(0, frame)
        qtbot.wait(5)
    qtbot.waitUntil(lambda: not widget.localize_busy and not widget.preview_busy, timeout=60000)
    assert not widget.last_output["cancelled"]
    assert len(load_locs(second / "blinking_locs.hdf5", with_info=False)) == len(locs)
    assert widget.preview_result["frame"] == widget.current_frame() == 114

    # What a user sees: the docks beside the movie with the results.
    viewer.dims.set_current_step(0, frame_b)
    _wait_preview(qtbot, widget, frame_b)
    viewer.layers.selection.active = widget.points_layer
    widget.collapsibles["Photon conversion"].collapse(animate=False)
    viewer.reset_view()
    qtbot.wait(100)  # one layout pass for the collapsed section
    folder = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    shot = viewer.screenshot(folder / "localize-dock.png", canvas_only=False)
    assert shot.ndim == 3 and shot.shape[0] > 500 and shot.shape[1] > 900
    assert shot[..., :3].std() > 20 and len(np.unique(shot[..., :3].reshape(-1, 3), axis=0)) > 200


def test_typed_rectangles_draw_shapes_and_keep_spots_in_any(make_napari_viewer, qtbot, movie_copy, add_movie_layer):
    path, truth, camera = movie_copy
    viewer = make_napari_viewer()
    add_movie_layer(viewer, path)
    widget = _dock(viewer)
    _set_camera(widget, camera, gradient_for(1500, camera))
    widget.identification.roi_text.value = "4, 4, 30, 30; 34, 30, 60, 60"
    shapes = widget.identification.roi_layer.value
    assert shapes is not None and len(shapes.data) == 2
    assert list(shapes.shape_type) == ["rectangle", "rectangle"]
    parameters = widget.parameters()
    assert parameters.rois == ((4, 4, 30, 30), (34, 30, 60, 60)) and parameters.roi is None
    # Moving a rectangle in the layer updates the text.
    shapes.data = [shapes.data[0] + 2, shapes.data[1]]
    assert widget.identification.roi_text.value == "6, 6, 32, 32; 34, 30, 60, 60"
    # Bad text is reported, the layer keeps its rectangles.
    widget.identification.roi_text.value = "1, 2, 3"
    assert "y0, x0, y1, x1" in widget.identification.roi_message.value and len(shapes.data) == 2
    widget.identification.roi_text.value = "6, 6, 32, 32; 34, 30, 60, 60"

    # The preview keeps spots centred in either rectangle.
    frames = [f for f in _frames_with_spots_inside_and_outside(truth, (6, 6, 32, 32), 7)]
    viewer.dims.set_current_step(0, frames[0])
    widget.preview.preview.value = True
    points = _wait_preview(qtbot, widget, frames[0])
    in_any = _inside(points[:, 0], points[:, 1], (6, 6, 32, 32)) | _inside(points[:, 0], points[:, 1], (34, 30, 60, 60))
    assert len(points) and np.all(in_any)
    # Frame bounds from the dock reach the pipeline (last frame inclusive).
    widget.identification.first_frame.value = 10
    widget.identification.last_frame.value = 99
    assert widget.parameters().frame_range == (10, 100)


CONFIG = """
Cameras:
  Andor iXon:
    Pixelsize: 160
    Baseline: 200
    Sensitivity Categories: [ReadoutMode, Pre-Amp Gain]
    Sensitivity:
      30 MHz: {Gain 1: 5.3, Gain 2: 2.8}
      17 MHz: {Gain 1: 4.1, Gain 2: 2.2}
    Gain Property Name: Gain
    EM Switch Property: {Name: Output_Amplifier, True: Electron Multiplying}
  Simulation:
    Pixelsize: 107
    Baseline: 100
    Quantum Efficiency: 0.8
    Sensitivity: 0.5
"""


def test_photon_conversion_from_config_yaml(make_napari_viewer, movie_copy, add_movie_layer, tmp_path, monkeypatch):
    path, _, _ = movie_copy
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    monkeypatch.setenv("NAPARI_PICASSO_CONFIG", str(config))
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    assert widget.photons.camera.choices == ("Manual", "Andor iXon", "Simulation")
    # The simulated movie names its camera "Simulation": chosen, values filled in.
    add_movie_layer(viewer, path)
    assert widget.photons.camera.value == "Simulation"
    parameters = widget.parameters()
    assert (parameters.baseline, parameters.sensitivity, parameters.qe, parameters.camera) == (
        100,
        0.5,
        0.8,
        "Simulation",
    )
    assert parameters.pixelsize_nm == 107 and parameters.em_gain == 1
    # The EM camera: two nested category dropdowns; the second follows the first.
    widget.photons.camera.value = "Andor iXon"
    readout, preamp = list(widget.photons.categories)
    assert readout.choices == ("30 MHz", "17 MHz") and preamp.choices == ("Gain 1", "Gain 2")
    readout.value, preamp.value = "17 MHz", "Gain 2"
    assert widget.parameters().sensitivity == 2.2 and widget.parameters().baseline == 200
    assert widget.fit.pixelsize_nm.value == 160
    widget.photons.em_on.value = True
    widget.photons.em_gain.value = 300
    assert widget.parameters().em_gain == 300
    widget.photons.em_on.value = False
    assert widget.parameters().em_gain == 1
    # A malformed file is reported in the dock, the values stay editable.
    config.write_text("Cameras:\n  Broken: {Baseline: 1}\n")
    widget.photons.load_config()
    assert "lacks Pixelsize, Sensitivity" in widget.photons.message.value.replace("\n", " ")
    assert widget.photons.camera.choices == ("Manual",) and widget.photons.baseline.enabled


def test_parameters_remembered_between_sessions(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    widget.identification.box.value = 9
    widget.identification.min_net_gradient.value = 1234
    widget.fit.fit_method.value = "lq"
    widget.fit.oversampling.value = 5
    widget.photons.sensitivity.value = 0.46
    viewer.window.remove_dock_widget("all")
    again = _dock(viewer)
    parameters = LocalizeParameters(**{k: v for k, v in again.settings().items() if k in parameters_module.names()})
    assert (parameters.box, parameters.min_net_gradient, parameters.fit_method, parameters.sensitivity) == (
        9,
        1234,
        "lq",
        0.46,
    )
    assert again.fit.oversampling.value == 5
