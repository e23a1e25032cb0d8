"""Dock widget: undrift a localization file (RCC, AIM, fiducials) and plot its drift.

Thin: the form collects what ``napari-picasso undrift`` takes, runs
:func:`napari_picasso.postprocess.undrift_file` in a worker thread, records the output in
the experiment database (as the command line does) and draws the per-frame drift.
Fiducials are picked as points: "Pick fiducials" adds a points layer in add mode; each
point is a fiducial, its radius the dock's (shown as the point's size). After an
undrift by fiducials the layer shows the fiducials used (found automatically or picked),
rejected ones in red.
"""

from pathlib import Path

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, FloatSpinBox, Label, PushButton, SpinBox
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.qt.threading import create_worker

from .. import plots
from ..core.drift_estimate import DEFAULT_SEGMENT_FRAMES, METHODS
from ..db import record_file
from ..io.errors import InputFileError
from ..io.picks import load_fiducial_picks, save_fiducial_picks
from ..postprocess import describe_undrift, undrift_file
from ._fields import whole_numbers
from ._layout import CANVAS_MIN_HEIGHT_PX, align_labels, scroll_form, tab_with_other_docks, wrapping_label

PICKS_LAYER = "fiducial picks"
LAYER_KEY = "napari_picasso"


def run_undrift(path, method, segment_frames, bin_nm, picks_px, record=True):
    """Undrift in a worker thread; returns the outcome and the database row (or its error)."""
    outcome = undrift_file(path, method, segment_frames or None, fiducials=picks_px, bin_nm=bin_nm)
    database = None
    if record:
        try:
            database = record_file(outcome.target)
        except Exception as error:  # noqa: BLE001  the file is written: only its row is lost, said in the dock
            database = {"error": f"no database row written: {error}"}
    return outcome, database


