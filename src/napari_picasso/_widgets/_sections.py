"""The Localize dock's parameter sections (magicgui containers, no logic beyond the form).

Every parameter of :data:`napari_picasso.parameters.SCHEMA` with ``dock="field"`` gets a
field in its section, made by :func:`~napari_picasso._widgets._fields.make_field` and
reachable as ``section.<parameter name>``; the few drawn by hand (``dock="custom"``: the ROI,
the frame bounds, the camera from ``config.yaml`` with its EM switch) are built here.
Each section turns its fields into :class:`~napari_picasso.parameters.LocalizeParameters`
values (:meth:`values`); :mod:`napari_picasso._widgets.localize` wires them to the viewer.
"""

from pathlib import Path

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    SpinBox,
)
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QSizePolicy
from superqt import QElidingLabel

from ..io.camera_config import CameraConfig, camera_settings, config_path, load_cameras
from ..io.errors import InputFileError
from ..parameters import SCHEMA, parameter
from ._fields import field_setting, make_field, read_field, show_value, whole_numbers
from ._layout import wrapping_label

MANUAL = "Manual"
RESULT_FEATURES = ("photons", "net_gradient", "lpx", "lpy", "sx", "sy", "bg", "frame", "ellipticity")
# Settings of earlier versions under other names.
_OLD_SETTING_NAMES = {"maps_origin": "camera_maps_origin", "zcalib": "z_calibration"}


class ParameterSection(Container):
    """A section's schema fields: made from the schema, read into parameter values."""

    section = ""
    not_remembered = ()  # fields that belong to one movie and are not restored

    def _make_fields(self):
        self.skipped = set()  # fit-scope fields the chosen fit method does not read
        # The declarations as they were when the dock was made (a test's or plugin's added
        # parameter may leave the schema while the dock lives on).
        self.items = {item.name: item for item in SCHEMA if item.section == self.section and item.dock == "field"}
        self.fields = {name: make_field(item) for name, item in self.items.items()}
        return self.fields

    def __getattr__(self, name):
        fields = self.__dict__.get("fields") or {}
        if name in fields:
            return fields[name]
        return super().__getattr__(name)

    def values(self):
        """``{parameter name: value}`` of the fields that apply.

        Raises
        ------
        ParameterError, InputFileError
            A field whose text is not a value of its parameter (said in the dock).
        """
        return {
            name: self.items[name].convert(read_field(self.items[name], widget))
            for name, widget in self.fields.items()
            if name not in self.skipped
        }

    def show_applicable(self, fitter, detector):
        """Hide the fit-scope fields the fit method does not read; disable the fields of the
        other detector."""
        self.skipped = set()
        for name, widget in self.fields.items():
            item = self.items[name]
            applies = item.applies(fitter, detector)
            if item.scope == "fit":
                widget.visible = applies
                if not applies:
                    self.skipped.add(name)
            widget.enabled = applies

    def field_settings(self):
        return {name: field_setting(self.items[name], widget) for name, widget in self.fields.items()}

    def apply_field_settings(self, settings):
        for old, new in _OLD_SETTING_NAMES.items():
            if old in settings and new not in settings:
                settings = {**settings, new: settings[old]}
        for name, widget in self.fields.items():
            if name in settings and name not in self.not_remembered:
                show_value(self.items[name], widget, settings[name])


