"""The Localize dock's Live switch on a movie a writer thread is still writing (issue 24)."""

import threading

import numpy as np

from napari_picasso.io.locs import load_locs
from napari_picasso.pipeline import LocalizeParameters, localize_file
from napari_picasso.simulate import acquire_movie, acquired_movie_path, simulate_movie


def test_live_switch_grows_points_and_render_in_place(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    from napari_picasso._widgets import localize as dock

    monkeypatch.setenv("NAPARI_PICASSO_SETTINGS", str(tmp_path / "settings" / "localize.json"))
    monkeypatch.setenv("NAPARI_PICASSO_CONFIG", str(tmp_path / "settings" / "no-config.yaml"))
    monkeypatch.setattr(dock, "LIVE_IDLE_S", 1.5)
    frames = simulate_movie(160, 40, 40, seed=3)[0]
    paused, go = threading.Event(), threading.Event()

    def on_frame(i, seconds):
        if i == 9:  # ten frames on disk: the user opens the movie while it is written
            paused.set()
            go.wait(60)

    writer = threading.Thread(
        target=acquire_movie, args=(tmp_path, "tif", frames), kwargs={"frames_per_second": 20, "on_frame": on_frame}
    )
    writer.start()
    try:
        assert paused.wait(60)
        path = acquired_movie_path(tmp_path, "tif")
        viewer = make_napari_viewer()
        layer = viewer.open(path, plugin="napari-picassosr")[0]
        _, widget = viewer.window.add_plugin_dock_widget("napari-picassosr", "Localize")
        widget.identification.min_net_gradient.value = 1000
        widget.photons.baseline.value = 100
        widget.photons.sensitivity.value = 1
        widget.photons.em_gain.value = 1
        widget.chunk_frames = 8
        widget.fit.live.value = True
        widget.start_localize()
        assert widget.localize_busy, widget.fit.status.value
        go.set()
        points = widget.points_layer
        # while the movie is written: points added in place, a frames-behind counter
        qtbot.waitUntil(lambda: widget.live_locs > 0 or not widget.localize_busy, timeout=300000)
        assert widget.live_locs > 0 and writer.is_alive(), (widget.fit.status.value, widget.frames_total)
        assert points is widget.points_layer and len(points.data) == widget.live_locs
        assert "behind" in widget.fit.status.value and np.any(widget.render_layer.data)
        qtbot.waitUntil(lambda: not widget.localize_busy, timeout=300000)
    finally:
        go.set()
        writer.join(60)
    out = widget.last_output
    assert out is not None and not out["cancelled"], widget.fit.status.value
    assert out["result"].n_frames == 160
    parameters = LocalizeParameters(baseline=100, sensitivity=1, em_gain=1, min_net_gradient=1000)
    reference = localize_file(path, parameters, tmp_path / "reference_locs.hdf5")
    live = load_locs(out["result"].locs_path, with_info=False)
    assert np.array_equal(live, load_locs(reference.locs_path, with_info=False))
    assert len(widget.points_layer.data) == len(live) and layer in viewer.layers
