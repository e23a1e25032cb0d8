"""The Localize dock with an image splitter: schema fields, ratio histogram, points per colour."""

import numpy as np
import pytest

from napari_picasso import simulate as S
from napari_picasso.calibrate.channels import calibrate_frames
from napari_picasso.io.channels import save_channels
from napari_picasso.parameters import LocalizeParameters


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_PICASSO_SETTINGS", str(tmp_path / "settings" / "localize.json"))
    monkeypatch.setenv("NAPARI_PICASSO_CONFIG", str(tmp_path / "settings" / "no-config.yaml"))
    monkeypatch.setenv("NAPARI_PICASSO_DB", str(tmp_path / "experiments.db"))


def test_splitter_run_in_the_dock(make_napari_viewer, qtbot, tmp_path):
    optics = S.SplitterOptics(height=48, width=48)
    beads = S.splitter_movie(S.splitter_beads_truth(10, optics, spacing_px=8), 10, optics)
    calibration, _ = calibrate_frames(beads, LocalizeParameters(), splitter="left-right")
    cal_path = save_channels(tmp_path / "beads_channels.yaml", calibration)
    truth = S.splitter_truth(60, optics, n_sites=12, seed=2)
    movie = S.write_splitter_movie(tmp_path / "cells.tif", truth, 60, optics, seed=2)

    viewer = make_napari_viewer()
    (layer,) = viewer.open(movie, plugin="napari-picassosr")
    _, dock = viewer.window.add_plugin_dock_widget("napari-picassosr", "Localize")
    dock.identification.movie.value = layer
    dock.identification.min_net_gradient.value = 1500
    dock.photons.baseline.value = 100
    dock.fit.fit_method.value = "mle-ratio"
    dock.identification.splitter.value = "left-right"  # a field the schema makes
    dock.identification.channels.value = str(cal_path)
    dock.fit.colours.value = "A:0:0.475 B:0.475:1"
    dock.start_localize()
    assert dock.localize_busy, dock.fit.status.value
    qtbot.waitUntil(lambda: not dock.localize_busy, timeout=120000)
    locs = dock.last_output["locs"]
    assert len(locs) > 0.9 * len(truth), dock.fit.status.value
    names = [candidate.name for candidate in viewer.layers]
    for colour in ("A", "B"):
        points = viewer.layers[f"cells_locs {colour}"]
        assert len(points.data) == int(np.sum(locs["colour"] == ("AB".index(colour))))
    assert "cells_locs no colour" not in names or len(viewer.layers["cells_locs no colour"].data) <= 0.01 * len(locs)
    assert not dock.ratio_canvas.isHidden()  # the viewer is not shown: not "visible"
    ax = dock.ratio_canvas.figure.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["A", "B"]
    # points in channel-0 px: over the left half of the camera frame
    assert dock.points_layer.data[:, -1].max() < optics.width


def test_preview_overlays_the_registered_halves(make_napari_viewer, qtbot, tmp_path):
    optics = S.SplitterOptics(height=48, width=48)
    beads = S.splitter_movie(S.splitter_beads_truth(10, optics, spacing_px=8), 10, optics)
    calibration, _ = calibrate_frames(beads, LocalizeParameters(), splitter="left-right")
    cal_path = save_channels(tmp_path / "beads_channels.yaml", calibration)
    movie = S.write_splitter_movie(tmp_path / "beads.tif", S.splitter_beads_truth(10, optics, spacing_px=8), 10, optics)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(movie, plugin="napari-picassosr")
    _, dock = viewer.window.add_plugin_dock_widget("napari-picassosr", "Localize")
    dock.identification.movie.value = layer
    dock.photons.baseline.value = 100
    dock.fit.fit_method.value = "mle-ratio"
    dock.identification.channels.value = str(cal_path)
    dock.identification.splitter.value = "left-right"
    dock.preview.preview.value = True
    dock.request_preview()
    name = f"{layer.name} channels overlay"

    def shown():
        found = dock.preview_result
        ready = found is not None and found.get("overlay") is not None and not dock.preview_busy
        return ready and name in [candidate.name for candidate in viewer.layers]

    qtbot.waitUntil(shown, timeout=60000)
    assert len(dock.preview_result["x"]) > 10 and dock.preview_result["x"].max() < optics.width
    overlay = viewer.layers[name].data
    assert overlay.shape == (optics.height, optics.width, 3)
    # registered: the beads of channel 1 sit on those of channel 0
    assert np.corrcoef(overlay[..., 0].ravel(), overlay[..., 1].ravel())[0, 1] > 0.8
