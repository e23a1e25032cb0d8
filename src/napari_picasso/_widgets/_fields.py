"""Dock fields made from the parameter schema (:data:`napari_picasso.parameters.SCHEMA`).

:func:`make_field` builds the magicgui widget of a :class:`~napari_picasso.parameters.Parameter`
(its label, limits, step, tooltip and default); :func:`read_field` gives what the user set as
the parameter's value; :func:`show_value` puts a value (or a remembered setting) back.
"""

import math

from magicgui.widgets import CheckBox, ComboBox, FileEdit, FloatSpinBox, LineEdit, SpinBox
from qtpy.QtCore import QEvent, QObject, Qt

from ..parameters import format_rectangles

_WHOLE_MAX = 10**9
_NUMBER_MAX = 1e9


def _decimals(item):
    if item.decimals is not None:
        return item.decimals
    step = item.step or 1.0
    return max(2, -math.floor(math.log10(step)))


class _WholeNumberGuard(QObject):
    """Puts a whole-number box's value back when Enter or leaving it would read text that is
    no whole number: superqt's QLargeIntSpinBox (magicgui's ``SpinBox``) raises ValueError
    on a lone ``-`` or ``+``, which its validator lets through while typing."""

    def eventFilter(self, box, event):
        kind = event.type()
        finishing = kind == QEvent.Type.FocusOut or (
            kind == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Enter, Qt.Key.Key_Return)
        )
        if finishing:
            text = box.lineEdit().displayText()
            try:
                int(text or "0")
            except ValueError:
                box.lineEdit().setText(str(box.value()))
        return False


def whole_numbers(spin_box):
    """``spin_box`` (a magicgui ``SpinBox``), guarded against half-typed numbers (see
    :class:`_WholeNumberGuard`)."""
    guard = _WholeNumberGuard(spin_box.native)
    spin_box.native.installEventFilter(guard)
    return spin_box


def make_field(item):
    """A magicgui widget for the parameter ``item``, showing its default."""
    common = {"label": item.label or item.name, "tooltip": item.help}
    kind = item.kind
    if kind == "int":
        return whole_numbers(
            SpinBox(
                value=item.default,
                min=int(item.minimum if item.minimum is not None else 0),
                max=int(item.maximum if item.maximum is not None else _WHOLE_MAX),
                step=int(item.step or 1),
                **common,
            )
        )
    if kind == "float":
        decimals = _decimals(item)
        low = item.minimum if item.minimum is not None else -_NUMBER_MAX
        if item.above_minimum and not item.optional:
            low += 10.0**-decimals
        if item.words:  # one step below the limit stands for the word ("auto")
            low -= item.step or 1.0
        widget = FloatSpinBox(
            value=0.0 if item.optional else item.default,
            min=low,
            max=item.maximum if item.maximum is not None else _NUMBER_MAX,
            step=item.step or 1.0,
            **common,
        )
        widget.native.setDecimals(decimals)
        if item.optional:  # its lowest value (0) stands for "unset"
            widget.native.setSpecialValueText(item.off_text or "off")
        if item.words:
            widget.native.setSpecialValueText(item.words[0])
        return widget
    if kind == "bool":
        return CheckBox(text=item.label or item.name, value=bool(item.default), tooltip=item.help)
    if kind == "choice":
        return ComboBox(choices=[(title, value) for value, title in item.choice_items()], value=item.default, **common)
    if kind in ("path", "file"):
        return FileEdit(mode="r", value="", **common)
    widget = LineEdit(value=_text(item, item.default), **common)
    if item.off_text:
        widget.native.setPlaceholderText(f"empty: {item.off_text}")
    return widget


def _text(item, value):
    if value is None:
        return ""
    if item.kind in ("pair", "rectangle"):
        return " ".join(str(int(v)) for v in value)
    if item.kind == "rectangles":
        return format_rectangles(value)
    return str(value)


def read_field(item, widget):
    """What the field says, as a user value for :meth:`Parameter.convert` (None: unset)."""
    if item.kind == "float" and item.words and float(widget.value) <= widget.min:
        return item.words[0]
    if item.kind == "float" and item.optional:
        value = float(widget.value)
        return value if value > 0 else None
    if item.kind in ("path", "file"):
        value = str(widget.line_edit.value).strip()
        return None if value in ("", ".") else value
    if item.kind in ("text", "pair", "rectangle", "rectangles"):
        return str(widget.value).strip() or None
    return widget.value


def show_value(item, widget, value):
    """Show ``value`` (a parameter value, or a remembered field setting) in the field.

    A value the field cannot show (a remembered choice this version no longer offers) is
    ignored.
    """
    try:
        if item.kind == "float" and value in item.words:
            widget.value = widget.min
        elif item.kind == "float" and item.optional:
            widget.value = 0.0 if value is None else float(value)
        elif item.kind in ("path", "file"):
            # Through the line edit: FileEdit.value = "" after a path reads back as the cwd.
            widget.line_edit.value = "" if not value or isinstance(value, dict) else str(value)
        elif item.kind in ("text", "pair", "rectangle", "rectangles"):
            widget.value = value if isinstance(value, str) else _text(item, value)
        else:
            widget.value = value
    except (ValueError, TypeError):
        pass


def field_setting(item, widget):
    """The field's state as a JSON value (what the dock remembers)."""
    value = read_field(item, widget)
    if item.kind == "float" and item.optional:
        return 0.0 if value is None else value
    return "" if value is None else value
