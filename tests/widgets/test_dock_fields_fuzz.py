"""Every field of every dock, driven with random and hostile text in a real viewer (issue 17).

All five docks are open beside a movie with the live preview on. A seeded sequence of a few
hundred edits types or pastes text into the line edits, spin boxes and text boxes (select
all, Delete or paste, then Enter or Tab, as a user does), picks menu entries and clicks
check boxes. Any exception that reaches the event loop, any preview worker that fails with
an exception (bad values are said in the dock, never raised) and any Localize parameter
reading that raises something other than a ParameterError fails the test, naming the edit.
"""

import os
import random
import string

import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)
from test_localize_widget import _dock, _private_settings, movie_layer  # noqa: F401

from napari_picasso.io.errors import ParameterError

DOCKS = ("Localize", "Undrift", "3D calibration", "Watcher", "Experiment explorer")
EDITS = 300
SEED = int(os.environ.get("NAPARI_PICASSO_FUZZ_SEED", "17"))  # other seeds: other sequences
HOSTILE = [
    "",
    " ",
    "abc",
    "1,2,3",
    "45, 41, 10, 6",
    "-5, 0, 20, 20",
    "0, 0, 100, 20",
    "0, 0, 3, 3",
    "4, 4, 30, 30; 34, 30, 60, 60",
    "4,4,30,30;;",
    "1e400",
    "-1e400",
    "nan",
    "inf",
    "-inf",
    "0",
    "-1",
    "-",
    "+",
    "+-",
    "99999999999999999999999",
    "0.000000001",
    "0:-3",
    "-30:0",
    "3:1",
    "1:2:0",
    ":",
    ";;;",
    "0x1F",
    "1_000",
    "\u00bd",
    "\u0663",
    "\U0001f600",
    "a\x00b",
    "\x00",
    "../../etc/passwd",
    "/",
    ".",
    "~",
    "~nosuchuser/x",
    "C:\\Windows\\x.yaml",
    "'; DROP TABLE files; --",
    "%s%n%x",
    "{0}{}",
    "<b>bold</b>",
    "\n\n",
    "\t",
    "9" * 300,
    "x" * 2000,
    "/dev/null",
    "*.hdf5",
    "[",
    "(",
    "\\",
    "tcp://",
    "tcp://nosuchhost.invalid:8786",
]


def _fields(root):
    """``(kind, widget)`` of everything a user types into, picks or ticks under ``root``."""
    found = []
    for widget in root.findChildren(QWidget):
        parent = widget.parent()
        if isinstance(widget, QAbstractSpinBox):
            found.append(("spin", widget))
        elif isinstance(widget, QLineEdit):
            if not isinstance(parent, (QAbstractSpinBox, QComboBox)) and not widget.isReadOnly():
                found.append(("line", widget))
        elif isinstance(widget, QPlainTextEdit) and not widget.isReadOnly():
            found.append(("text", widget))
        elif isinstance(widget, QComboBox):
            found.append(("menu", widget))
        elif isinstance(widget, QCheckBox):
            found.append(("tick", widget))
    return found


def _random_text(rng, existing):
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(HOSTILE + existing)
    if roll < 0.75:  # printable junk
        return "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 24)))
    # a value mutated: a character inserted, dropped or a sign flipped
    text = rng.choice(["4, 4, 30, 30", "7", "1500", "-30:0", "0.5", "100", "10, 6, 45, 41"] + existing)
    position = rng.randint(0, len(text))
    return text[:position] + rng.choice(",;:-. e0x") + text[position + rng.randint(0, 1) :]


def _select_all_and(qtbot, widget, key=Qt.Key.Key_Delete):
    qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(widget, key)


