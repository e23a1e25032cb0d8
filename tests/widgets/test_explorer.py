"""The experiment explorer in a real napari viewer, on a real database file."""

import csv
import datetime
import os
import shutil

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_picasso.cli import main
from napari_picasso.db import open_database, record_localization

SCREENSHOTS = os.environ.get("NAPARI_PICASSO_SCREENSHOTS")


@pytest.fixture
def db_path(tmp_path, monkeypatch):
    path = tmp_path / "explorer.db"
    monkeypatch.setenv("NAPARI_PICASSO_DB", str(path))
    return path


@pytest.fixture
def picasso_locs(shared_data):
    return shared_data / "raw-picasso" / "testdata_locs.hdf5"


@pytest.fixture
def filled_db(db_path, tmp_path, picasso_locs):
    """Nine files over three days in two groups; one movie localized with two parameter groups."""
    from napari_picasso.io.locs import load_locs, save_locs

    locs, info = load_locs(picasso_locs)
    rng = np.random.default_rng(0)
    today = datetime.datetime.now().replace(hour=12, minute=0, second=0, microsecond=0)
    db = open_database(db_path)
    names = []
    for i in range(9):
        day = i % 3
        name = f"run{i}_pg_{i % 2 + 1}_locs.hdf5" if i < 2 else f"exp{day}_{i}_locs.hdf5"
        folder = tmp_path / "data" / ("movieA" if i < 2 else f"day{day}")
        keep = np.sort(rng.choice(len(locs), size=200 + 40 * i, replace=False))
        path = save_locs(folder / name.replace("run0", "movie").replace("run1", "movie"), locs[keep], info)
        moment = (today - datetime.timedelta(days=2 - day)).timestamp()
        os.utime(path, (moment, moment))
        record_localization(db, path, group="monday" if i % 3 == 0 else "tuesday")
        names.append(path.name)
    db.close()
    return db_path, names


def _explorer(make_napari_viewer, db_path, show=False):
    from napari_picasso._widgets.explorer import ExplorerWidget

    viewer = make_napari_viewer(show=show)
    widget = ExplorerWidget(viewer, db_path)
    viewer.window.add_dock_widget(widget, area="right", name="Experiment explorer")
    return viewer, widget


def _shown(widget):
    return sorted(row["filename"] for row in widget.model.rows)


def _color_pixels(widget, rgb, tolerance=40):
    """Pixels of a widget's rendering close to a colour (proof that data were drawn)."""
    from qtpy.QtGui import QImage

    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_ARGB32)
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    pixels = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())[:, : image.width() * 4]
    bgra = pixels.reshape(image.height(), image.width(), 4).astype(int)
    r, g, b = bgra[..., 2], bgra[..., 1], bgra[..., 0]
    if rgb == "blue":  # matplotlib's C0, also where semi-transparent over white
        return int(((b - r > 60) & (b > g + 20)).sum())
    if rgb == "orange":  # C1
        return int(((r > 200) & (g > 90) & (g < 180) & (b < 100)).sum())
    distance = np.abs(r - rgb[0]) + np.abs(g - rgb[1]) + np.abs(b - rgb[2])
    return int((distance < tolerance).sum())


def test_rows_appear_after_a_localization(make_napari_viewer, qtbot, db_path, blinking_movie, tmp_path, shared_data):
    viewer, widget = _explorer(make_napari_viewer, db_path)
    assert str(db_path) in widget.path_label.text()
    assert widget.model.rowCount() == 0
    movie, truth, camera = blinking_movie
    # The command line writes the row (a separate connection, like a watcher would).
    assert (
        main(
            [
                "localize",
                str(movie),
                "--quiet",
                "--gradient",
                "1500",
                "--baseline",
                "100",
                "--sensitivity",
                "0.5",
                "--out",
                str(tmp_path / "out"),
                "--db",
                str(db_path),
            ]
        )
        == 0
    )
    qtbot.waitUntil(lambda: widget.model.rowCount() == 1, timeout=10_000)
    row = widget.model.rows[0]
    assert row["filename"] == "blinking_locs.hdf5" and row["status"] == "ok" and row["n_locs"] > 100
    assert widget.count_label.text().startswith("1 of 1 files shown")
    # "Add folder…" imports Picasso's files as well.
    result = widget.add_paths([shared_data / "raw-picasso"], group="picasso")
    assert len(result.added) == 1 and widget.model.rowCount() == 2
    assert "picasso" in [widget.group_combo.itemText(i) for i in range(widget.group_combo.count())]


