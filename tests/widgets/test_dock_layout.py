"""Every dock open at once on a 1366x768 screen: the window fits, Localize stays reachable."""

import os
import shutil
from pathlib import Path

import pytest
import yaml
from magicgui.widgets import CheckBox, Label, PushButton
from qtpy.QtCore import QPoint, QRect, Qt
from qtpy.QtWidgets import QTabBar

SCREEN = QRect(0, 0, 1366, 768)
MANIFEST = Path(__file__).resolve().parents[2] / "src" / "napari_picasso" / "napari.yaml"
SCREENSHOT_ENV = "NAPARI_PICASSO_SCREENSHOTS"


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_PICASSO_SETTINGS", str(tmp_path / "settings" / "localize.json"))
    monkeypatch.setenv("NAPARI_PICASSO_CONFIG", str(tmp_path / "settings" / "no-config.yaml"))


def _dock_names():
    return [w["display_name"] for w in yaml.safe_load(MANIFEST.read_text())["contributions"]["widgets"]]


def _on_screen(widget, whole=True):
    """The widget is shown inside SCREEN (``whole``: all of it, not cut by a scroll area's edge)."""
    shown = widget.visibleRegion().boundingRect()
    if not widget.isVisible() or shown.isEmpty() or (whole and shown != widget.rect()):
        return False
    return SCREEN.contains(QRect(widget.mapToGlobal(shown.topLeft()), shown.size()))


def _fits(window):
    return SCREEN.contains(window.frameGeometry()) and window.minimumSizeHint().height() <= SCREEN.height()


def _screenshot(viewer, tmp_path, name):
    path = tmp_path / name
    viewer.screenshot(str(path), canvas_only=False)
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copy(path, Path(os.environ[SCREENSHOT_ENV]) / name)


def test_all_docks_fit_a_1366x768_screen_and_localize_is_reachable(make_napari_viewer, qtbot, tmp_path, movie_copy):
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.setGeometry(SCREEN)
    path, _, camera = movie_copy
    viewer.open(path, plugin="napari-picassosr")
    docks = {}
    for name in _dock_names():  # as a user opens them from the Plugins menu, one by one
        docks[name] = viewer.window.add_plugin_dock_widget("napari-picassosr", name)
        qtbot.wait(50)
        assert _fits(window), f"after opening {name}: {window.frameGeometry()} on {SCREEN}"
    assert len(docks) == 6

    # The frame slider and the status bar stay on the screen.
    assert _on_screen(viewer.window._qt_viewer.dims)
    assert _on_screen(window.statusBar())

    # Localize is a tab beside the others: one click brings it up, its button in sight.
    bars = [bar for bar in window.findChildren(QTabBar) if bar.isVisible()]
    tabs = [(bar, i) for bar in bars for i in range(bar.count()) if bar.tabText(i).startswith("Localize")]
    assert len(tabs) == 1
    bar, index = tabs[0]
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    qtbot.wait(50)
    dock, widget = docks["Localize"]
    button = widget.fit.localize.native
    assert _on_screen(button) and _on_screen(widget.fit.status.native)
    _screenshot(viewer, tmp_path, "all_docks_1366x768.png")
    # Labels in one column: every labelled field of every section starts at the same x.
    starts = {
        field.native.mapTo(widget, QPoint(0, 0)).x()
        for section in (widget.identification, widget.photons, widget.fit)
        for field in section
        if field.label and field.native.isVisible() and not isinstance(field, (CheckBox, PushButton, Label))
    }
    assert len(starts) == 1, starts

    widget.identification.min_net_gradient.value = 3000
    widget.photons.baseline.value = camera.baseline
    widget.photons.sensitivity.value = camera.sensitivity
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not widget.localize_busy, timeout=120000)
    assert "localizations in 300 frames" in widget.fit.status.value
    assert _on_screen(widget.fit.status.native)  # the summary too, after a run
    assert _fits(window)

    # Every other dock shows its own action when its tab is chosen.
    actions = {
        "Experiment explorer": lambda w: w.table,
        "Watcher": lambda w: w.start_button,
        "Undrift": lambda w: w.run_button.native,
        "3D calibration": lambda w: w.button.native,
    }
    for name, action in actions.items():
        docks[name][0].raise_()
        qtbot.wait(50)
        assert _on_screen(action(docks[name][1]), whole=name != "Experiment explorer"), name

    # Closed with their x, the window stays on the screen.
    for dock, _ in docks.values():
        dock.title.close_button.click()
        qtbot.wait(20)
    assert _fits(window) and _on_screen(viewer.window._qt_viewer.dims)
