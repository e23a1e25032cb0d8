"""Dock widget: 3D astigmatism calibration from a bead z-stack, with its plot.

Thin: collects the parameters, runs :func:`napari_picasso.calibrate.astigmatism.calibrate_movie`
(the same code as ``napari-picasso calibrate-z``) in a worker thread, saves
``<movie>_3d_calib.yaml`` and draws the calibration plot inside the widget.
"""

from pathlib import Path

from magicgui.widgets import Container, FileEdit, FloatSpinBox, Label, PushButton

from ..calibrate.astigmatism import calibrate_movie
from ..core import zfit
from ..io.errors import ParameterError
from ..io.zcalib import calibration_path_for, save_calibration
from ..parameters import LocalizeParameters, parameter
from ._fields import make_field, read_field
from ._layout import CANVAS_MIN_HEIGHT_PX, align_labels, scroll_form, tab_with_other_docks, wrapping_label


class CalibrateZWidget(Container):
    """Calibrate 3D astigmatism: bead movie, z step, magnification, identification and camera."""

    # The bead fit's options, as the Localize dock shows them (fields from the schema).
    FIELDS = ("box", "min_net_gradient", "baseline", "sensitivity", "em_gain", "pixelsize_nm")

    def __init__(self, viewer=None):
        self.viewer = viewer
        self.movie = FileEdit(label="Bead z-stack", mode="r", filter="*.tif *.tiff *.raw *.nd2 *.ome.tif")
        self.step_nm = FloatSpinBox(label="Step (nm)", value=20.0, min=0.1, max=10000.0, step=1.0)
        self.magnification = FloatSpinBox(
            label="Magnification factor", value=zfit.DEFAULT_MAGNIFICATION, min=0.01, max=10.0, step=0.01
        )
        self.fields = {name: make_field(parameter(name)) for name in self.FIELDS}
        self.fields["box"].value = 9  # beads are bright and wide: a larger box than for blinks
        self.button = PushButton(text="Calibrate")
        self.status = Label(value="")
        wrapping_label(self.status)
        # The form (and the plot once calibrated) scrolls; Calibrate and its result stay in sight.
        self.form = Container(widgets=[self.movie, self.step_nm, self.magnification, *self.fields.values()])
        super().__init__(widgets=[], labels=False)
        scroll_form(self, self.form, self.button, self.status)
        align_labels(self.form)
        self.native.setMinimumWidth(320)
        tab_with_other_docks(self)
        self.button.changed.connect(self.run)
        self.calibration = None
        self.curves = None
        self.calibration_path = None
        self.canvas = None
        self._worker = None

    def __getattr__(self, name):
        fields = self.__dict__.get("fields") or {}
        if name in fields:
            return fields[name]
        return super().__getattr__(name)

    def parameters(self):
        """The bead fit's :class:`LocalizeParameters` (2D MLE with free sx, sy).

        Raises
        ------
        ParameterError
            A field outside its parameter's limits.
        """
        values = {name: parameter(name).convert(read_field(parameter(name), w)) for name, w in self.fields.items()}
        return LocalizeParameters(fit_method="mle", **values)

    def run(self):
        """Calibrate in a worker thread; the result lands in :meth:`show_result`."""
        from napari.qt.threading import create_worker

        path = Path(self.movie.value)
        if not path.is_file():
            self.status.value = "Choose the bead z-stack movie first."
            return
        try:
            parameters = self.parameters()
        except ParameterError as error:
            self.status.value = str(error)
            return
        step_nm = float(self.step_nm.value)
        magnification = float(self.magnification.value)
        target = calibration_path_for(path)

        def job():
            calibration, curves = calibrate_movie(path, parameters, step_nm, magnification, target.resolve())
            save_calibration(target, calibration)
            return calibration, curves, target

        self.button.enabled = False
        self.status.value = f"Calibrating {path.name}..."
        self._worker = create_worker(job)
        self._worker.returned.connect(lambda result: self.show_result(*result))
        self._worker.errored.connect(self._failed)
        self._worker.finished.connect(lambda: setattr(self.button, "enabled", True))
        self._worker.start()

    def _failed(self, error):
        self.status.value = f"Error: {error}"

    def show_result(self, calibration, curves, path=None):
        """Draw the calibration plot in the widget and say where the file went."""
        from .zview import calibration_canvas

        self.calibration, self.curves, self.calibration_path = calibration, curves, path
        if self.canvas is not None:
            self.form.native.layout().removeWidget(self.canvas)
            self.canvas.deleteLater()
        self.canvas = calibration_canvas(calibration, curves, float(self.pixelsize_nm.value))
        self.canvas.setMinimumSize(280, CANVAS_MIN_HEIGHT_PX)
        self.form.native.layout().addWidget(self.canvas)
        lo, hi = calibration[zfit.RANGE_KEY]
        where = f"Saved {path}. " if path is not None else ""
        self.status.value = f"{where}{len(curves['z_nm'])} z steps, range {lo:.0f} .. {hi:.0f} nm."
