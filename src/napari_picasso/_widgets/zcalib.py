"""Dock widget: 3D astigmatism calibration from a bead z-stack, with its plot.

Thin: collects the parameters, runs :func:`napari_picasso.calibrate.astigmatism.calibrate_movie`
(the same code as ``napari-picasso calibrate-z``) in a worker thread, saves
``<movie>_3d_calib.yaml`` and draws the calibration plot inside the widget.
"""

from pathlib import Path

from magicgui.widgets import Container, FileEdit, FloatSpinBox, Label, PushButton, SpinBox

from ..calibrate.astigmatism import calibrate_movie
from ..core import zfit
from ..io.zcalib import calibration_path_for, save_calibration
from ..parameters import LocalizeParameters


class CalibrateZWidget(Container):
    """Calibrate 3D astigmatism: bead movie, z step, magnification, identification and camera."""

    def __init__(self, viewer=None):
        defaults = LocalizeParameters()
        self.viewer = viewer
        self.movie = FileEdit(label="Bead z-stack", mode="r", filter="*.tif *.tiff *.raw *.nd2 *.ome.tif")
        self.step_nm = FloatSpinBox(label="Step (nm)", value=20.0, min=0.1, max=10000.0, step=1.0)
        self.magnification = FloatSpinBox(
            label="Magnification factor", value=zfit.DEFAULT_MAGNIFICATION, min=0.01, max=10.0, step=0.01
        )
        self.box = SpinBox(label="Box (px)", value=9, min=3, max=31, step=2)
        self.gradient = FloatSpinBox(
            label="Min. net gradient", value=defaults.min_net_gradient, min=0.0, max=1e7, step=100.0
        )
        self.baseline = FloatSpinBox(label="Baseline", value=defaults.baseline, min=0.0, max=1e5)
        self.sensitivity = FloatSpinBox(
            label="Sensitivity (e-/count)", value=defaults.sensitivity, min=1e-4, max=1e3, step=0.01
        )
        self.em_gain = FloatSpinBox(label="EM gain", value=defaults.em_gain, min=1.0, max=1e4)
        self.pixelsize = FloatSpinBox(label="Pixel size (nm)", value=defaults.pixelsize_nm, min=1.0, max=1e4)
        self.button = PushButton(text="Calibrate")
        self.status = Label(value="")
        super().__init__(
            widgets=[
                self.movie,
                self.step_nm,
                self.magnification,
                self.box,
                self.gradient,
                self.baseline,
                self.sensitivity,
                self.em_gain,
                self.pixelsize,
                self.button,
                self.status,
            ]
        )
        self.button.changed.connect(self.run)
        self.calibration = None
        self.curves = None
        self.calibration_path = None
        self.canvas = None
        self._worker = None

    def parameters(self):
        return LocalizeParameters(
            box=int(self.box.value),
            min_net_gradient=float(self.gradient.value),
            fit_method="mle",
            baseline=float(self.baseline.value),
            sensitivity=float(self.sensitivity.value),
            em_gain=float(self.em_gain.value),
            pixelsize_nm=float(self.pixelsize.value),
        )

    def run(self):
        """Calibrate in a worker thread; the result lands in :meth:`show_result`."""
        from napari.qt.threading import create_worker

        path = Path(self.movie.value)
        if not path.is_file():
            self.status.value = "Choose the bead z-stack movie first."
            return
        parameters = self.parameters()
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
            self.native.layout().removeWidget(self.canvas)
            self.canvas.deleteLater()
        self.canvas = calibration_canvas(calibration, curves, float(self.pixelsize.value))
        self.canvas.setMinimumSize(320, 240)
        self.native.layout().addWidget(self.canvas)
        lo, hi = calibration[zfit.RANGE_KEY]
        where = f"Saved {path}. " if path is not None else ""
        self.status.value = f"{where}{len(curves['z_nm'])} z steps, range {lo:.0f} .. {hi:.0f} nm."
