"""Where the Localize dock writes, as a user meets it (issue 17, items 2 and 7), in a real viewer.

The folder is typed into "save in", movies are chosen in the dock's movie menu, Localize is
clicked, and the question about an earlier output is answered by clicking its buttons.
"""

import json
import os
import shutil
from pathlib import Path

import pytest
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QApplication, QMessageBox
from test_dock_roi import type_text
from test_localize_widget import _dock, _private_settings, _set_camera, movie_layer  # noqa: F401

from napari_picasso._widgets import localize as localize_module
from napari_picasso._widgets.localize import ask_about_existing as ASK_ABOUT_EXISTING
from napari_picasso.io.locs import free_locs_path, load_locs
from napari_picasso.output_folders import OutputFolders
from napari_picasso.simulate import suggested_min_net_gradient as gradient_for


def _copy_movie(path, folder):
    folder.mkdir(parents=True, exist_ok=True)
    for source in (path, path.with_suffix(".yaml")):
        shutil.copy(source, folder / source.name)
    return folder / path.name


def _localize(qtbot, widget):
    """Click Localize and wait for the run; the path written."""
    widget.fit.localize.native.click()
    qtbot.waitUntil(lambda: not widget.localize_busy, timeout=240000)  # a first run compiles
    assert widget.last_output is not None and not widget.last_output["cancelled"], widget.fit.status.value
    return Path(widget.last_output["result"].locs_path)


def _choose_movie(widget, layer):
    widget.identification.movie.value = layer  # the dock's movie menu
    widget.identification.last_frame.value = 39  # short runs


@pytest.fixture
def two_movies(make_napari_viewer, movie_copy, tmp_path):
    """Two movies of the same name in different folders, open in one viewer with the dock."""
    path, truth, camera = movie_copy
    other = _copy_movie(path, tmp_path / "other day")
    viewer = make_napari_viewer(show=True)
    first = movie_layer(viewer, path)
    second = movie_layer(viewer, other)
    widget = _dock(viewer)
    _set_camera(widget, camera, gradient_for(1500, camera))
    return viewer, widget, (first, path), (second, other)


def test_save_in_folder_belongs_to_one_movie(two_movies, qtbot, tmp_path):
    viewer, widget, (first, first_path), (second, second_path) = two_movies
    fit = widget.fit
    chosen = tmp_path / "results for the first movie" / "a rather long folder name to elide in the dock"
    _choose_movie(widget, first)
    assert fit.output_path.text() == f"\u2192 {first_path.with_name('blinking_locs.hdf5')}"
    type_text(qtbot, fit.out_folder.line_edit.native, str(chosen))
    expected = chosen / "blinking_locs.hdf5"
    # The whole output path, elided in the middle (the tooltip and the text keep all of it).
    assert fit.output_path.text() == f"\u2192 {expected}" and fit.output_path.toolTip() == str(expected)
    assert fit.output_path.elideMode() == Qt.TextElideMode.ElideMiddle
    assert _localize(qtbot, widget) == expected and expected.exists()
    # The result line names the full output path.
    assert str(expected) in fit.status.value.replace("\n", "")

    # The other movie: beside it, not in the first movie's folder.
    _choose_movie(widget, second)
    assert fit.output_folder() is None and fit.out_folder.line_edit.value == ""
    beside = second_path.with_name("blinking_locs.hdf5")
    assert fit.output_path.text() == f"\u2192 {beside}"
    assert _localize(qtbot, widget) == beside
    assert str(beside) in fit.status.value.replace("\n", "")
    # Back to the first: its folder again.
    _choose_movie(widget, first)
    assert Path(str(fit.out_folder.value)) == chosen

    # Not remembered for the next session (it belongs to one movie)...
    remembered = json.loads(Path(os.environ["NAPARI_PICASSO_SETTINGS"]).read_text())
    assert remembered["out_folder"] == "" and remembered["out_folder_all_movies"] is False
    # ...unless ticked "for all movies": then every movie goes there, now and next session.
    everything = tmp_path / "all results"
    type_text(qtbot, fit.out_folder.line_edit.native, str(everything))
    fit.all_movies.native.click()
    _choose_movie(widget, second)
    assert Path(str(fit.out_folder.value)) == everything
    assert _localize(qtbot, widget) == everything / "blinking_locs.hdf5"
    viewer.window.remove_dock_widget("all")
    again = _dock(viewer)
    assert again.fit.all_movies.value and Path(str(again.fit.out_folder.value)) == everything
    # Unticked: beside each movie again (the current movie keeps the folder typed for it).
    again.fit.all_movies.native.click()
    _choose_movie(again, first)
    assert again.fit.output_folder() is None


