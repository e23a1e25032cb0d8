"""The Localize dock writes the database row of every localization (in a real viewer, on a real file)."""

import pytest

from napari_picasso.db import open_database, query_rows
from napari_picasso.simulate import suggested_min_net_gradient


@pytest.fixture(autouse=True)
def _private_files(tmp_path, monkeypatch):
    """This test's own database (the default path the dock uses) and settings."""
    monkeypatch.setenv("NAPARI_PICASSO_DB", str(tmp_path / "lab" / "napari_picasso.db"))
    monkeypatch.setenv("NAPARI_PICASSO_SETTINGS", str(tmp_path / "settings" / "localize.json"))
    monkeypatch.setenv("NAPARI_PICASSO_CONFIG", str(tmp_path / "settings" / "no-config.yaml"))
    return tmp_path / "lab" / "napari_picasso.db"


@pytest.fixture
def movie(movie_copy):
    path, _, camera = movie_copy
    return path, camera


def _localize_dock(viewer, path, camera):
    viewer.open(path, plugin="napari-picassosr")
    _, widget = viewer.window.add_plugin_dock_widget("napari-picassosr", "Localize")
    widget.identification.min_net_gradient.value = suggested_min_net_gradient(1500, camera)
    widget.photons.baseline.value = camera.baseline
    widget.photons.sensitivity.value = camera.sensitivity
    widget.photons.em_gain.value = camera.em_gain
    return widget


def test_localize_dock_writes_the_row_the_explorer_shows(make_napari_viewer, qtbot, movie, _private_files):
    path, camera = movie
    viewer = make_napari_viewer()
    widget = _localize_dock(viewer, path, camera)
    _, explorer = viewer.window.add_plugin_dock_widget("napari-picassosr", "Experiment explorer")
    assert str(_private_files) in explorer.path_label.text() and explorer.model.rowCount() == 0

    widget.start_localize()
    qtbot.waitUntil(lambda: not widget.localize_busy, timeout=60_000)
    out = widget.last_output
    assert not out["cancelled"], widget.fit.status.value
    locs_path = path.with_name("blinking_locs.hdf5")
    # The row was written in the worker thread, with its quality figures.
    assert out["database"]["database"] == str(_private_files)
    db = open_database(_private_files, readonly=True)
    try:
        (row,) = query_rows(db)
    finally:
        db.close()
    assert row["locs_path"] == str(locs_path) and row["status"] == "ok"
    assert row["n_locs"] == out["result"].n_locs and row["nena_nm"] > 0 and row["box_size"] == 7
    assert f"database row #{row['id']}" in widget.fit.status.value
    # The explorer open on the same database shows it once it refreshes (it polls the file).
    qtbot.waitUntil(lambda: explorer.model.rowCount() == 1, timeout=10_000)
    assert explorer.model.rows[0]["filename"] == "blinking_locs.hdf5"


def test_a_database_error_is_said_in_the_dock_and_the_file_is_kept(make_napari_viewer, qtbot, movie, _private_files):
    path, camera = movie
    _private_files.parent.mkdir(parents=True)
    _private_files.write_text("not a database")  # e.g. a file someone overwrote
    viewer = make_napari_viewer()
    widget = _localize_dock(viewer, path, camera)
    widget.start_localize()
    qtbot.waitUntil(lambda: not widget.localize_busy, timeout=60_000)
    out = widget.last_output
    assert not out["cancelled"] and "is not a usable SQLite database" in out["database"]["error"]
    assert "no database row written" in widget.fit.status.value
    assert path.with_name("blinking_locs.hdf5").is_file()  # the localization itself is kept
    assert len(widget.points_layer.data) == out["result"].n_locs > 0
