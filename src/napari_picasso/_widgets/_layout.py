"""Dock layout helpers: every dock fits a 1366x768 screen with all docks open.

Napari stacks the docks of the right-hand area one below the other; the main window
cannot be shorter than the sum of their minimum heights. So each dock keeps a small
minimum height: its form scrolls inside (:func:`scrolled`) and only what must stay in
sight (the Localize button and the result summary) sits below the scroll area.
"""

from magicgui.widgets import Container
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea, QSizePolicy

# The smallest height a dock's scroll area asks for (a few rows stay visible).
SCROLL_MIN_HEIGHT_PX = 60
# Plot canvases: small enough to leave room for the rest of the dock on a 768 px screen.
CANVAS_MIN_HEIGHT_PX = 150


def scrolled(widget, min_height_px=SCROLL_MIN_HEIGHT_PX):
    """``widget`` inside a vertical scroll area (no horizontal scrolling).

    The area takes whatever height the dock gets and asks only ``min_height_px``, so a
    long form never makes the window taller than the screen.
    """
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(widget)
    area.setMinimumHeight(min_height_px)
    return area


def scroll_form(container, form, *below):
    """Fill the magicgui ``container`` (a dock) with ``form`` scrolled and ``below`` kept in sight."""
    form.native.layout().addStretch(1)  # rows at the top, not spread over the dock
    layout = container.native.layout()
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(scrolled(form.native), stretch=1)
    for widget in below:
        layout.addWidget(getattr(widget, "native", widget))


DOCK_PROPERTY = "napari_picasso_dock"


def tab_with_other_docks(widget):
    """Mark ``widget`` as a napari-picasso dock and, once napari has docked it, put it in
    a tab beside the napari-picasso docks already open in its area.

    Napari stacks docks one below the other: five stacked docks leave each a sliver of a
    768 px screen. Tabbed, each dock gets the area's full height; the user can still
    drag a tab out.
    """
    native = getattr(widget, "native", widget)
    native.setProperty(DOCK_PROPERTY, True)
    QTimer.singleShot(0, lambda: _tabify(native))


def _dock_of(native):
    parent = native.parentWidget()
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parentWidget()
    return parent


def _tabify(native):
    try:
        dock = _dock_of(native)
    except RuntimeError:  # deleted before napari docked it
        return
    window = dock.parentWidget() if dock is not None else None
    if not isinstance(window, QMainWindow) or dock.isFloating():
        return
    area = window.dockWidgetArea(dock)
    for other in window.findChildren(QDockWidget):
        inner = other.widget()
        if (
            other is not dock
            and not other.isFloating()
            and other.isVisible()
            and window.dockWidgetArea(other) == area
            and inner is not None
            and inner.property(DOCK_PROPERTY)
        ):
            window.tabifyDockWidget(other, dock)
            dock.show()
            dock.raise_()
            return


def align_labels(*containers):
    """One label column for the rows of several magicgui containers (a dock's sections).

    magicgui sizes the labels of each container apart, with a font that may not be the
    one napari's style sheet draws; here every label gets the widest label's drawn width,
    so the fields of all sections start at the same x. Returns that width.
    """
    rows = [row for container in containers for row in _labeled_rows(container)]
    if not rows:
        return 0
    width = max(row._label_widget.native.sizeHint().width() for row in rows)
    for row in rows:
        row.label_width = width
    return width


def _labeled_rows(container):
    """The labelled rows of a magicgui container and of the containers inside it."""
    rows = []
    for widget in container:
        row = widget._labeled_widget() if hasattr(widget, "_labeled_widget") else None
        if row is not None and widget.label:
            rows.append(row)
        elif isinstance(widget, Container):
            rows.extend(_labeled_rows(widget))
    return rows


def wrapping_label(label):
    """A magicgui ``Label`` whose text wraps and whose height follows its lines (magicgui
    fixes a label's height, which cut a wrapped summary's first and last lines)."""
    label.native.setWordWrap(True)
    label.native.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
    return label