class IdentificationSection(ParameterSection):
    """Movie layer, box, detection, background, frame bounds, ROI (Shapes layer or typed)."""

    section = "identification"
    # Like first/last frame it belongs to one movie: a remembered start would silently
    # skip the first frames of the next one.
    not_remembered = ("start_frame",)

    def __init__(self, layer_choices, shapes_choices):
        self.movie = ComboBox(label="movie", choices=layer_choices, nullable=True)
        fields = self._make_fields()
        self.box_hint = Label(value="")
        self.first_frame = whole_numbers(SpinBox(label="first frame", value=0, min=0, max=10**9))
        self.last_frame = whole_numbers(
            SpinBox(
                label="last frame",
                value=0,
                min=0,
                max=10**9,
                tooltip="inclusive; the movie's last frame means to the end",
            )
        )
        roi = parameter("roi")
        self.roi_layer = ComboBox(
            label="ROI layer",
            choices=shapes_choices,
            nullable=True,
            tooltip="a Shapes layer of rectangles; spots centred in any are kept",
        )
        self.new_roi_layer = PushButton(text="Draw ROI rectangles")
        self.roi_text = LineEdit(
            label=roi.label, value="", tooltip="y0, x0, y1, x1; ... (end exclusive); empty: whole frame"
        )
        self.roi_message = Label(value="")
        widgets = [self.movie]
        for name, widget in fields.items():
            widgets.append(widget)
            if name == "box":
                widgets.append(self.box_hint)
        widgets += [self.first_frame, self.last_frame, self.roi_layer, self.new_roi_layer, self.roi_text]
        super().__init__(widgets=[*widgets, self.roi_message], labels=True)
        self.box.changed.connect(self._update_hint)
        self._update_hint()

    def _update_hint(self, *_):
        box = int(self.box.value)
        if box % 2 == 0:
            self.box.value = box + 1
            return
        self.box_hint.value = f"box = 6\u00b7\u03c3+1 fits \u03c3 \u2248 {(box - 1) / 6:.2f} px"

    def set_frame_count(self, n_frames):
        self.first_frame.max = max(0, n_frames - 1)
        self.last_frame.max = max(0, n_frames - 1)
        self.first_frame.value = 0
        self.last_frame.value = max(0, n_frames - 1)

    def frame_range(self, n_frames):
        first, last = int(self.first_frame.value), int(self.last_frame.value)
        if first == 0 and last >= n_frames - 1:
            return None
        return (first, min(n_frames, last + 1))

    def settings(self):
        return self.field_settings()

    def apply_settings(self, settings):
        self.apply_field_settings(settings)


class PreviewSection(Container):
    """The Preview switch and what the last preview found."""

    def __init__(self):
        self.preview = CheckBox(text="Preview spots on the current frame", value=False)
        self.status = Label(value="")
        super().__init__(widgets=[self.preview, self.status], labels=False)


