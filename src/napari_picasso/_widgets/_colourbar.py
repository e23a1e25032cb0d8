"""A colour bar for the Localize dock's "colour by": the colormap with its limits."""

import numpy as np
from qtpy.QtCore import QRectF, Qt
from qtpy.QtGui import QColor, QLinearGradient, QPainter
from qtpy.QtWidgets import QWidget

BAR_HEIGHT_PX = 12
_STOPS = 16


def format_limit(value):
    """A colour limit as a short label (``1.5e+04``, ``1500``, ``0.12``)."""
    value = float(value)
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-2):
        return f"{value:.2g}"
    return f"{value:.4g}"


class ColourBar(QWidget):
    """The points' colormap from low to high, the feature and its limits written below."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.feature, self.limits, self.colors = "", (0.0, 1.0), None
        self.setContentsMargins(10, 0, 10, 4)  # in line with the dock's form above it
        self.setMinimumHeight(BAR_HEIGHT_PX + self.fontMetrics().height() + 10)
        self.setVisible(False)

    def show_colormap(self, feature, limits, colormap):
        """Show ``colormap`` (a napari colormap name or object) for ``feature`` over ``limits``."""
        from napari.utils.colormaps import ensure_colormap

        self.feature, self.limits = feature, (float(limits[0]), float(limits[1]))
        self.colors = ensure_colormap(colormap).map(np.linspace(0.0, 1.0, _STOPS))
        self.setToolTip(f"{feature}: {self.limits[0]:g} .. {self.limits[1]:g}")
        self.setVisible(True)
        self.update()

    def text(self):
        """What is written under the bar: low, feature, high."""
        low, high = self.limits
        return f"{format_limit(low)}   {self.feature}   {format_limit(high)}"

    def paintEvent(self, event):  # noqa: N802 (Qt API)
        if self.colors is None:
            return
        painter = QPainter(self)
        area = self.contentsRect()
        left, top, width = area.left(), area.top(), area.width()
        gradient = QLinearGradient(left, 0, left + width, 0)
        for position, rgba in zip(np.linspace(0.0, 1.0, len(self.colors)), self.colors):
            gradient.setColorAt(float(position), QColor.fromRgbF(*(float(c) for c in rgba)))
        painter.fillRect(QRectF(left, top, width, BAR_HEIGHT_PX), gradient)
        painter.setPen(self.palette().windowText().color())
        text_box = QRectF(left, top + BAR_HEIGHT_PX + 2, width, area.height() - BAR_HEIGHT_PX - 2)
        low, high = self.limits
        painter.drawText(text_box, int(Qt.AlignmentFlag.AlignLeft), format_limit(low))
        painter.drawText(text_box, int(Qt.AlignmentFlag.AlignHCenter), self.feature)
        painter.drawText(text_box, int(Qt.AlignmentFlag.AlignRight), format_limit(high))
        painter.end()
