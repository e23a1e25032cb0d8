"""ROI rectangles between a napari Shapes layer, typed text and the pipeline.

A rectangle is ``(y0, x0, y1, x1)`` in camera pixels, end exclusive: the pixels whose
centres lie inside the drawn shape. Pixel ``i`` covers ``[i - 0.5, i + 0.5)`` in napari's
data coordinates (pixel centres at integers, as in the locs format).
"""

import numpy as np

from ..parameters import format_rectangles, parse_rectangles

__all__ = ["format_rectangles", "parse_rectangles", "rectangle_to_vertices", "shapes_to_rectangles"]


def shapes_to_rectangles(shapes_data, height, width):
    """Rectangles around drawn shapes (their bounding boxes), clipped to the frame.

    Parameters
    ----------
    shapes_data : list of numpy.ndarray
        A Shapes layer's ``data``: one ``(n_vertices, ndim)`` array per shape; the last
        two columns are (y, x).
    height, width : int
        Frame size.

    Returns
    -------
    list of tuple of int
        Non-empty rectangles in drawing order.
    """
    rectangles = []
    for vertices in shapes_data:
        vertices = np.asarray(vertices, dtype=float)
        if vertices.size == 0:
            continue
        yx = vertices[:, -2:]
        (ya, xa), (yb, xb) = yx.min(axis=0), yx.max(axis=0)
        y0 = int(np.clip(np.floor(ya + 0.5), 0, height))
        x0 = int(np.clip(np.floor(xa + 0.5), 0, width))
        y1 = int(np.clip(np.floor(yb + 0.5), 0, height))
        x1 = int(np.clip(np.floor(xb + 0.5), 0, width))
        if y1 > y0 and x1 > x0:
            rectangles.append((y0, x0, y1, x1))
    return rectangles


def rectangle_to_vertices(rectangle):
    """The four corners (y, x) of a rectangle in napari data coordinates."""
    y0, x0, y1, x1 = rectangle
    return np.array([[y0 - 0.5, x0 - 0.5], [y0 - 0.5, x1 - 0.5], [y1 - 0.5, x1 - 0.5], [y1 - 0.5, x0 - 0.5]])