class PhotonSection(ParameterSection):
    """Camera (from ``config.yaml``), sensitivity categories, EM gain, baseline, QE, maps."""

    section = "photons"

    def __init__(self):
        self.config_file = FileEdit(label="config.yaml", mode="r", filter="*.yaml", value="")
        self.camera = ComboBox(label="camera", choices=[MANUAL], value=MANUAL, tooltip=parameter("camera").help)
        self.categories = Container(widgets=[], labels=True)
        self.em_on = CheckBox(text="EM gain on", value=False)
        gain = parameter("em_gain")
        self.em_gain = FloatSpinBox(
            label=gain.label, value=gain.default, min=gain.minimum, max=10000, step=1, tooltip=gain.help
        )
        fields = self._make_fields()
        self.message = Label(value="")
        super().__init__(
            widgets=[self.config_file, self.camera, self.categories, self.em_on, self.em_gain, *fields.values()]
            + [self.message],
            labels=True,
        )
        self.cameras = []
        self.pixelsize_nm = None
        self._movie_metadata = {}
        self._applying = False
        self.config_file.changed.connect(lambda *_: self.load_config())
        self.camera.changed.connect(self._camera_chosen)
        self.em_on.changed.connect(self._em_switched)

    # -- config.yaml --------------------------------------------------------------------
    def load_config(self, path=None):
        """Read the camera list; a malformed file is reported in the dock, not raised."""
        chosen = path if path is not None else str(self.config_file.value)
        path = config_path(chosen if chosen not in ("", ".") else None)
        self.cameras = []
        if not path.is_file():
            self.message.value = _wrap(f"no camera file at {path}: enter camera values by hand")
        else:
            try:
                self.cameras = load_cameras(path)
                self.message.value = f"{len(self.cameras)} camera(s) from {path.name}"
            except InputFileError as error:
                self.message.value = _wrap(str(error))
        self.camera.choices = [MANUAL] + [c.name for c in self.cameras]
        return self.cameras

    def camera_config(self):
        for camera in self.cameras:
            if camera.name == self.camera.value:
                return camera
        return None

    def match_movie(self, movie_metadata):
        """Choose the camera named by the movie's Micro-Manager metadata, else the first."""
        from ..io.camera_config import match_camera

        self._movie_metadata = dict(movie_metadata or {})
        if not self.cameras:
            return None
        camera, matched = match_camera(self.cameras, self._movie_metadata)
        self.camera.value = camera.name
        self._camera_chosen(force=True)
        return camera, matched

    def _camera_chosen(self, *_, force=False):
        camera = self.camera_config()
        while len(self.categories):
            self.categories.pop()
        for field in (self.baseline, self.sensitivity, self.qe):
            field.enabled = camera is None
        if camera is None:
            return
        settings = camera_settings(camera, self._movie_metadata)
        chosen = settings["categories"]
        for depth, name in enumerate(camera.categories):
            combo = ComboBox(
                label=name, choices=[str(c) for c in camera.category_choices(chosen[:depth])], value=str(chosen[depth])
            )
            combo.changed.connect(lambda *_, d=depth: self._category_changed(d))
            self.categories.append(combo)
        self.em_on.visible = bool(camera.em_switch_property or camera.gain_property)
        self._applying = True
        try:
            self.em_on.value = settings["em_gain"] > 1
        finally:
            self._applying = False
        self._apply(camera, settings)

    def _category_changed(self, depth):
        camera = self.camera_config()
        if camera is None:
            return
        chosen = [w.value for w in list(self.categories)[: depth + 1]]
        # Later levels depend on earlier ones: refill them.
        for later in list(self.categories)[depth + 1 :]:
            choices = [str(c) for c in camera.category_choices(chosen)]
            if later.value not in choices:
                later.choices = choices
                later.value = choices[0]
            else:
                later.choices = choices
            chosen.append(later.value)
        self._apply(camera, camera_settings(camera, self._movie_metadata, categories=chosen))

    def _em_switched(self, *_):
        if self._applying:
            return
        if not self.em_on.value:
            self.em_gain.value = 1.0
        else:
            camera = self.camera_config()
            if camera is not None:
                self.em_gain.value = max(
                    self.em_gain.value, camera.em_gain_from(self._movie_metadata.get("Micro-Manager Metadata") or {})
                )

    def _apply(self, camera: CameraConfig, settings):
        self.baseline.value = settings["baseline"]
        self.sensitivity.value = settings["sensitivity"]
        self.qe.value = settings["qe"]
        self.em_gain.value = settings["em_gain"] if self.em_on.value else 1.0
        self.pixelsize_nm = settings["pixelsize_nm"]

    def show_stated(self, stated):
        """Put camera values a movie states (:func:`~napari_picasso.io.metadata.stated_camera`)
        into the manual fields."""
        for name in ("baseline", "sensitivity"):
            if name in stated:
                show_value(self.items[name], self.fields[name], stated[name])
        if "em_gain" in stated:
            self.em_gain.value = stated["em_gain"]
            self.em_on.value = stated["em_gain"] > 1

    def chosen_categories(self):
        return [w.value for w in self.categories]

    def values(self):
        camera = self.camera_config()
        values = super().values()
        values["em_gain"] = float(self.em_gain.value) if (self.em_on.value or camera is None) else 1.0
        values["camera"] = camera.name if camera is not None else None
        return values

    def settings(self):
        return {
            **self.field_settings(),
            "config_file": str(self.config_file.value) if str(self.config_file.value) not in ("", ".") else "",
            "camera": self.camera.value,
            "categories": self.chosen_categories(),
            "em_on": bool(self.em_on.value),
            "em_gain": float(self.em_gain.value),
        }

    def apply_settings(self, settings):
        if settings.get("config_file"):
            self.config_file.value = settings["config_file"]
        self.apply_field_settings(settings)
        if "em_gain" in settings:
            self.em_gain.value = float(settings["em_gain"])
        self.em_on.value = bool(settings.get("em_on", self.em_gain.value > 1))
        if settings.get("camera") in self.camera.choices and settings["camera"] != MANUAL:
            self.camera.value = settings["camera"]
            for widget, value in zip(self.categories, settings.get("categories", [])):
                if value in widget.choices:
                    widget.value = value


