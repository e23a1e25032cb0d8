"""The Localize dock's ROI as a user meets it (issue 17, items 1, 6, 9), in a real viewer.

Text is typed into the ROI field with the keyboard (select all, Delete, keys), rectangles are
drawn into Shapes layers, the preview layer is hidden with its eye; every step runs inside
``qtbot.capture_exceptions`` and fails on any exception that reaches the event loop.
"""

import numpy as np
import pytest
from qtpy.QtCore import Qt
from test_localize_widget import _dock, _inside, _private_settings, _set_camera, movie_layer  # noqa: F401

from napari_picasso.io.errors import ParameterError
from napari_picasso.io.locs import load_locs
from napari_picasso.parameters import roi_keywords
from napari_picasso.simulate import suggested_min_net_gradient as gradient_for

RECT = (10, 6, 45, 41)
RECT_VERTICES = np.array([[9.5, 5.5], [9.5, 40.5], [44.5, 40.5], [44.5, 5.5]])
BAD_TEXTS = {
    "abc": "not four numbers",
    "1,2,3": "not four numbers",
    "45, 41, 10, 6": "write 10, 6, 45, 41",  # reversed: the message says how to write it
    "-5, 0, 20, 20": "outside the 64x64 frame",
    "0, 0, 100, 20": "outside the 64x64 frame",
    "0, 0, 3, 3": "smaller than one box",
    "1e400, 0, 2, 2": "not four numbers",
}


def type_text(qtbot, edit, text):
    """Select all, Delete, then type ``text`` key by key (a QLineEdit, as a user does)."""
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    if text:
        qtbot.keyClicks(edit, text)


def _preview_of(qtbot, widget):
    """The preview of the current frame, once no preview runs or waits."""
    frame = widget.current_frame()
    qtbot.waitUntil(
        lambda: (
            not widget.preview_busy
            and not widget._preview_pending
            and widget.preview_result is not None
            and widget.preview_result["frame"] == frame
        ),
        timeout=20000,
    )
    return widget.preview_result


@pytest.fixture
def dock(make_napari_viewer, movie_copy):
    path, truth, camera = movie_copy
    viewer = make_napari_viewer(show=True)
    movie_layer(viewer, path)
    widget = _dock(viewer)
    _set_camera(widget, camera, gradient_for(1500, camera))
    widget.identification.last_frame.value = 59  # short runs
    return viewer, widget, path, truth


def _busy_frame(truth):
    """A frame with emitters inside and outside RECT."""
    for frame in np.unique(truth["frame"]):
        on = truth[truth["frame"] == frame]
        inside = _inside(on["y"], on["x"], RECT, margin=4)
        if 2 <= inside.sum() < len(on) - 1:
            return int(frame)
    raise AssertionError("no frame with spots inside and outside")


def test_roi_field_text_never_raises_preview_and_localize_agree(dock, qtbot):
    viewer, widget, path, truth = dock
    ident = widget.identification
    edit = ident.roi_text.native
    frame = _busy_frame(truth)
    viewer.dims.set_current_step(0, frame)
    widget.preview.preview.value = True
    with qtbot.capture_exceptions() as exceptions:
        type_text(qtbot, edit, "10, 6, 45, 41")
        shapes = ident.roi_layer.value
        assert shapes is not None and len(shapes.data) == 1  # the typed rectangle is drawn
        found = _preview_of(qtbot, widget)
        assert len(found["y"]) and np.all(_inside(found["y"], found["x"], RECT))

        # Emptying the field (select all, Delete) with the Shapes layer linked: the whole
        # frame, for the preview and for Localize, and the rectangle leaves the layer.
        type_text(qtbot, edit, "")
        assert ident.roi_text.value == "" and ident.roi_message.value == ""
        assert len(shapes.data) == 0
        assert widget.parameters().roi is None and widget.parameters().rois is None
        found = _preview_of(qtbot, widget)
        assert not np.all(_inside(found["y"], found["x"], RECT))  # spots outside the old ROI

        # Bad text: a message next to the field; the preview shows no squares and
        # Localize refuses with the same message (neither uses another ROI).
        for text, message in BAD_TEXTS.items():
            type_text(qtbot, edit, text)
            assert message in ident.roi_message.value.replace("\n", " "), (text, ident.roi_message.value)
            assert ident.roi_message.visible
            found = _preview_of(qtbot, widget)
            assert "error" in found and len(widget.preview_layer.data) == 0
            widget.fit.localize.native.click()
            assert not widget.localize_busy
            assert message in widget.fit.status.value.replace("\n", " ")

        # A good rectangle again: the preview and the run use it.
        type_text(qtbot, edit, "10, 6, 45, 41")
        assert ident.roi_message.value == "" and len(shapes.data) == 1
        found = _preview_of(qtbot, widget)
        assert len(found["y"]) and np.all(_inside(found["y"], found["x"], RECT))
        widget.fit.localize.native.click()
        qtbot.waitUntil(lambda: not widget.localize_busy, timeout=240000)  # a first run compiles
    assert not exceptions, exceptions
    locs, info = load_locs(path.with_name("blinking_locs.hdf5"))
    assert info[1]["ROI"] == list(RECT)
    assert len(locs) and np.all(_inside(locs["y"], locs["x"], RECT, margin=-1.0))


