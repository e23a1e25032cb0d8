"""3D results in napari: localizations as 3D points, a z-coloured rendering, the calibration plot.

Thin helpers for the widgets: :func:`add_z_layers` adds the layer data tuples of
:func:`napari_picasso.layer_data.z_layer_data`, and
:func:`show_calibration_plot` docks the calibration figure of :mod:`napari_picasso.zplot`.
"""

from ..layer_data import z_layer_data


def add_z_layers(viewer, locs, pixelsize_nm, name="localizations", **options):
    """Add :func:`z_layer_data` to ``viewer``; returns the new layers."""
    layers = []
    for data, kwargs, kind in z_layer_data(locs, pixelsize_nm, name, **options):
        layers.append(getattr(viewer, f"add_{kind}")(data, **kwargs))
    return layers


def calibration_canvas(calibration, curves=None, pixelsize_nm=None):
    """A Qt canvas holding the calibration figure (for a dock widget)."""
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

    from ..zplot import calibration_figure

    return FigureCanvasQTAgg(calibration_figure(calibration, curves, pixelsize_nm))


def show_calibration_plot(viewer, calibration, curves=None, pixelsize_nm=None, name="3D calibration"):
    """Dock the calibration plot (mean sx/sy with spread, fitted curves) in ``viewer``."""
    canvas = calibration_canvas(calibration, curves, pixelsize_nm)
    canvas.setMinimumSize(360, 260)
    return viewer.window.add_dock_widget(canvas, name=name, area="right")