def test_long_output_path_keeps_the_dock_narrow(two_movies, qtbot, tmp_path):
    viewer, widget, (first, _), _ = two_movies
    _choose_movie(widget, first)
    qtbot.wait(50)
    width = widget.sizeHint().width(), widget.minimumSizeHint().width()
    deep = tmp_path.joinpath(*[f"level{i}-with-a-long-folder-name" for i in range(8)])
    type_text(qtbot, widget.fit.out_folder.line_edit.native, str(deep))
    _localize(qtbot, widget)
    qtbot.wait(50)
    assert str(deep / "blinking_locs.hdf5") in widget.fit.status.value
    assert (widget.sizeHint().width(), widget.minimumSizeHint().width()) <= (width[0] + 5, width[1] + 5)


def _answer(box_text, button_text):
    """Click ``button_text`` in the next question box (its text goes into ``box_text``)."""

    def click():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            box_text.append(f"{box.windowTitle()}\n{box.text()}\n{box.informativeText()}")
            for button in box.buttons():
                if button.text() == button_text:
                    button.click()
                    return
        QTimer.singleShot(50, click)

    QTimer.singleShot(50, click)


def test_existing_locs_replace_keep_or_cancel(two_movies, qtbot, monkeypatch):
    viewer, widget, (first, path), _ = two_movies
    monkeypatch.setattr(localize_module, "ask_about_existing", ASK_ABOUT_EXISTING)  # the real question box
    _choose_movie(widget, first)
    locs_path = _localize(qtbot, widget)
    original = locs_path.read_bytes(), locs_path.with_suffix(".yaml").read_bytes()
    n_locs = len(load_locs(locs_path, with_info=False))

    # Keep: the real question box, answered with a click; the earlier pair stays as it was.
    shown = []
    _answer(shown, "Keep it, write a new file")
    kept = _localize(qtbot, widget)
    assert shown and "Earlier localizations" in shown[0] and "blinking_locs.hdf5 already exists" in shown[0]
    assert "blinking-2_locs.hdf5" in shown[0]
    assert kept == path.with_name("blinking-2_locs.hdf5") and len(load_locs(kept, with_info=False)) == n_locs
    assert (locs_path.read_bytes(), locs_path.with_suffix(".yaml").read_bytes()) == original
    assert str(kept) in widget.fit.status.value

    # Cancel: nothing runs, nothing changes.
    shown.clear()
    _answer(shown, "Cancel")
    widget.fit.localize.native.click()
    assert shown and not widget.localize_busy
    assert "not started" in widget.fit.status.value and "kept as it was" in widget.fit.status.value
    assert (locs_path.read_bytes(), locs_path.with_suffix(".yaml").read_bytes()) == original

    # Replace (the question function answered by a stand-in): the same file, said so.
    asked = []
    monkeypatch.setattr(
        localize_module, "ask_about_existing", lambda parent, p, existing: asked.append((p, existing)) or "replace"
    )
    widget.identification.last_frame.value = 19  # a different run: different bytes
    assert _localize(qtbot, widget) == locs_path
    assert asked == [(locs_path, [locs_path, locs_path.with_suffix(".yaml")])]
    assert "replaced the earlier file" in widget.fit.status.value
    assert locs_path.with_suffix(".yaml").read_bytes() != original[1]
    assert len(load_locs(locs_path, with_info=False)) < n_locs


def test_free_locs_path_and_output_folders(tmp_path):
    first = tmp_path / "movie_locs.hdf5"
    assert free_locs_path(first).name == "movie-2_locs.hdf5"
    (tmp_path / "movie-2_locs.yaml").write_text("")  # a leftover .yaml also takes the name
    assert free_locs_path(first).name == "movie-3_locs.hdf5"
    folders = OutputFolders()
    folders.choose("a", "/x")
    assert (folders.folder_for("a"), folders.folder_for("b")) == ("/x", None)
    folders.choose("a", "")
    assert folders.folder_for("a") is None
