"""The Watcher dock widget in a real napari viewer."""

import os
import time
from pathlib import Path

import numpy as np
import tifffile
import yaml

from napari_picasso.simulate import simulate_movie
from napari_picasso.watcher import WatcherStore


def _drop_tif(folder, name, frames):
    staged = folder.parent / name
    tifffile.imwrite(staged, frames, photometric="minisblack", contiguous=True)
    os.replace(staged, folder / name)
    return folder / name


def test_watcher_widget_runs_in_background_shows_log_and_stops(make_napari_viewer, qtbot, tmp_path, camera):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-picassosr", "Watcher")
    folder = tmp_path / "acquisitions"
    folder.mkdir()
    groups = tmp_path / "groups.yaml"
    groups.write_text(
        yaml.safe_dump(
            [
                {"gradient": 1500, "baseline": camera.baseline, "sensitivity": camera.sensitivity},
                {"gradient": 1500, "box": 9, "baseline": camera.baseline, "sensitivity": camera.sensitivity},
            ]
        )
    )
    widget.add_folder(folder)
    widget.groups_path.setText(str(groups))
    widget.settle.setValue(0.3)
    widget.db_path.setText(str(tmp_path / "db.sqlite"))
    widget.log_path.setText(str(tmp_path / "watcher.log"))
    assert "every group" in widget.groups_label.text()

    widget.start_button.click()
    assert len(widget.watchers) == 1
    watcher = widget.watchers[0]
    qtbot.waitUntil(lambda: "running" in widget.watcher_list.item(0).text(), timeout=5000)

    frames, _ = simulate_movie(
        40,
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
    movie = _drop_tif(folder, "cell 1.tif", frames.astype(np.uint16))
    # The viewer stays usable while the watcher works in its thread.
    viewer.add_image(np.zeros((16, 16)), name="meanwhile")
    qtbot.waitUntil(lambda: widget.log_view.toPlainText().count("finished") == 2, timeout=30000)
    text = widget.log_view.toPlainText()
    assert "found" in text and movie.name in text and "cell 1_pg_2_locs.hdf5" in text
    assert (
        "2 done, 0 failed" in widget.watcher_list.item(0).text()
        and "acquisitions" in widget.watcher_list.item(0).text()
    )
    assert "meanwhile" in viewer.layers

    viewer.screenshot(str(tmp_path / "watcher_widget.png"), canvas_only=False)

    widget.stop_button.click()
    qtbot.waitUntil(lambda: not watcher.running, timeout=10000)
    qtbot.waitUntil(lambda: "stopped" in widget.watcher_list.item(0).text(), timeout=5000)
    qtbot.waitUntil(lambda: "outputs finished" in widget.log_view.toPlainText(), timeout=5000)
    assert not widget.stop_button.isEnabled()

    store = WatcherStore(tmp_path / "db.sqlite")
    try:
        rows = store.rows()
    finally:
        store.close()
    assert sorted(Path(r["locs_path"]).name for r in rows) == ["cell 1_pg_1_locs.hdf5", "cell 1_pg_2_locs.hdf5"]
    assert all(r["status"] == "ok" for r in rows)


def test_watcher_widget_reports_a_bad_groups_file(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-picassosr", "Watcher")
    widget.add_folder(tmp_path)
    groups = tmp_path / "groups.yaml"
    groups.write_text("- {box: 7, threshold: 3}\n")
    widget.groups_path.setText(str(groups))
    widget.start_button.click()
    assert widget.watchers == []
    assert "groups.yaml" in widget.message.text() and "unknown option 'threshold'" in widget.message.text()
    time.sleep(0.1)


def test_watcher_widget_command_timeout_reaches_the_watcher(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-picassosr", "Watcher")
    widget.add_folder(tmp_path)
    widget.db_path.setText(str(tmp_path / "db.sqlite"))
    assert widget.command_timeout.value() == 3600.0
    widget.command_timeout.setValue(12)
    widget.commands.setPlainText("true")
    watcher = widget.start_watcher()
    try:
        assert watcher.command_timeout_s == 12.0
    finally:
        widget.stop_all(wait=True)
    widget.command_timeout.setValue(0)  # "no limit"
    assert widget.command_timeout.text() == "no limit"


def test_watcher_widget_lists_a_command_line_watcher_and_sees_it_killed(make_napari_viewer, qtbot, tmp_path):
    import signal
    import subprocess
    import sys
    import threading

    from napari_picasso.watcher.status import find_logs

    if os.name == "nt":
        return  # SIGKILL
    folder, db_path = tmp_path / "acquisitions", tmp_path / "db.sqlite"
    folder.mkdir()
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "napari_picasso", "watch", str(folder), "--db", str(db_path), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        viewer = make_napari_viewer()
        _, widget = viewer.window.add_plugin_dock_widget("napari-picassosr", "Watcher")
        widget.add_folder(folder)
        widget.db_path.setText(str(db_path))
        qtbot.waitUntil(lambda: bool(find_logs([folder])), timeout=60000)
        # the panel's timer finds it, reading the database and logs in a worker thread
        qtbot.waitUntil(lambda: widget.other_list.count() == 1, timeout=60000)
        assert widget.others_discovered_in != threading.main_thread().name
        text = widget.other_list.item(0).text()
        assert text.startswith("running, 0 done, 0 failed: acquisitions") and f"process {process.pid} on " in text
        widget.other_list.setCurrentRow(0)
        assert "watching" in widget.log_view.toPlainText()
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    widget.refresh_others()
    assert widget.other_list.item(0).text().startswith("stopped (process gone), 0 done")
    assert widget.watchers == []  # only listed: not one of the panel's own


def _answer_question(qtbot, button_text):
    """Click ``button_text`` in the next modal question (as the user would)."""
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication, QMessageBox

    asked = []

    def click():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        asked.append((box.windowTitle(), box.text()))
        next(b for b in box.buttons() if b.text() == button_text).click()

    QTimer.singleShot(0, click)
    return asked


def _deleted(widget):
    try:
        widget.objectName()
    except RuntimeError:
        return True
    return False


def test_closing_the_watcher_dock_asks_and_a_reopened_dock_stops_it(make_napari_viewer, qtbot, tmp_path):
    from napari_picasso._widgets import watcher as watcher_dock

    viewer = make_napari_viewer(show=True)
    dock, widget = viewer.window.add_plugin_dock_widget("napari-picassosr", "Watcher")
    widget.add_folder(tmp_path)
    widget.db_path.setText(str(tmp_path / "db.sqlite"))
    widget.log_path.setText(str(tmp_path / "watcher.log"))
    widget.start_button.click()
    watcher = widget.watchers[0]
    qtbot.waitUntil(lambda: watcher.running, timeout=5000)

    # The x of the dock: the user keeps the watcher running.
    asked = _answer_question(qtbot, watcher_dock.KEEP_TEXT)
    dock.title.close_button.click()
    qtbot.waitUntil(lambda: bool(asked), timeout=5000)
    assert asked[0][0] == "Close the Watcher panel" and asked[0][1] == "1 watcher is running."
    assert not widget._timer.isActive() and not widget._others_timer.isActive()  # timers stop with it
    qtbot.waitUntil(lambda: _deleted(widget), timeout=5000)
    qtbot.wait(700)  # two ticks of the old refresh timer: nothing touches the deleted panel
    assert watcher.running and watcher_dock.KEPT_WATCHERS == [watcher]

    # Reopened, the dock lists it as running, with Stop.
    dock, widget = viewer.window.add_plugin_dock_widget("napari-picassosr", "Watcher")
    assert watcher_dock.KEPT_WATCHERS == [] and widget.watchers == [watcher]
    qtbot.waitUntil(lambda: widget.watcher_list.item(0).text().startswith("running"), timeout=5000)
    assert widget.tabs.tabText(1) == "Watchers (1)" and widget.stop_button.isEnabled()
    widget.stop_button.click()
    qtbot.waitUntil(lambda: not watcher.running, timeout=10000)
    qtbot.waitUntil(lambda: widget.watcher_list.item(0).text().startswith("stopped"), timeout=5000)

    # Another one, and this time the user stops it on closing.
    widget.add_folder(tmp_path)
    widget.db_path.setText(str(tmp_path / "db.sqlite"))
    widget.log_path.setText(str(tmp_path / "watcher2.log"))
    second = widget.start_watcher()
    qtbot.waitUntil(lambda: second.running, timeout=5000)
    asked = _answer_question(qtbot, watcher_dock.STOP_TEXT)
    dock.title.close_button.click()
    qtbot.waitUntil(lambda: bool(asked), timeout=5000)
    qtbot.waitUntil(lambda: not second.running, timeout=10000)
    assert watcher_dock.KEPT_WATCHERS == []

    # Nothing to ask when no watcher runs; the viewer closes without errors.
    dock, widget = viewer.window.add_plugin_dock_widget("napari-picassosr", "Watcher")
    assert widget.watchers == []
    dock.title.close_button.click()
    qtbot.waitUntil(lambda: _deleted(widget), timeout=5000)
    viewer.close()