def test_roi_keywords_is_the_one_reading():
    assert roi_keywords("", 64, 64) == {}
    assert roi_keywords("10, 6, 45, 41", 64, 64, box=7) == {"roi": RECT}
    assert roi_keywords("1,1,20,20; 30,30,60,60", 64, 64) == {"rois": ((1, 1, 20, 20), (30, 30, 60, 60))}
    for text, message in BAD_TEXTS.items():
        with pytest.raises(ParameterError) as error:
            roi_keywords(text, 64, 64, box=7)
        assert message in str(error.value)


def test_drawn_shapes_layer_is_the_roi(dock, qtbot):
    viewer, widget, path, truth = dock
    ident = widget.identification
    frame = _busy_frame(truth)
    viewer.dims.set_current_step(0, frame)
    widget.preview.preview.value = True
    with qtbot.capture_exceptions() as exceptions:
        # napari's "new shapes layer" button makes a layer with the viewer's 3 dimensions.
        drawn = viewer.add_shapes(ndim=3, name="Shapes")
        assert ident.roi_layer.value is drawn  # the only Shapes layer: picked up
        drawn.add(np.column_stack([np.full(4, frame), RECT_VERTICES]), shape_type="rectangle")
        assert ident.roi_text.value == "10, 6, 45, 41"
        found = _preview_of(qtbot, widget)
        assert len(found["y"]) and np.all(_inside(found["y"], found["x"], RECT))
        assert widget.parameters().roi == RECT

        # A second layer, drawn into after the first: the one just drawn is the ROI.
        other = viewer.add_shapes(ndim=2, name="other")
        assert ident.roi_layer.value is drawn  # not the only one: nothing changes yet
        other.add(np.array([[19.5, 19.5], [19.5, 59.5], [59.5, 59.5], [59.5, 19.5]]), shape_type="rectangle")
        assert ident.roi_layer.value is other and ident.roi_text.value == "20, 20, 60, 60"
        found = _preview_of(qtbot, widget)
        assert np.all(_inside(found["y"], found["x"], (20, 20, 60, 60)))

        # Typed text goes into a 3D layer on the current frame.
        ident.roi_layer.value = drawn
        assert ident.roi_text.value == "10, 6, 45, 41"
        type_text(qtbot, ident.roi_text.native, "4, 4, 30, 30")
        assert len(drawn.data) == 1 and np.all(drawn.data[0][:, 0] == frame)
        assert ident.roi_text.value == "4, 4, 30, 30" and widget.parameters().roi == (4, 4, 30, 30)

        # Deleting the linked layer: its rectangles go, the other layer (now the only one) is linked.
        viewer.layers.remove(drawn)
        assert ident.roi_layer.value is other and ident.roi_text.value == "20, 20, 60, 60"
        viewer.layers.remove(other)
        assert ident.roi_layer.value is None and ident.roi_text.value == ""
        assert widget.parameters().roi is None
        _preview_of(qtbot, widget)
    assert not exceptions, exceptions


def test_hidden_preview_layer_updates_without_errors(dock, qtbot):
    viewer, widget, path, truth = dock
    widget.preview.preview.value = True
    _preview_of(qtbot, widget)
    layer = widget.preview_layer
    with qtbot.capture_exceptions() as exceptions:
        layer.visible = False  # the layer list's eye
        for frame in range(5, 60, 6):
            viewer.dims.set_current_step(0, frame)
            qtbot.wait(20)
        widget.identification.min_net_gradient.value = widget.identification.min_net_gradient.value * 0.9
        found = _preview_of(qtbot, widget)
        assert "hidden" in widget.preview.status.value
        layer.visible = True  # shown again: the current frame's squares
        qtbot.waitUntil(lambda: len(layer.data) == len(_preview_of(qtbot, widget)["y"]), timeout=20000)
        found = _preview_of(qtbot, widget)
        assert found["frame"] == 59 and np.allclose(layer.data, np.column_stack([found["y"], found["x"]]))
    assert not exceptions, exceptions
