"""The Localize dock's 'maps origin (y x)': full-sensor sCMOS maps on a camera-ROI movie."""

import dataclasses

import numpy as np
import yaml
from test_localize_widget import _dock, _private_settings, movie_layer  # noqa: F401 (autouse fixture)

from napari_picasso.io.camera_maps import save_camera_maps
from napari_picasso.io.locs import load_locs
from napari_picasso.pipeline import LocalizeParameters, localize
from napari_picasso.simulate import isolated_spots, scmos_camera, write_movie


def test_maps_origin_in_the_dock(make_napari_viewer, qtbot, tmp_path):
    chip = scmos_camera(96, 128, hot_fraction=0.03, seed=5)
    window = (slice(20, 76), slice(40, 104))
    camera = dataclasses.replace(
        chip, offset_map=chip.offset_map[window], variance_map=chip.variance_map[window], gain_map=chip.gain_map[window]
    )
    truth = isolated_spots(10, 56, 64, spacing_px=12, photons=800, sigma_px=1.0, seed=5)
    path = write_movie(tmp_path / "roi.tif", truth, 10, 56, 64, bg_photons=5.0, camera=camera, seed=5)
    full = save_camera_maps(tmp_path / "sensor.hdf5", chip.offset_map, chip.variance_map, chip.gain_map)
    precut = save_camera_maps(tmp_path / "roi_maps.hdf5", camera.offset_map, camera.variance_map, camera.gain_map)

    viewer = make_napari_viewer()
    movie_layer(viewer, path)
    widget = _dock(viewer)
    widget.identification.detector.value = "snr"
    widget.photons.camera_maps.value = str(full)
    # no origin and no ROI in the file's metadata: the run fails with the fix in the dock
    widget.start_localize()
    qtbot.waitUntil(lambda: not widget.localize_busy, timeout=60000)
    assert "maps origin (y x)' in the Localize dock" in widget.fit.status.value
    assert not path.with_name("roi_locs.hdf5").exists()
    # unreadable text is refused before a run starts
    widget.photons.camera_maps_origin.value = "20"
    assert widget.start_localize() is None and "two whole numbers" in widget.fit.status.value
    widget.photons.camera_maps_origin.value = "20 40"
    assert widget.parameters().camera_maps_origin == (20, 40)
    widget.start_localize()
    qtbot.waitUntil(lambda: not widget.localize_busy, timeout=60000)
    assert not widget.last_output["cancelled"], widget.fit.status.value
    locs, _ = load_locs(path.with_name("roi_locs.hdf5"))
    reference = localize(str(path), LocalizeParameters(detector="snr", camera_maps=str(precut)))
    assert len(reference) > 0
    np.testing.assert_array_equal(locs[list(reference.dtype.names)], reference)
    doc = [d for d in yaml.safe_load_all(open(path.with_name("roi_locs.yaml"))) if "Detector" in d][0]
    assert doc["Camera maps origin"] == [20, 40]
    assert widget.photons.settings()["camera_maps_origin"] == "20 40"