class UndriftWidget(Container):
    """Undrift: file, method, segment, fiducial picks; the drift plot after a run."""

    def __init__(self, napari_viewer=None):
        self.viewer = napari_viewer
        self.file = FileEdit(label="Localizations", mode="r", filter="*.hdf5")
        self.from_layer = PushButton(text="Use selected layer's file")
        self.method = ComboBox(label="Method", choices=list(METHODS), value="rcc")
        self.segment = whole_numbers(
            SpinBox(
                label="Segment (frames)",
                value=0,
                min=0,
                max=10**7,
                tooltip="0: the method's default (RCC 1000, AIM 100)",
            )
        )
        self.bin_nm = FloatSpinBox(label="AIM bin (nm)", value=20.0, min=1.0, max=1000.0, step=1.0)
        self.radius = FloatSpinBox(
            label="Pick radius (px)", value=1.5, min=0.05, max=100.0, step=0.1, tooltip="radius of new picks"
        )
        self.pick = PushButton(text="Pick fiducials")
        self.load_picks = FileEdit(label="Load picks", mode="r", filter="*.yaml")
        self.save_picks = FileEdit(label="Save picks", mode="w", filter="*.yaml")
        self.record = CheckBox(text="add the result to the database", value=True)
        self.run_button = PushButton(text="Undrift")
        self.status = Label(value="")
        wrapping_label(self.status)
        self.figure = Figure(figsize=(4.5, 2.8), tight_layout=True)
        self.axes = self.figure.add_subplot(1, 1, 1)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(CANVAS_MIN_HEIGHT_PX)
        # The form scrolls; the Undrift button and its result stay in sight below it.
        self.form = Container(
            widgets=[
                self.file,
                self.from_layer,
                self.method,
                self.segment,
                self.bin_nm,
                self.radius,
                self.pick,
                self.load_picks,
                self.save_picks,
                self.record,
            ]
        )
        self.form.native.layout().addWidget(self.canvas)
        super().__init__(widgets=[], labels=False)
        scroll_form(self, self.form, self.run_button, self.status)
        align_labels(self.form)
        self.native.setMinimumWidth(320)
        tab_with_other_docks(self)
        self.outcome = None
        self._worker = None
        self.from_layer.changed.connect(self.use_selected_layer)
        self.method.changed.connect(self._method_changed)
        self.pick.changed.connect(self.picks_layer)
        self.load_picks.changed.connect(lambda value: self.load_picks_file(value))
        self.save_picks.changed.connect(lambda value: self.save_picks_file(value))
        self.run_button.changed.connect(lambda: self.run())
        self._method_changed()
        plots.draw_drift(self.axes, None)

    # --- form ------------------------------------------------------------------------------
    def _method_changed(self, *_):
        method = self.method.value
        self.bin_nm.visible = method in ("aim", "fiducials")
        for widget in (self.radius, self.pick, self.load_picks, self.save_picks):
            widget.visible = method == "fiducials"
        self.segment.tooltip = f"0: the method's default ({DEFAULT_SEGMENT_FRAMES[method]} frames)"

    def use_selected_layer(self, *_):
        """Take the file of the selected layer (a localization file opened in napari)."""
        layer = self.viewer.layers.selection.active if self.viewer is not None else None
        path = ((layer.metadata or {}).get(LAYER_KEY) or {}).get("locs_path") if layer is not None else None
        if path:
            self.file.value = path
        else:
            self.status.value = "select a layer opened from a _locs.hdf5 file"
        return path

    # --- fiducial picks ---------------------------------------------------------------------
    def picks_layer(self, *_):
        """The fiducial picks points layer (created in add mode when missing)."""
        if PICKS_LAYER in self.viewer.layers:
            layer = self.viewer.layers[PICKS_LAYER]
        else:
            layer = self.viewer.add_points(
                np.zeros((0, 2)),
                name=PICKS_LAYER,
                size=2 * self.radius.value,
                face_color="transparent",
                border_color="lime",
                border_width=0.1,
                border_width_is_relative=True,
            )
        layer.selected_data = set()  # new size for new points only
        layer.current_size = 2 * self.radius.value
        self.viewer.layers.selection.active = layer
        layer.mode = "add"
        return layer

    def picks(self):
        """``(n, 3)`` x, y, r (px) of the picks layer's points (None when it has none)."""
        if PICKS_LAYER not in self.viewer.layers:
            return None
        layer = self.viewer.layers[PICKS_LAYER]
        if len(layer.data) == 0:
            return None
        yx = np.asarray(layer.data)[:, -2:]
        radius = np.asarray(layer.size, dtype=np.float64).reshape(len(yx), -1)[:, -1] / 2
        return np.column_stack([yx[:, 1], yx[:, 0], radius])

    def show_picks(self, picks_px, used=None):
        """Put ``(n, 3)`` x, y, r picks into the picks layer (rejected ones red)."""
        layer = self.picks_layer()
        picks_px = np.asarray(picks_px, dtype=np.float64).reshape(-1, 3)
        layer.selected_data = set()
        layer.data = picks_px[:, [1, 0]]
        layer.size = 2 * picks_px[:, 2]
        colors = ["lime" if u else "red" for u in (used if used is not None else [True] * len(picks_px))]
        layer.border_color = colors if len(colors) else "lime"
        layer.mode = "pan_zoom"
        return layer

    def load_picks_file(self, path):
        if not path or not Path(path).is_file():
            return None
        try:
            from ..io.locs import info_pixelsize_nm, load_info

            info = load_info(self.file.value) if Path(str(self.file.value)).is_file() else [{}]
            movie = info[0]
            picks = load_fiducial_picks(
                path, movie.get("Width", 10**9), movie.get("Height", 10**9), info_pixelsize_nm(info)
            )
        except InputFileError as error:
            self.status.value = str(error)
            return None
        return self.show_picks(picks)

    def save_picks_file(self, path):
        picks = self.picks()
        if not path or picks is None:
            return None
        return save_fiducial_picks(path, picks)

    # --- run ------------------------------------------------------------------------------------
    def run(self, block=False):
        """Undrift the chosen file (in a worker thread unless ``block``); returns the worker."""
        path = Path(str(self.file.value))
        if not path.is_file():
            self.status.value = "choose a _locs.hdf5 file"
            return None
        method = self.method.value
        picks = self.picks() if method == "fiducials" else None
        arguments = (path, method, int(self.segment.value), float(self.bin_nm.value), picks, self.record.value)
        self.status.value = f"undrifting {path.name} by {method} ..."
        self.run_button.enabled = False
        if block:
            try:
                self._done(run_undrift(*arguments))
            except InputFileError as error:
                self._failed(error)
            return None
        worker = create_worker(run_undrift, *arguments, _start_thread=False)
        worker.returned.connect(self._done)
        worker.errored.connect(self._failed)
        self._worker = worker
        worker.start()
        return worker

    def _done(self, returned):
        outcome, database = returned
        self.outcome = outcome
        self.run_button.enabled = True
        text = describe_undrift(outcome)
        if isinstance(database, dict) and database.get("error"):
            text += f" ({database['error']})"
        self.status.value = text
        plots.draw_drift(
            self.axes, outcome.result.drift_columns, outcome.pixelsize_nm, f"{outcome.document['Undrift']} drift"
        )
        self.canvas.draw_idle()
        if outcome.fiducials is not None and self.viewer is not None:
            radius = outcome.document.get("Fiducials") or []
            picks = [(f["x"], f["y"], f["r"]) for f in radius]
            self.show_picks(picks, outcome.fiducials.used)

    def _failed(self, error):
        self.run_button.enabled = True
        self.status.value = str(error)
