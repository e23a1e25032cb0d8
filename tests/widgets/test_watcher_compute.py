"""The Watcher dock's compute choice: a local Dask cluster writes the in-process file."""

import os

import numpy as np
import pytest
import tifffile
import yaml

from napari_picasso.io.locs import load_locs
from napari_picasso.pipeline import LocalizeParameters, localize_file
from napari_picasso.simulate import simulate_movie


def test_watcher_dock_on_a_local_cluster(make_napari_viewer, qtbot, tmp_path, camera):
    pytest.importorskip("distributed")
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-picassosr", "Watcher")
    folder = tmp_path / "acquisitions"
    folder.mkdir()
    groups = tmp_path / "groups.yaml"
    groups.write_text(
        yaml.safe_dump([{"gradient": 1500, "baseline": camera.baseline, "sensitivity": camera.sensitivity}])
    )
    widget.add_folder(folder)
    widget.groups_path.setText(str(groups))
    widget.settle.setValue(0.3)
    widget.db_path.setText(str(tmp_path / "db.sqlite"))
    widget.log_path.setText(str(tmp_path / "watcher.log"))
    widget.compute.mode.value = "local-cluster"
    widget.compute.workers.value = 2
    widget.start_button.click()
    assert len(widget.watchers) == 1, widget.message.text()
    watcher = widget.watchers[0]
    assert watcher.compute.mode == "local-cluster" and watcher.compute.workers == 2
    try:
        frames, _ = simulate_movie(
            60,
            32,
            32,
            camera=camera,
            seed=7,
            n_sites=6,
            photons=1500,
            mean_on_frames=4,
            mean_off_frames=6,
            min_distance_px=8,
        )
        staged = tmp_path / "cell.tif"
        tifffile.imwrite(staged, frames.astype(np.uint16), photometric="minisblack", contiguous=True)
        movie = folder / "cell.tif"
        os.replace(staged, movie)
        qtbot.waitUntil(lambda: "finished" in widget.log_view.toPlainText(), timeout=90000)
        assert "compute on local cluster, 2 worker processes" in widget.log_view.toPlainText()
    finally:
        widget.stop_watcher(watcher)
        qtbot.waitUntil(lambda: not watcher.running, timeout=30000)
    locs, info = load_locs(folder / "cell_locs.hdf5")
    # The same rows as the in-process pipeline with the same parameters.
    parameters = LocalizeParameters(min_net_gradient=1500, baseline=camera.baseline, sensitivity=camera.sensitivity)
    serial = localize_file(movie, parameters, tmp_path / "serial_locs.hdf5")
    serial_locs, serial_info = load_locs(serial.locs_path)
    assert len(locs) > 0 and locs.tobytes() == serial_locs.tobytes()
    assert info[1] == serial_info[1]
