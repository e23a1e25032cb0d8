"""The Localize dock's parameter sections (magicgui containers, no logic beyond the form).

Each section turns its fields into :class:`~napari_picasso.pipeline.LocalizeParameters`
keyword arguments; :mod:`napari_picasso._widgets.localize` wires them to the viewer.
"""

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

from ..io.camera_config import CameraConfig, camera_settings, config_path, load_cameras
from ..io.errors import InputFileError, ParameterError
from ..parameters import FIT_METHOD_NAMES, LocalizeParameters

MANUAL = "Manual"
RESULT_FEATURES = ("photons", "net_gradient", "lpx", "lpy", "sx", "sy", "bg", "frame", "ellipticity")


class IdentificationSection(Container):
    """Movie layer, box, min net gradient, frame bounds, ROI (Shapes layer or typed)."""

    def __init__(self, layer_choices, shapes_choices):
        defaults = LocalizeParameters()
        self.movie = ComboBox(label="movie", choices=layer_choices, nullable=True)
        self.box = SpinBox(label="box (px)", value=defaults.box, min=3, max=51, step=2)
        self.box_hint = Label(value="")
        self.min_net_gradient = FloatSpinBox(
            label="min net gradient", value=defaults.min_net_gradient, min=0, max=1e9, step=100
        )
        self.first_frame = SpinBox(label="first frame", value=0, min=0, max=10**9)
        self.last_frame = SpinBox(
            label="last frame", value=0, min=0, max=10**9, tooltip="inclusive; the movie's last frame means to the end"
        )
        self.roi_layer = ComboBox(
            label="ROI layer",
            choices=shapes_choices,
            nullable=True,
            tooltip="a Shapes layer of rectangles; spots centred in any are kept",
        )
        self.new_roi_layer = PushButton(text="Draw ROI rectangles")
        self.roi_text = LineEdit(
            label="ROI (px)", value="", tooltip="y0, x0, y1, x1; ... (end exclusive); empty: whole frame"
        )
        self.roi_message = Label(value="")
        self.detector = ComboBox(
            label="detector",
            choices=[("net gradient", "gradient"), ("SNR", "snr")],
            value=defaults.detector,
            tooltip="net gradient (Picasso) or signal-to-noise threshold",
        )
        self.snr_threshold = FloatSpinBox(
            label="SNR threshold",
            value=defaults.snr_threshold,
            min=0.01,
            max=1000,
            step=0.1,
            tooltip="multiple of the per-pixel noise the filtered signal must exceed",
        )
        self.debounce = FloatSpinBox(
            label="debounce (px)",
            value=defaults.debounce_px,
            min=0,
            max=100,
            step=0.5,
            tooltip="of two candidates closer than this, the stronger is kept",
        )
        self.background_frames = LineEdit(
            label="background frames",
            value="",
            tooltip="slice relative to each frame, e.g. -30:0 (the 30 frames before); empty: no background estimate",
        )
        self.background_frames.native.setPlaceholderText("e.g. -30:0 (empty: none)")
        self.background_statistic = ComboBox(
            label="background statistic", choices=["median", "mean"], value=defaults.background_statistic
        )
        self.subtract_background = CheckBox(
            text="subtract background before fitting", value=defaults.subtract_background
        )
        self.start_frame = SpinBox(
            label="start frame",
            value=defaults.start_frame,
            min=0,
            max=10**9,
            tooltip="localize from this frame on; earlier frames still feed background windows",
        )
        super().__init__(
            widgets=[
                self.movie,
                self.box,
                self.box_hint,
                self.detector,
                self.min_net_gradient,
                self.snr_threshold,
                self.debounce,
                self.background_frames,
                self.background_statistic,
                self.subtract_background,
                self.first_frame,
                self.last_frame,
                self.start_frame,
                self.roi_layer,
                self.new_roi_layer,
                self.roi_text,
                self.roi_message,
            ],
            labels=True,
        )
        self.box.changed.connect(self._update_hint)
        self._update_hint()
        self.detector.changed.connect(self._detector_changed)
        self._detector_changed()

    def _detector_changed(self, *_):
        snr = self.detector.value == "snr"
        self.min_net_gradient.enabled = not snr
        self.snr_threshold.enabled = snr
        self.debounce.enabled = snr

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
        return {
            "box": int(self.box.value),
            "min_net_gradient": float(self.min_net_gradient.value),
            "detector": self.detector.value,
            "snr_threshold": float(self.snr_threshold.value),
            "debounce_px": float(self.debounce.value),
            "background_frames": self.background_frames.value.strip() or None,
            "background_statistic": self.background_statistic.value,
            "subtract_background": bool(self.subtract_background.value),
            "start_frame": int(self.start_frame.value),
        }

    def apply_settings(self, settings):
        if "box" in settings:
            self.box.value = int(settings["box"])
        if "min_net_gradient" in settings:
            self.min_net_gradient.value = float(settings["min_net_gradient"])
        simple = {
            "detector": self.detector,
            "snr_threshold": self.snr_threshold,
            "debounce_px": self.debounce,
            "background_statistic": self.background_statistic,
            "subtract_background": self.subtract_background,
        }
        for key, widget in simple.items():
            if key in settings:
                try:
                    widget.value = settings[key]
                except (ValueError, TypeError):
                    pass  # a remembered value this version no longer offers
        if settings.get("background_frames"):
            self.background_frames.value = str(settings["background_frames"])
        # start_frame is not restored: like first/last frame it belongs to one movie, and a
        # remembered start would silently skip the first frames of the next one


