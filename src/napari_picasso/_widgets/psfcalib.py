"""Dock widget: cubic-spline PSF calibration from a bead z-stack layer.

Thin: collects the parameters, runs :func:`napari_picasso.calibrate.psf.calibrate_psf`
(the same code as ``napari-picasso calibrate-psf``) in a worker thread, saves
``<movie>_spline_calib.hdf5`` beside the movie, shows the PSF's x-z and y-z sections as an
image layer and puts the file into the Localize dock's ``psf`` field when that dock is open.
"""

from pathlib import Path

from magicgui.widgets import ComboBox, Container, FloatSpinBox, Label, PushButton
from napari.layers import Image

from .. import __version__
from ..calibrate.psf import calibrate_psf, psf_sections
from ..io.errors import InputFileError, ParameterError
from ..io.psf_calib import MODELS, psf_path_for, save_psf_calibration
from ..parameters import parameter
from ._fields import make_field, read_field, show_value
from ._layout import align_labels, scroll_form, tab_with_other_docks, wrapping_label
from .localize import PLUGIN_KEY, movie_file
from .watcher import localize_panel

SECTIONS_ROLE = "psf-sections"


class CalibratePSFWidget(Container):
    """Calibrate a spline PSF: bead z-stack layer, z step, identification and camera."""

    # The bead options, as the Localize dock shows them (fields from the schema).
    FIELDS = ("box", "min_net_gradient", "baseline", "sensitivity", "em_gain", "pixelsize_nm")

    def __init__(self, napari_viewer):
        self.viewer = viewer = napari_viewer
        self.movie = ComboBox(label="Bead z-stack", choices=self._movie_choices, nullable=True)
        self.step_nm = FloatSpinBox(label="Step (nm)", value=10.0, min=0.1, max=10000.0, step=1.0)
        self.magnification = FloatSpinBox(label="Magnification factor", value=1.0, min=0.01, max=10.0, step=0.01)
        self.model = ComboBox(label="Model", choices=list(MODELS), value=MODELS[0])
        self.fields = {name: make_field(parameter(name)) for name in self.FIELDS}
        self.fields["box"].value = 15  # a spline box: the PSF's lobes and rings beyond focus
        self.fields["min_net_gradient"].value = 5000.0  # beads are bright
        self.button = PushButton(text="Calibrate")
        self.status = Label(value="")
        wrapping_label(self.status)
        self.form = Container(widgets=[self.movie, self.step_nm, self.magnification, self.model, *self.fields.values()])
        super().__init__(widgets=[], labels=False)
        scroll_form(self, self.form, self.button, self.status)
        align_labels(self.form)
        self.native.setMinimumWidth(320)
        tab_with_other_docks(self)
        self.button.changed.connect(self.run)
        viewer.layers.events.inserted.connect(self.movie.reset_choices)
        viewer.layers.events.removed.connect(self.movie.reset_choices)
        self.calibration = None
        self.calibration_path = None
        self.sections_layer = None
        self._worker = None

    def __getattr__(self, name):
        fields = self.__dict__.get("fields") or {}
        if name in fields:
            return fields[name]
        return super().__getattr__(name)

    def _movie_choices(self, widget=None):
        return [
            (layer.name, layer)
            for layer in self.viewer.layers
            if isinstance(layer, Image)
            and layer.ndim == 3
            and not layer.rgb
            and ((layer.metadata or {}).get(PLUGIN_KEY) or {}).get("role") is None
        ]

    def options(self):
        """The keyword options of :func:`calibrate_psf` from the fields.

        Raises
        ------
        ParameterError
            A field outside its parameter's limits.
        """
        values = {name: parameter(name).convert(read_field(parameter(name), w)) for name, w in self.fields.items()}
        return {
            "step_nm": float(self.step_nm.value),
            "box": int(values["box"]),
            "min_net_gradient": float(values["min_net_gradient"]),
            "baseline": float(values["baseline"]),
            "sensitivity": float(values["sensitivity"]),
            "em_gain": float(values["em_gain"]),
            "pixelsize_nm": float(values["pixelsize_nm"]),
            "magnification": float(self.magnification.value),
            "model": str(self.model.value),
            "version": __version__,
        }

    def run(self, *_):
        """Calibrate in a worker thread; the result lands in :meth:`show_result`."""
        from napari.qt.threading import create_worker

        layer = self.movie.value
        if layer is None:
            self.status.value = "Open the bead z-stack movie and choose it first."
            return
        path = movie_file(layer)
        if path is None or not path.is_file():
            self.status.value = f"Layer {layer.name!r} has no movie file: open the bead z-stack from its file."
            return
        try:
            options = self.options()
        except ParameterError as error:
            self.status.value = str(error)
            return
        target = psf_path_for(path)

        def job():
            try:
                calibration, report = calibrate_psf(path, **options)
            except (InputFileError, ParameterError) as error:
                prefix = f"{path}: " if isinstance(error, ParameterError) else ""
                return f"{prefix}{error}"
            calibration["Path"] = str(target.resolve())
            save_psf_calibration(target, calibration)
            return calibration, report, target

        self.button.enabled = False
        self.status.value = f"Calibrating {path.name} (the first run compiles for a minute)..."
        self._worker = create_worker(job)
        self._worker.returned.connect(self._returned)
        self._worker.errored.connect(self._failed)
        self._worker.finished.connect(lambda: setattr(self.button, "enabled", True))
        self._worker.start()

    def _returned(self, result):
        if isinstance(result, str):
            self._failed(result)
        else:
            self.show_result(*result)

    def _failed(self, error):
        self.status.value = f"Error: {error}"

    def show_result(self, calibration, report, path):
        """The sections as an image layer, the file in the Localize dock, a summary line."""
        self.calibration, self.calibration_path = calibration, path
        sections = psf_sections(report["template"])
        name = f"{Path(path).stem} sections (x-z | y-z)"
        scale = (float(calibration["z_step_nm"]), float(self.pixelsize_nm.value))
        if self.sections_layer is not None and self.sections_layer in self.viewer.layers:
            self.viewer.layers.remove(self.sections_layer)
        self.sections_layer = self.viewer.add_image(
            sections,
            name=name,
            scale=scale,
            colormap="magma",
            metadata={PLUGIN_KEY: {"role": SECTIONS_ROLE, "calibration": str(path)}},
        )
        panel = localize_panel(self.viewer)
        if panel is not None:
            show_value(parameter("psf"), panel.fit.fields["psf"], str(path))
        z_nm = report["z_nm"]
        into = " Set as the Localize dock's PSF calibration." if panel is not None else ""
        self.status.value = (
            f"Saved {path}: {calibration['n_beads']} beads, {len(z_nm)} z steps "
            f"({z_nm[-1]:.0f} .. {z_nm[0]:.0f} nm).{into}"
        )
