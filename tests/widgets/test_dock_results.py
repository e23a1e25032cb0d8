"""What a result shows: camera values from the sample movie, summary figures, colour bar,
render contrast, and a _locs.hdf5 opened alone (rendered, the slider over its frames)."""

import re

import numpy as np
import pytest

from napari_picasso import plots
from napari_picasso._widgets.localize import plural
from napari_picasso.io.locs import load_locs
from napari_picasso.pipeline import LocalizeParameters, localize_file
from napari_picasso.simulate import CameraModel, suggested_min_net_gradient

PLUGIN = "napari-picassosr"


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_PICASSO_SETTINGS", str(tmp_path / "settings" / "localize.json"))
    monkeypatch.setenv("NAPARI_PICASSO_CONFIG", str(tmp_path / "settings" / "no-config.yaml"))


def test_sample_movie_photons_summary_colour_bar_and_contrast(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer(show=True)
    movie, truth = viewer.open_sample(PLUGIN, "blinking_movie")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Localize")
    # The sample's camera (0.5 e-/count, offset 100) is taken from its metadata.
    assert widget.photons.sensitivity.value == 0.5 and widget.photons.baseline.value == 100.0
    assert "metadata" in widget.photons.message.value
    camera = CameraModel(baseline=100.0, sensitivity=0.5)
    widget.identification.min_net_gradient.value = suggested_min_net_gradient(1500.0, camera)
    widget.fit.out_folder.value = str(tmp_path)  # an in-memory movie: its files go here
    widget.fit.localize.native.click()
    qtbot.waitUntil(lambda: not widget.localize_busy, timeout=120000)
    status = widget.fit.status.value
    assert re.search(r"\d+ localizations in 300 frames", status), status
    label = widget.fit.status.native  # every line of the summary in sight, none cut
    assert label.heightForWidth(label.width()) > 4 * label.fontMetrics().height()
    qtbot.waitUntil(lambda: label.height() >= label.heightForWidth(label.width()), timeout=5000)

    # Photons right: the fitted median near the simulation's (2x off with 1 e-/count).
    out = widget.last_output
    fitted = out["figures"]["median_photons"]
    simulated = float(np.median(truth.features["photons"]))
    assert 0.8 < fitted / simulated < 1.25, (fitted, simulated)
    # The summary: median photons, precision and NeNA (the database row's figure).
    match = re.search(r"median (\d+) photons, precision ([\d.]+) nm, NeNA ([\d.]+) nm", status)
    assert match, status
    assert int(match[1]) == round(fitted)
    assert float(match[3]) == pytest.approx(out["database"]["nena_nm"], abs=0.05)
    assert float(match[2]) == pytest.approx(
        np.median(np.concatenate([out["locs"]["lpx"], out["locs"]["lpy"]])) * 130.0, abs=0.05
    )

    # A colour bar for "colour by", following the choice.
    points = widget.points_layer
    bar = widget.colour_bar
    assert bar.isVisible() and bar.feature == "photons"
    assert bar.limits == pytest.approx(tuple(points.face_contrast_limits))
    widget.fit.color_by.value = "lpx"
    assert bar.feature == "lpx" and bar.limits == pytest.approx(tuple(points.face_contrast_limits))
    assert "lpx" in bar.text()

    # The render's contrast from its lit pixels: sparse spots are not saturated.
    image = widget.render_layer.data
    high = widget.render_layer.contrast_limits[1]
    assert high == pytest.approx(plots.contrast_limits(image)[1])
    lit = image > 0
    assert np.count_nonzero(image >= high) / np.count_nonzero(lit) < 0.01
    viewer.screenshot(str(tmp_path / "results.png"), canvas_only=False)

    # The explorer's table: what the file is before how good it is; counts in full.
    _, explorer = viewer.window.add_plugin_dock_widget(PLUGIN, "Experiment explorer")
    explorer.poll()
    columns = explorer.model.columns
    assert columns.index("locs_path") < columns.index("movie_path") < columns.index("nena_nm")
    row = next(i for i, r in enumerate(explorer.model.rows) if r["id"] == out["database"]["id"])
    n_locs = len(out["locs"])
    for column in ("n_locs", "m_n_locs"):  # an integer column and a count stored as REAL
        index = explorer.model.index(row, columns.index(column))
        assert explorer.model.data(index) == str(n_locs)
    # The browser's History table shows whole numbers in full too.
    from napari_picasso.server.panels.history import table_frame

    _, config = table_frame(explorer.model.rows, columns)
    assert config["m_n_locs"]["type_config"]["format"] == "%d"
    assert config["nena_nm"]["type_config"]["format"] == "%.4g"


def test_plural_counts():
    assert plural(1, "spot") == "1 spot" and plural(0, "spot") == "0 spots" and plural(2, "frame") == "2 frames"


def test_a_locs_file_opened_alone_is_rendered_over_its_frames(make_napari_viewer, blinking_movie, tmp_path):
    path, _, camera = blinking_movie
    parameters = LocalizeParameters(
        baseline=camera.baseline,
        sensitivity=camera.sensitivity,
        min_net_gradient=suggested_min_net_gradient(1500.0, camera),
        frame_range=(0, 100),
    )
    result = localize_file(path, parameters, tmp_path / "first100_locs.hdf5")
    locs, info = load_locs(result.locs_path)
    assert info[0]["Frames"] == 300 and locs["frame"].max() < 100

    viewer = make_napari_viewer()
    layers = viewer.open(result.locs_path, plugin=PLUGIN)
    points, render = layers
    assert points.name == "first100_locs.hdf5" and render.name == "first100_locs render"
    # The slider spans the movie's 300 frames (not only those with localizations).
    assert viewer.dims.range[0].start == 0 and viewer.dims.range[0].stop == 299
    assert viewer.dims.nsteps[0] == 300
    for frame in (0, 150, 299):  # the rendering stands at every frame
        viewer.dims.set_point(0, frame)
        assert np.asarray(render._slice.image.view).max() > 0
    image = np.asarray(render.data[0])
    assert render.contrast_limits == pytest.approx(plots.contrast_limits(image))
    assert np.count_nonzero(image >= render.contrast_limits[1]) / np.count_nonzero(image > 0) < 0.01