class PreviewSection(Container):
    """The Preview switch and what the last preview found."""

    def __init__(self):
        self.preview = CheckBox(text="Preview spots on the current frame", value=False)
        self.status = Label(value="")
        super().__init__(widgets=[self.preview, self.status], labels=False)


class PhotonSection(Container):
    """Camera (from ``config.yaml``), sensitivity categories, EM gain, baseline, QE."""

    def __init__(self):
        defaults = LocalizeParameters()
        self.config_file = FileEdit(label="config.yaml", mode="r", filter="*.yaml", value="")
        self.camera = ComboBox(label="camera", choices=[MANUAL], value=MANUAL)
        self.categories = Container(widgets=[], labels=True)
        self.em_on = CheckBox(text="EM gain on", value=False)
        self.em_gain = FloatSpinBox(label="EM gain", value=defaults.em_gain, min=1, max=10000, step=1)
        self.baseline = FloatSpinBox(label="baseline (counts)", value=defaults.baseline, min=0, max=1e6, step=1)
        self.sensitivity = FloatSpinBox(
            label="sensitivity (e-/count)", value=defaults.sensitivity, min=1e-4, max=1e4, step=0.01
        )
        self.qe = FloatSpinBox(label="quantum efficiency", value=defaults.qe, min=0, max=1, step=0.01)
        self.read_noise = FloatSpinBox(
            label="read noise (e- rms)",
            value=defaults.read_noise_e,
            min=0,
            max=1000,
            step=0.1,
            tooltip="SNR detector's noise model without camera maps",
        )
        self.camera_maps = FileEdit(
            label="sCMOS maps",
            mode="r",
            filter="*.hdf5 *.h5 *.npz *.npy *.tif *.tiff",
            value="",
            tooltip="per-pixel offset/gain/variance maps; empty: none",
        )
        self.maps_origin = LineEdit(
            label="maps origin (y x)",
            value="",
            tooltip="top-left pixel of the movie's camera ROI in full-sensor maps; "
            "empty: from the movie's metadata (Micro-Manager ROI)",
        )
        self.maps_origin.native.setPlaceholderText("empty: the movie's camera ROI")
        self.message = Label(value="")
        super().__init__(
            widgets=[
                self.config_file,
                self.camera,
                self.categories,
                self.em_on,
                self.em_gain,
                self.baseline,
                self.sensitivity,
                self.qe,
                self.read_noise,
                self.camera_maps,
                self.maps_origin,
                self.message,
            ],
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

    def chosen_categories(self):
        return [w.value for w in self.categories]

    def parameters(self):
        camera = self.camera_config()
        return {
            "baseline": float(self.baseline.value),
            "sensitivity": float(self.sensitivity.value),
            "em_gain": float(self.em_gain.value) if (self.em_on.value or camera is None) else 1.0,
            "qe": float(self.qe.value),
            "camera": camera.name if camera is not None else None,
            "read_noise_e": float(self.read_noise.value),
            "camera_maps": self.maps_file(),
            "camera_maps_origin": self.maps_origin_value(),
        }

    def maps_origin_value(self):
        """``(y, x)`` typed in 'maps origin', or None when empty; ParameterError when unreadable."""
        text = str(self.maps_origin.value).replace(",", " ").split()
        if not text:
            return None
        try:
            origin = tuple(int(v) for v in text)
        except ValueError:
            origin = ()
        if len(origin) != 2 or min(origin) < 0:
            raise ParameterError(
                f"maps origin {self.maps_origin.value!r}: type two whole numbers 'y x' "
                "(the camera ROI's top-left pixel in the maps), or leave it empty."
            )
        return origin

    def maps_file(self):
        value = str(self.camera_maps.value)
        return None if value in ("", ".") else value

    def settings(self):
        return {
            "config_file": str(self.config_file.value) if str(self.config_file.value) not in ("", ".") else "",
            "camera": self.camera.value,
            "categories": self.chosen_categories(),
            "em_on": bool(self.em_on.value),
            "em_gain": float(self.em_gain.value),
            "baseline": float(self.baseline.value),
            "sensitivity": float(self.sensitivity.value),
            "qe": float(self.qe.value),
            "read_noise_e": float(self.read_noise.value),
            "camera_maps": self.maps_file() or "",
            "maps_origin": str(self.maps_origin.value),
        }

    def apply_settings(self, settings):
        if settings.get("config_file"):
            self.config_file.value = settings["config_file"]
        for key in ("em_gain", "baseline", "sensitivity", "qe"):
            if key in settings:
                getattr(self, key).value = float(settings[key])
        if "read_noise_e" in settings:
            self.read_noise.value = float(settings["read_noise_e"])
        if settings.get("camera_maps"):
            self.camera_maps.value = settings["camera_maps"]
        if settings.get("maps_origin"):
            self.maps_origin.value = settings["maps_origin"]
        self.em_on.value = bool(settings.get("em_on", self.em_gain.value > 1))
        if settings.get("camera") in self.camera.choices and settings["camera"] != MANUAL:
            self.camera.value = settings["camera"]
            for widget, value in zip(self.categories, settings.get("categories", [])):
                if value in widget.choices:
                    widget.value = value


class FitSection(Container):
    """Fit method and limits, pixel size, output folder, result display, Localize/Cancel."""

    def __init__(self):
        defaults = LocalizeParameters()
        self.method = ComboBox(
            label="fit", choices=[(name, key) for key, name in FIT_METHOD_NAMES.items()], value=defaults.fit_method
        )
        self.zcalib = FileEdit(
            label="3D calibration",
            mode="r",
            filter="*.yaml",
            value="",
            tooltip="_3d_calib.yaml (napari-picasso calibrate-z or Picasso); for the 3D astigmatism fits",
        )
        self.zcalib_message = Label(value="")
        # 0 shows as "off" / "from calibration": the parameter is None then.
        self.max_d_zcalib = FloatSpinBox(
            label="max. d_zcalib",
            value=0.0,
            min=0.0,
            max=10.0,
            step=0.005,
            tooltip="keep localizations with d_zcalib (distance from the calibration curve, sqrt(px)) "
            "up to this; Picasso keeps up to 2 x the rms d_zcalib of the file; off: keep all",
        )
        self.max_d_zcalib.native.setDecimals(4)
        self.max_d_zcalib.native.setSpecialValueText("off")
        self.magnification = FloatSpinBox(
            label="magnification",
            value=0.0,
            min=0.0,
            max=10.0,
            step=0.01,
            tooltip="magnification factor (refractive-index mismatch) replacing the calibration's",
        )
        self.magnification.native.setDecimals(4)
        self.magnification.native.setSpecialValueText("from calibration")
        self.shared_sigma = CheckBox(text="one sigma (symmetric PSF)", value=defaults.shared_sigma)
        self.max_iterations = SpinBox(label="max. iterations", value=defaults.max_iterations, min=1, max=10000)
        self.tolerance = FloatSpinBox(label="convergence (px)", value=defaults.tolerance_px, min=1e-6, max=1, step=1e-4)
        self.tolerance.native.setDecimals(6)
        self.pixelsize = FloatSpinBox(label="pixel size (nm)", value=defaults.pixelsize_nm, min=1, max=10000)
        self.out_folder = FileEdit(
            label="save in", mode="d", value="", tooltip="folder for the _locs.hdf5/.yaml pair; empty: beside the movie"
        )
        self.color_by = ComboBox(label="colour by", choices=list(RESULT_FEATURES), value="photons")
        self.blur = ComboBox(label="render", choices=["gaussian", "histogram"], value="gaussian")
        self.oversampling = FloatSpinBox(label="oversampling", value=10, min=1, max=50, step=1)
        self.localize = PushButton(text="Localize")
        self.cancel = PushButton(text="Cancel", enabled=False)
        self.status = Label(value="")
        super().__init__(
            widgets=[
                self.method,
                self.zcalib,
                self.zcalib_message,
                self.max_d_zcalib,
                self.magnification,
                self.shared_sigma,
                self.max_iterations,
                self.tolerance,
                self.pixelsize,
                self.out_folder,
                self.color_by,
                self.blur,
                self.oversampling,
                Container(widgets=[self.localize, self.cancel], layout="horizontal", labels=False),
                self.status,
            ],
            labels=True,
        )
        self.method.changed.connect(self._method_changed)
        self.zcalib.changed.connect(self._method_changed)
        self._method_changed()

    def is_3d(self):
        return str(self.method.value).endswith("-3d")

    def zcalib_file(self):
        value = str(self.zcalib.value)
        return None if value in ("", ".") else value

    def _method_changed(self, *_):
        three_d = self.is_3d()
        self.zcalib.enabled = three_d
        self.max_d_zcalib.visible = three_d
        self.magnification.visible = three_d
        if three_d:
            self.shared_sigma.value = False  # 3D fits need free sx and sy
        self.shared_sigma.enabled = not three_d
        self.zcalib_message.value = (
            "3D fits need a calibration (_3d_calib.yaml)" if three_d and self.zcalib_file() is None else ""
        )

    def parameters(self):
        return {
            "fit_method": self.method.value,
            "shared_sigma": bool(self.shared_sigma.value),
            "max_iterations": int(self.max_iterations.value),
            "tolerance_px": float(self.tolerance.value),
            "pixelsize_nm": float(self.pixelsize.value),
            "max_d_zcalib": _positive_or_none(self.max_d_zcalib.value) if self.is_3d() else None,
            "z_magnification": _positive_or_none(self.magnification.value) if self.is_3d() else None,
        }

    def output_folder(self):
        value = str(self.out_folder.value)
        return None if value in ("", ".") else value

    def settings(self):
        return {
            **self.parameters(),
            "out_folder": self.output_folder() or "",
            "zcalib": self.zcalib_file() or "",
            "max_d_zcalib": float(self.max_d_zcalib.value),
            "z_magnification": float(self.magnification.value),
            "color_by": self.color_by.value,
            "blur": self.blur.value,
            "oversampling": float(self.oversampling.value),
        }

    def apply_settings(self, settings):
        simple = {
            "fit_method": self.method,
            "shared_sigma": self.shared_sigma,
            "max_iterations": self.max_iterations,
            "tolerance_px": self.tolerance,
            "pixelsize_nm": self.pixelsize,
            "color_by": self.color_by,
            "blur": self.blur,
            "oversampling": self.oversampling,
            "max_d_zcalib": self.max_d_zcalib,
            "z_magnification": self.magnification,
        }
        for key, widget in simple.items():
            if key in settings:
                try:
                    widget.value = settings[key]
                except (ValueError, TypeError):
                    pass  # a remembered value this version no longer offers
        if settings.get("out_folder"):
            self.out_folder.value = settings["out_folder"]
        if settings.get("zcalib"):
            self.zcalib.value = settings["zcalib"]


def _positive_or_none(value):
    value = float(value)
    return value if value > 0 else None


def _wrap(text, width=48):
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