def test_filters_table_and_csv(make_napari_viewer, filled_db, tmp_path):
    db_path, names = filled_db
    viewer, widget = _explorer(make_napari_viewer, db_path)
    assert widget.model.rowCount() == 9
    widget.filter_edit.setText("exp1")
    assert _shown(widget) == ["exp1_4_locs.hdf5", "exp1_7_locs.hdf5"]
    widget.filter_edit.setText("")
    widget.group_combo.setCurrentText("monday")
    assert _shown(widget) == sorted(n for i, n in enumerate(names) if i % 3 == 0)
    widget.filter_edit.setText("movie")
    assert _shown(widget) == ["movie_pg_1_locs.hdf5"]
    widget.group_combo.setCurrentText("All groups")
    widget.filter_edit.setText("")
    assert widget.model.rowCount() == 9

    # Sort by a column: numbers in order; the bar of the largest value fills its cell.
    column = widget.model.columns.index("n_locs")
    widget.table.sortByColumn(column, widget.table.horizontalHeader().sortIndicatorOrder().AscendingOrder)
    values = [row["n_locs"] for row in widget.model.rows]
    assert values == sorted(values) and values[-1] == 200 + 40 * 8
    from napari_picasso._widgets.explorer import BAR_ROLE

    bars = [widget.model.data(widget.model.index(r, column), BAR_ROLE) for r in range(9)]
    assert bars[-1] == 1.0 and bars[0] == pytest.approx(200 / 520)
    assert widget.model.data(widget.model.index(0, widget.model.columns.index("filename")), BAR_ROLE) == 0.0

    widget.export_csv(tmp_path / "rows.csv")
    with open(tmp_path / "rows.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["n_locs"]) for r in rows] == values and "nena_nm" in rows[0]


def test_each_plot_renders(make_napari_viewer, qtbot, filled_db, tmp_path):
    db_path, names = filled_db
    viewer, widget = _explorer(make_napari_viewer, db_path)
    widget.resize(700, 900)
    blue, orange = "blue", "orange"

    widget.tabs.setCurrentIndex(0)
    bar = widget.table.horizontalScrollBar()
    bar.setValue(bar.value() + widget.table.columnViewportPosition(widget.model.columns.index("n_locs")))
    qtbot.wait(50)
    if SCREENSHOTS:
        widget.table.viewport().grab().save(os.path.join(SCREENSHOTS, "explorer_table_cells.png"))
    assert _color_pixels(widget.table.viewport(), (47, 84, 128), tolerance=40) > 2000  # the bars (blended)

    widget.tabs.setCurrentIndex(1)
    widget.x_combo.setCurrentText("n_locs")
    widget.y_combo.setCurrentText("mean_photons")
    qtbot.wait(50)
    assert widget.scatter_ax.collections[0].get_offsets().shape == (9, 2)
    assert "trend" in widget.scatter_ax.get_legend().get_texts()[1].get_text()
    widget.scatter_canvas.draw()
    if SCREENSHOTS:
        widget.scatter_canvas.grab().save(os.path.join(SCREENSHOTS, "explorer_scatter_canvas.png"))
    assert _color_pixels(widget.scatter_canvas, blue) > 100

    widget.x_combo.setCurrentText("file_created")
    assert len(widget.scatter_ax.collections[0].get_offsets()) == 9
    assert "per day" in widget.scatter_ax.get_legend().get_texts()[1].get_text()

    widget.tabs.setCurrentIndex(2)
    widget.box_combo.setCurrentText("nena_nm")
    widget.scatter_canvas.draw()
    qtbot.wait(50)
    assert [t.get_text() for t in widget.box_ax.get_xticklabels()] == sorted(
        {(datetime.date.today() - datetime.timedelta(days=d)).isoformat() for d in range(3)}
    )
    widget.box_canvas.draw()
    assert _color_pixels(widget.box_canvas, blue) > 50

    widget.tabs.setCurrentIndex(3)
    families = [widget.family_combo.itemText(i) for i in range(widget.family_combo.count())]
    assert str(tmp_path / "data" / "movieA" / "movie") in families
    widget.family_combo.setCurrentText(str(tmp_path / "data" / "movieA" / "movie"))
    assert [n for n, _ in widget.checked_files()] == ["movie_pg_1_locs.hdf5", "movie_pg_2_locs.hdf5"]
    widget.field_combo.setCurrentText("photons")
    widget.draw_compare()  # files are read in a worker thread
    qtbot.waitUntil(lambda: len(widget.frames_ax.get_lines()) == 2 and len(widget.hist_ax.patches) == 2, timeout=10_000)
    assert widget.hist_ax.get_xlabel() == "photons"
    widget.field_combo.setCurrentText("lpx")  # a new field redraws
    qtbot.waitUntil(lambda: widget.hist_ax.get_xlabel() == "lpx", timeout=10_000)
    widget.compare_canvas.draw()
    assert _color_pixels(widget.compare_canvas, blue) > 100 and _color_pixels(widget.compare_canvas, orange) > 100
    if SCREENSHOTS:
        for index, name in enumerate(["table", "scatter", "box", "compare"]):
            widget.tabs.setCurrentIndex(index)
            qtbot.wait(100)
            widget.grab().save(os.path.join(SCREENSHOTS, f"explorer_{name}.png"))


def test_compare_offers_only_the_files_the_filters_select(make_napari_viewer, filled_db, tmp_path):
    db_path, names = filled_db
    viewer, widget = _explorer(make_napari_viewer, db_path)
    movie = str(tmp_path / "data" / "movieA" / "movie")
    widget.family_combo.setCurrentText(movie)
    assert [n for n, _ in widget.checked_files()] == ["movie_pg_1_locs.hdf5", "movie_pg_2_locs.hdf5"]
    widget.family_files.item(1).setCheckState(Qt.CheckState.Unchecked)
    # The movie's two outputs are in different groups: a group shows its one file.
    widget.group_combo.setCurrentText("monday")
    assert [widget.family_files.item(i).text() for i in range(widget.family_files.count())] == ["movie_pg_1_locs.hdf5"]
    widget.group_combo.setCurrentText("tuesday")
    assert widget.family_combo.currentText() == movie
    assert [widget.family_files.item(i).text() for i in range(widget.family_files.count())] == ["movie_pg_2_locs.hdf5"]
    assert widget.checked_files() == []  # unchecked by the user, it stays so
    widget.group_combo.setCurrentText("(no group)")
    assert widget.family_combo.count() == 0 and widget.family_files.count() == 0
    widget.group_combo.setCurrentText("All groups")
    widget.filter_edit.setText("pg_1")
    assert [n for n, _ in widget.checked_files()] == ["movie_pg_1_locs.hdf5"]


def test_preview_opens_layers_and_missing_file_is_reported(make_napari_viewer, qtbot, filled_db, tmp_path):
    db_path, names = filled_db
    viewer, widget = _explorer(make_napari_viewer, db_path, show=True)
    viewer.window.resize(1600, 900)
    widget.filter_edit.setText("exp2_8")
    widget.table.selectRow(0)
    widget.preview_selected()  # read in a worker thread, layers added on return
    qtbot.waitUntil(lambda: len(viewer.layers) == 2, timeout=10_000)
    assert [layer.name for layer in viewer.layers] == ["exp2_8_locs render", "exp2_8_locs localizations"]
    image, points = viewer.layers
    assert len(points.data) == 520 and image.data.sum() == pytest.approx(520, rel=0.05)
    # The render lies on the camera pixel grid: its extent is the 32 x 32 frame.
    assert np.allclose(image.extent.world[:, -2:], [[-0.5, -0.5], [31.5, 31.5]], atol=0.2)
    screenshot = viewer.screenshot(canvas_only=True)
    assert screenshot.shape[1] > 600
    assert (screenshot[..., :3].max(axis=-1) > 100).sum() > 20  # the nine rendered sites
    if SCREENSHOTS:
        viewer.screenshot(os.path.join(SCREENSHOTS, "explorer_preview_render.png"), canvas_only=True)
    points.visible = True
    with_points = viewer.screenshot(canvas_only=True)
    assert np.abs(with_points.astype(int) - screenshot).sum() > 0
    if SCREENSHOTS:
        viewer.screenshot(os.path.join(SCREENSHOTS, "explorer_preview.png"), canvas_only=False)

    # A moved file: marked missing on "Check files", preview reports instead of crashing.
    shutil.move(tmp_path / "data" / "day2", tmp_path / "moved")
    widget.check_files()
    assert widget.model.rows[0]["status"] == "missing"
    assert widget.preview(widget.model.rows[0]) == []
    assert "moved or deleted" in viewer.status


def test_preview_of_a_large_camera_frame_is_reduced_and_said(make_napari_viewer, db_path, tmp_path, picasso_locs):
    from napari_picasso.io.locs import load_locs, save_locs

    locs, info = load_locs(picasso_locs)
    info[0] = {**info[0], "Width": 2048, "Height": 64}  # a wide camera frame, 2048 px
    wide = save_locs(tmp_path / "wide_locs.hdf5", locs, info)
    db = open_database(db_path)
    record_localization(db, wide, metrics={"nena_px": 0.1})
    db.close()
    viewer, widget = _explorer(make_napari_viewer, db_path)
    image, points = widget.preview(widget.model.rows[0])
    # 8 output px per camera px by default: 16384 px wide, reduced to 4096 (2 per camera px).
    assert image.data.shape == (128, 4096) and tuple(image.scale) == (0.5, 0.5)
    assert np.allclose(image.extent.world[:, -1], [-0.5, 2047.5], atol=0.3)  # still on the camera grid
    assert "rendered with 2 instead of 8" in viewer.status
    assert len(points.data) == len(locs)


def test_explorer_opens_from_the_plugin_menu(make_napari_viewer, db_path):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget("napari-picassosr", "Experiment explorer")
    assert type(widget).__name__ == "ExplorerWidget"
    assert str(db_path) in widget.path_label.text() and db_path.is_file()


def test_database_chosen_in_the_explorer_is_remembered(make_napari_viewer, filled_db, tmp_path, monkeypatch):
    from napari_picasso.db import default_database_path

    db_path, names = filled_db
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NAPARI_PICASSO_DB")
    viewer, widget = _explorer(make_napari_viewer, None)
    assert widget.path_label.text() == f"Database: {tmp_path / 'home' / '.picasso' / 'napari_picasso.db'}"
    widget.set_database(db_path, remember=True)  # what the Open button does with the chosen file
    assert sorted(names) == _shown(widget)
    assert default_database_path() == db_path  # every front end's default now
    viewer.window.remove_dock_widget("all")
    from napari_picasso._widgets.explorer import ExplorerWidget

    again = ExplorerWidget(viewer)
    assert again.path_label.text() == f"Database: {db_path} (setting in ~/.picasso/settings.yaml)"
    assert sorted(names) == _shown(again)


def test_add_folder_in_the_background_with_a_group_and_estimate_again(
    make_napari_viewer, qtbot, db_path, filled_db, tmp_path
):
    import threading

    import napari_picasso.db.store as store

    fresh = tmp_path / "fresh.db"  # filled_db's files, not yet in this database
    viewer, widget = _explorer(make_napari_viewer, fresh)
    assert widget.model.rowCount() == 0
    threads = []
    original = store.record_localization

    def recording_record_localization(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    store.record_localization = recording_record_localization
    try:
        reports = []
        widget.add_group_edit.setText("imported")
        worker = widget.add_paths([tmp_path / "data"], group=widget.added_group(), block=False, done=reports.append)
        qtbot.waitUntil(lambda: bool(reports), timeout=60_000)
        qtbot.waitUntil(lambda: worker not in widget._workers, timeout=10_000)
    finally:
        store.record_localization = original
    # every file was read off the GUI thread, one at a time
    assert len(threads) == 9 and threading.main_thread().name not in threads
    assert len(reports[0].added) == 9 and widget.add_status.text() == "9 added, 0 unchanged, 0 skipped"
    assert widget.model.rowCount() == 9 and {r["group_name"] for r in widget.model.rows} == {"imported"}

    # Estimate selected: a figure spoiled in the database is computed again from the file
    with open_database(fresh) as db:
        db.execute("UPDATE localizations SET locs_per_frame = -1")
        db.conn.commit()
    qtbot.waitUntil(lambda: all(r["locs_per_frame"] == -1 for r in widget.model.rows), timeout=10_000)
    widget.table.selectRow(0)
    chosen = widget.selected_rows()[0]["locs_path"]
    reports.clear()
    widget.estimate_selected(done=reports.append)
    qtbot.waitUntil(lambda: bool(reports), timeout=60_000)
    by_path = {r["locs_path"]: r for r in widget.model.rows}
    assert by_path[chosen]["locs_per_frame"] > 0 and by_path[chosen]["group_name"] == "imported"
    assert sum(r["locs_per_frame"] == -1 for r in widget.model.rows) == 8


def test_compare_offers_the_fields_the_files_hold(make_napari_viewer, tmp_path, db_path):
    from napari_picasso.io.locs import save_locs

    rng = np.random.default_rng(2)
    locs = np.zeros(
        500,
        dtype=[
            ("frame", "u4"),
            ("x", "f4"),
            ("y", "f4"),
            ("photons", "f4"),
            ("sx", "f4"),
            ("sy", "f4"),
            ("bg", "f4"),
            ("lpx", "f4"),
            ("lpy", "f4"),
            ("z", "f4"),
            ("lpz", "f4"),
        ],
    )
    locs["frame"] = np.sort(rng.integers(0, 100, 500))
    locs["x"], locs["y"] = rng.uniform(2, 30, 500), rng.uniform(2, 30, 500)
    locs["photons"], locs["sx"], locs["sy"], locs["bg"], locs["lpx"], locs["lpy"] = 1000, 1, 1, 10, 0.05, 0.05
    locs["z"], locs["lpz"] = rng.normal(0, 200, 500), 20
    info = [{"Width": 32, "Height": 32, "Frames": 100}, {"Generated by": "test", "Pixelsize": 130}]
    path = save_locs(tmp_path / "cell3d_locs.hdf5", locs, info)
    with open_database(db_path) as db:
        record_localization(db, path)
    viewer, widget = _explorer(make_napari_viewer, db_path)
    fields = [widget.field_combo.itemText(i) for i in range(widget.field_combo.count())]
    assert fields[:3] == ["photons", "lpx", "sx"] and "z" in fields and "lpz" in fields and "frame" not in fields
    widget.field_combo.setCurrentText("z")
    widget.draw_compare(block=True)
    assert widget.hist_ax.get_xlabel() == "z" or "z" in widget.hist_ax.get_title()