def _type(qtbot, rng, kind, widget, text):
    """Edit a field as a user does; returns what was done (for the failure message)."""
    widget.setFocus()
    if kind == "menu":
        if widget.count():
            index = rng.randrange(widget.count())
            widget.setCurrentIndex(index)  # a pick in the open menu
            return f"picked {widget.itemText(index)!r}"
        return "empty menu"
    if kind == "tick":
        widget.click()
        return f"ticked {widget.isChecked()}"
    if kind == "text":
        widget.selectAll()
        widget.insertPlainText(text)
        return f"typed {text!r}"
    target = widget.lineEdit() if kind == "spin" else widget
    if rng.random() < 0.5 and text.isascii() and text.isprintable():  # QTest types ASCII only
        _select_all_and(qtbot, target)
        qtbot.keyClicks(target, text)
        done = f"typed {text!r}"
    else:  # pasted (any characters)
        QApplication.clipboard().setText(text)
        qtbot.keyClick(target, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyClick(target, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
        done = f"pasted {text!r}"
    finish = rng.choice([Qt.Key.Key_Return, Qt.Key.Key_Tab, None])
    if finish is not None:
        qtbot.keyClick(target, finish)
    return done


def _describe(kind, widget):
    parts = [kind, type(widget).__name__]
    for text in (widget.objectName(), widget.toolTip(), getattr(widget, "placeholderText", lambda: "")()):
        if text:
            parts.append(repr(text[:40]))
    return " ".join(parts)


def test_every_dock_field_survives_hostile_text(make_napari_viewer, qtbot, movie_copy, tmp_path, monkeypatch):
    path, _, _ = movie_copy
    monkeypatch.chdir(tmp_path)  # relative paths typed into fields land here
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(b"\x89HDF\x00: [unclosed\n\t- {")
    existing = [str(path), str(path.with_suffix(".yaml")), str(garbage), str(tmp_path), str(tmp_path / "new" / "x")]
    viewer = make_napari_viewer(show=True)
    movie_layer(viewer, path)
    docks = {name: viewer.window.add_plugin_dock_widget("napari-picassosr", name)[1] for name in DOCKS}
    localize = docks["Localize"]
    assert localize is _dock(viewer)
    for collapsible in localize.collapsibles.values():
        collapsible.expand(animate=False)
    localize.preview.preview.value = True
    worker_errors = []
    monkeypatch.setattr(localize, "_preview_failed", worker_errors.append)
    fields = []
    for name, dock in docks.items():
        root = dock if isinstance(dock, QWidget) else dock.native
        fields += [(name, kind, widget) for kind, widget in _fields(root)]
    kinds = {kind for _, kind, _ in fields}
    assert {"spin", "line", "text", "menu", "tick"} <= kinds, kinds
    assert len(fields) > 40, len(fields)

    rng = random.Random(SEED)
    # Every field once, in random order, then random fields (typing three times as often).
    order = rng.sample(fields, len(fields))
    weights = [3 if kind in ("line", "text", "spin") else 1 for _, kind, _ in fields]
    order += rng.choices(fields, weights, k=max(0, EDITS - len(order)))
    done = []
    with qtbot.capture_exceptions() as exceptions:
        for step, (name, kind, widget) in enumerate(order):
            if not widget.isEnabled():
                continue
            text = _random_text(rng, existing)
            done.append(f"{step}: {name} {_describe(kind, widget)} {_type(qtbot, rng, kind, widget, text)}")
            qtbot.wait(1)
            try:
                localize.parameters()
            except ParameterError:
                pass
            except Exception as error:  # noqa: BLE001  (the failure names the edit)
                pytest.fail(f"reading the Localize dock raised {error!r} after\n" + "\n".join(done[-5:]))
            assert not exceptions, "after\n" + "\n".join(done[-5:]) + f"\n{exceptions}"
            assert not worker_errors, "after\n" + "\n".join(done[-5:]) + f"\n{worker_errors}"
        qtbot.waitUntil(lambda: not localize.preview_busy, timeout=30000)
        qtbot.wait(50)
    assert not exceptions, exceptions
    assert not worker_errors, worker_errors
    assert len(done) > EDITS // 2


def test_half_typed_whole_numbers(make_napari_viewer, qtbot, movie_copy):
    """A lone sign typed into any whole-number box, then Enter or Tab: the value stays."""
    path, _, _ = movie_copy
    viewer = make_napari_viewer(show=True)
    movie_layer(viewer, path)
    docks = [viewer.window.add_plugin_dock_widget("napari-picassosr", name)[1] for name in DOCKS]
    boxes = []
    for dock in docks:
        root = dock if isinstance(dock, QWidget) else dock.native
        boxes += [w for kind, w in _fields(root) if kind == "spin" and type(w).__name__ == "QLargeIntSpinBox"]
    assert len(boxes) >= 5, boxes
    with qtbot.capture_exceptions() as exceptions:
        for box in boxes:
            for sign, key in (("-", Qt.Key.Key_Return), ("+", Qt.Key.Key_Tab), ("-", Qt.Key.Key_Enter)):
                before = box.value()
                box.setFocus()
                _select_all_and(qtbot, box.lineEdit())
                qtbot.keyClicks(box.lineEdit(), sign)
                qtbot.keyClick(box.lineEdit(), key)
                box.clearFocus()
                assert box.value() == before
    assert not exceptions, exceptions
