"""The Undrift dock and the explorer's Drift tab in a real napari viewer: a run draws the
drift (x, y, z), fiducials are picked as points, the database row carries the figures."""

import numpy as np
import pytest

from napari_picasso.db import open_database, query_rows
from napari_picasso.io.locs import save_locs
from napari_picasso.simulate import drifting_locs


@pytest.fixture
def db_path(tmp_path, monkeypatch):
    path = tmp_path / "undrift.db"
    monkeypatch.setenv("NAPARI_PICASSO_DB", str(path))
    return path


def sim_file(folder, name, **kwargs):
    sim = drifting_locs(**{"n_locs": 150_000, "n_frames": 3000, "width": 96, "height": 96, **kwargs})
    return save_locs(folder / f"{name}_locs.hdf5", sim.locs, sim.info), sim


def dock(make_napari_viewer):
    from napari_picasso._widgets.undrift import UndriftWidget

    viewer = make_napari_viewer()
    widget = UndriftWidget(viewer)
    viewer.window.add_dock_widget(widget, area="right", name="Undrift")
    return viewer, widget


def test_aim_in_the_dock_draws_the_drift_and_writes_the_row(make_napari_viewer, db_path, tmp_path):
    path, sim = sim_file(tmp_path, "dock3d", z_range_nm=(-300.0, 300.0), seed=1)
    viewer, widget = dock(make_napari_viewer)
    layers = viewer.open(str(path), plugin="napari-picassosr")
    viewer.layers.selection.active = layers[0]
    assert widget.use_selected_layer() == str(path)
    widget.method.value = "aim"
    assert not widget.bin_nm.native.isHidden() and widget.pick.native.isHidden()
    widget.run(block=True)
    assert "AIM drift range" in widget.status.value and "split-halves error" in widget.status.value
    lines = widget.axes.get_lines()
    assert [line.get_label() for line in lines] == ["x", "y"]
    # x in nm follows the simulated drift (up to the unobservable offset)
    x_nm = lines[0].get_ydata()
    assert np.sqrt(np.mean((x_nm - x_nm.mean() - (sim.drift_nm[:, 0] - sim.drift_nm[:, 0].mean())) ** 2)) < 1.0
    z_axes = [ax for ax in widget.figure.axes if ax is not widget.axes]
    assert len(z_axes) == 1 and z_axes[0].get_lines()[0].get_label() == "z"
    with open_database(db_path) as db:
        (row,) = query_rows(db)
    assert row["filename"] == "dock3d_locs_undrift.hdf5" and row["undrift_method"] == "AIM"

    # the explorer shows the same drift for that row
    from napari_picasso._widgets.explorer import ExplorerWidget

    explorer = ExplorerWidget(viewer, db_path)
    viewer.window.add_dock_widget(explorer, area="right", name="Experiment explorer")
    explorer.refresh()
    explorer.table.selectRow(0)
    trace = explorer.draw_drift()
    assert trace is not None and trace["method"] == "AIM" and trace["drift"].shape == (3000, 3)
    np.testing.assert_allclose(explorer.drift_ax.get_lines()[0].get_ydata(), x_nm, atol=1e-3)
    assert "AIM drift" in explorer.drift_message.text()


def test_fiducials_picked_as_points(make_napari_viewer, db_path, tmp_path):
    path, sim = sim_file(tmp_path, "beads", n_fiducials=3, seed=2)
    viewer, widget = dock(make_napari_viewer)
    widget.file.value = path
    widget.method.value = "fiducials"
    assert not widget.pick.native.isHidden() and not widget.radius.native.isHidden()
    widget.radius.value = 2.0
    layer = widget.picks_layer()
    assert layer.mode == "add" and viewer.layers.selection.active is layer
    for x, y in sim.fiducials_px + sim.drift_px[0]:
        layer.add([y, x])
    np.testing.assert_allclose(widget.picks()[:, 2], 2.0)
    saved = tmp_path / "picks.yaml"
    widget.save_picks_file(saved)
    widget.run(block=True)
    outcome = widget.outcome
    assert outcome.document["Fiducials picked"] and outcome.document["Number of picks"] == 3
    assert "3 fiducials" in widget.status.value
    error = outcome.result.drift_px * 130.0 - sim.drift_nm
    error -= error.mean(axis=0)
    assert np.all(np.sqrt(np.mean(error**2, axis=0)) < 0.5)
    # the layer shows the fiducials used; loading the saved picks puts them back
    assert len(viewer.layers["fiducial picks"].data) == 3
    viewer.layers["fiducial picks"].data = np.zeros((0, 2))
    widget.load_picks_file(saved)
    np.testing.assert_allclose(widget.picks()[:, :2], sim.fiducials_px + sim.drift_px[0], atol=1e-4)


def test_a_failed_run_is_said_in_the_dock(make_napari_viewer, db_path, tmp_path):
    path, _ = sim_file(tmp_path, "plain", seed=3)
    _, widget = dock(make_napari_viewer)
    widget.file.value = path
    widget.method.value = "fiducials"
    widget.run(block=True)
    assert "no fiducial found" in widget.status.value and widget.run_button.enabled
    assert not (tmp_path / "plain_locs_undrift.hdf5").exists()
