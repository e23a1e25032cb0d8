"""The Localize dock with mle-multi (real viewer): the fit menu offers it, the preview splits pairs."""

import numpy as np
from test_localize_widget import _dock, _private_settings, _set_camera, movie_layer  # noqa: F401 (autouse fixture)

from napari_picasso import fitters
from napari_picasso.core.matching import match_to_truth
from napari_picasso.simulate import CameraModel, emitter_pairs, suggested_min_net_gradient, write_movie


def test_the_preview_shows_each_emitter_of_a_pair(make_napari_viewer, qtbot, tmp_path):
    camera = CameraModel(baseline=100.0, sensitivity=1.0, em_gain=1.0, read_noise_e=0.0)
    truth = emitter_pairs(3, 2.5, 64, 64, spacing_px=16, seed=3)
    path = write_movie(tmp_path / "pairs.raw", truth, 3, 64, 64, bg_photons=50, camera=camera, seed=3)
    viewer = make_napari_viewer()
    movie_layer(viewer, path)
    widget = _dock(viewer)
    _set_camera(widget, camera, suggested_min_net_gradient(1500, camera))
    widget.photons.read_noise_e.value = 0.0
    assert list(widget.fit.fit_method.choices) == list(fitters.names())  # from the registry
    widget.fit.fit_method.value = "mle-multi"
    frame = 1
    viewer.dims.set_current_step(0, frame)
    widget.preview.preview.value = True
    qtbot.waitUntil(
        lambda: not widget.preview_busy and (widget.preview_result or {}).get("frame") == frame, timeout=30000
    )
    emitters = widget.preview_emitters_layer.data
    on = truth[truth["frame"] == frame]
    assert len(widget.preview_layer.data) < len(on) <= len(emitters) + 2, widget.preview.status.value
    found = np.zeros(len(emitters), dtype=[("frame", "u4"), ("x", "f4"), ("y", "f4")])
    found["frame"], found["y"], found["x"] = frame, emitters[:, 0], emitters[:, 1]
    li, _ = match_to_truth(found, on, 0.6)
    assert len(li) >= 0.9 * len(on)
    assert "emitters" in widget.preview.status.value
    # Back to mle: the emitter crosses go away.
    widget.fit.fit_method.value = "mle"
    qtbot.waitUntil(lambda: not widget.preview_busy and len(widget.preview_emitters_layer.data) == 0, timeout=30000)