class FitSection(ParameterSection):
    """Fit method and its options, pixel size, output folder, result display, Localize/Cancel."""

    section = "fit"

    def __init__(self):
        fields = self._make_fields()
        self.zcalib_message = Label(value="")
        self.out_folder = FileEdit(
            label="save in",
            mode="d",
            value="",
            tooltip="folder for this movie's _locs.hdf5/.yaml pair; empty: beside the movie",
        )
        self.all_movies = CheckBox(
            text="for all movies", value=False, tooltip="use this folder for every movie (remembered)"
        )
        # The whole output path, elided in the middle (the field itself shows only a part).
        self.output_path = QElidingLabel("")
        self.output_path.setElideMode(Qt.TextElideMode.ElideMiddle)
        self.output_path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Its width comes from the dock, never from the path (a long path would widen the dock).
        self.output_path.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        output_line = Container(widgets=[], labels=False)
        output_line.native.layout().addWidget(self.output_path)
        self.color_by = ComboBox(label="colour by", choices=list(RESULT_FEATURES), value="photons")
        self.blur = ComboBox(label="render", choices=["gaussian", "histogram"], value="gaussian")
        self.oversampling = FloatSpinBox(label="oversampling", value=10, min=1, max=50, step=1)
        # Localize, Cancel and the result summary: the dock keeps them in sight below its
        # scrolled form (:attr:`actions`), not in this section.
        self.localize = PushButton(text="Localize")
        self.cancel = PushButton(text="Cancel", enabled=False)
        self.live = CheckBox(
            text="Live",
            value=False,
            tooltip="the movie is still being written: localize its frames as they complete, "
            "until it has not grown for 10 s (docs/live.md)",
        )
        self.status = Label(value="")
        wrapping_label(self.status)
        # A long output path in the summary wraps instead of widening the dock.
        self.status.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.actions = Container(
            widgets=[
                Container(widgets=[self.localize, self.cancel, self.live], layout="horizontal", labels=False),
                self.status,
            ],
            labels=False,
        )
        widgets = []
        for name, widget in fields.items():
            widgets.append(widget)
            if name == "z_calibration":
                widgets.append(self.zcalib_message)
        super().__init__(
            widgets=[*widgets, self.out_folder, self.all_movies, output_line, self.color_by, self.blur]
            + [self.oversampling],
            labels=True,
        )
        self.z_calibration.changed.connect(self._calibration_note)

    def _calibration_note(self, *_):
        needs = "z_calibration" not in self.skipped
        missing = read_field(self.items["z_calibration"], self.z_calibration) is None
        self.zcalib_message.value = "3D fits need a calibration (_3d_calib.yaml)" if needs and missing else ""

    def show_applicable(self, fitter, detector):
        super().show_applicable(fitter, detector)
        self._calibration_note()

    def output_folder(self):
        """The folder typed or chosen in "save in"; None when empty (beside the movie).

        Read from the text: magicgui's ``FileEdit.value`` turns an empty field into the
        current working directory.
        """
        value = str(self.out_folder.line_edit.value).strip()
        return None if value in ("", ".") else str(Path(value).expanduser())

    def show_output_path(self, text, tooltip=""):
        """The line under "save in": where the outputs go (the full path, elided in the middle)."""
        self.output_path.setText(text)
        self.output_path.setToolTip(tooltip or text)

    def settings(self):
        # The folder is remembered only when it is for all movies: one movie's folder
        # must not redirect the next session's movies.
        return {
            **self.field_settings(),
            "out_folder": (self.output_folder() or "") if self.all_movies.value else "",
            "out_folder_all_movies": bool(self.all_movies.value),
            "color_by": self.color_by.value,
            "blur": self.blur.value,
            "oversampling": float(self.oversampling.value),
        }

    def apply_settings(self, settings):
        self.apply_field_settings(settings)
        for key, widget in {"color_by": self.color_by, "blur": self.blur, "oversampling": self.oversampling}.items():
            if key in settings:
                try:
                    widget.value = settings[key]
                except (ValueError, TypeError):
                    pass  # a remembered value this version no longer offers
        if settings.get("out_folder") and settings.get("out_folder_all_movies"):
            self.out_folder.value = settings["out_folder"]
            self.all_movies.value = True


def _wrap(text, width=48):
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
