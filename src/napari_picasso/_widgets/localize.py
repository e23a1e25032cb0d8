"""The Localize dock: identification with live preview, photon conversion, fit, results.

The dock only collects parameters (its fields come from the parameter schema, see
:mod:`._sections`), starts workers and shows results. Localization is
:func:`napari_picasso.pipeline.localize_file` (the pipeline every front end uses) and the
super-resolution image :func:`napari_picasso.core.render.render`; both run in napari thread
workers, so the viewer stays responsive. The preview is the pipeline's own detection of
one frame, :func:`napari_picasso.detection.detect_frame`.
"""

import math
import queue
import threading
import time
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.layers import Image, Shapes
from napari.qt.threading import create_worker
from napari.utils import progress as napari_progress
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QMessageBox, QVBoxLayout, QWidget
from superqt import QCollapsible

from .. import fitters, plots
from ..core.colours import parse_colours
from ..core.nena import nena
from ..core.render import render
from ..db import record_file
from ..detection import detect_frame, load_maps
from ..distributed.cluster import ComputeSession
from ..io.errors import InputFileError, ParameterError
from ..io.follow import follow_movie
from ..io.locs import existing_outputs, free_locs_path, load_locs, locs_path_for, movie_locs_path
from ..io.metadata import stated_camera
from ..io.movie import LayerMovie, Movie
from ..io.movies import open_movie
from ..kernel_cache import compile_kernels, first_run_notice
from ..layer_data import colour_layer_data, overlay_rgb, z_layer_data
from ..output_folders import OutputFolders, movie_key
from ..parameters import LocalizeParameters, detection_only, roi_keywords, validate_parameters
from ..pipeline import LocalizationCancelled, chunk_frames_for, localize, localize_file
from ..plots import ratio_histogram
from ..splitter import is_split, registered_channels
from ._colourbar import ColourBar
from ._compute import ComputeSection
from ._layout import align_labels, compact_choices, scrolled, tab_with_other_docks
from ._roi import format_rectangles, parse_rectangles, rectangle_to_vertices, shapes_to_rectangles
from ._sections import FitSection, IdentificationSection, PhotonSection, PreviewSection
from ._settings import load_settings, save_settings

PLUGIN_KEY = "napari_picasso"


def movie_file(layer):
    """The file an image layer was opened from (our reader's record, the lazy movie's path or
    napari's source), or None for a layer made in memory."""
    meta = (layer.metadata or {}).get(PLUGIN_KEY) or {}
    if meta.get("path"):
        return Path(meta["path"])
    if isinstance(layer.data, Movie) and layer.data.path.is_file():
        return Path(layer.data.path)
    source = getattr(getattr(layer, "source", None), "path", None)
    return Path(source) if source else None


# The dock's Live run: the movie has ended when it has not grown for this long.
LIVE_IDLE_S = 10.0
# A Live run's poll of the worker's rows: 10 Hz (a frame's points within 1 s, issue 24).
LIVE_POLL_MS = 100


# -- work done in threads (no Qt) ----------------------------------------------------------
def preview_spots(movie, frame_number, parameters):
    """Spots a run would detect on one frame (what the preview shows); runs in a worker."""
    started = time.perf_counter()
    fitter = fitters.get(parameters.fit_method)
    full = parameters
    # Detection does not use the fit's options (a 3D calibration not chosen yet, ...).
    parameters = detection_only(parameters)
    try:
        rows = detect_frame(movie, frame_number, parameters)
        # A method with several rows per box (mle-multi): its emitters, so pairs show split.
        emitters = preview_emitters(movie, frame_number, full) if fitter.rows_per_spot else None
    except (ParameterError, InputFileError) as error:
        # Bad input (a background slice being typed, a camera-maps file): said in the dock.
        return {"frame": frame_number, "error": str(error)}
    overlay = None
    if is_split(parameters):  # the halves overlaid through the channel calibration
        stop = frame_number + 1
        frames = movie.read_frames(frame_number, stop) if hasattr(movie, "read_frames") else movie[frame_number:stop]
        first, second = registered_channels(frames, parameters)
        overlay = overlay_rgb(first[0], second[0])
    found = {
        "frame": frame_number,
        "overlay": overlay,
        "y": rows["y"],
        "x": rows["x"],
        "net_gradient": rows["net_gradient"],
        "box": parameters.box,
        "seconds": time.perf_counter() - started,
        "thread": threading.current_thread().name,
    }
    if emitters is not None:
        found["emitters"] = emitters
    return found


def preview_emitters(movie, frame_number, parameters):
    """The localizations of one frame (the pipeline's, with the fit's options)."""
    one_frame = parameters.replace(frame_range=(frame_number, frame_number + 1), start_frame=0)
    return localize(movie, one_frame)


def result_display(locs, image, with_frames=True, color_by="photons"):
    """Layer data of a result, prepared off the GUI thread (the GUI only swaps it in).

    Returns
    -------
    dict
        ``points`` ((frame,) y, x), ``features`` (DataFrame of every locs field),
        ``limits`` (colour limits of ``color_by``; others are computed when chosen),
        ``render_limits``.
    """
    import pandas as pd

    columns = ["frame", "y", "x"] if with_frames else ["y", "x"]
    features = pd.DataFrame({name: locs[name] for name in locs.dtype.names})
    return {
        "points": np.column_stack([locs[c] for c in columns]).astype(float),
        "features": features,
        "limits": {color_by: _feature_limits(features[color_by])} if color_by in features else {},
        # From the lit pixels only: sparse localizations are not saturated by the empty ones.
        "render_limits": plots.contrast_limits(image),
    }


def result_figures(locs, pixelsize_nm, database):
    """The summary of a result: median photons, median precision (nm) and NeNA (nm).

    NeNA is the database row's (:func:`napari_picasso.core.quality.quality_metrics`), or
    :func:`napari_picasso.core.nena.nena`'s when no row was written; NaN where there is
    too little to say.
    """
    if not len(locs):
        return {}
    nena_nm = database.get("nena_nm") if not database.get("error") else None
    if nena_nm is None:
        try:
            nena_nm = nena(locs, pixelsize_nm).s_nm
        except (ValueError, RuntimeError):
            nena_nm = math.nan
    precision = np.concatenate([locs["lpx"], locs["lpy"]]) if "lpy" in locs.dtype.names else locs["lpx"]
    return {
        "median_photons": float(np.median(locs["photons"])),
        "median_precision_nm": float(np.median(precision)) * float(pixelsize_nm),
        "nena_nm": float(nena_nm) if nena_nm is not None else math.nan,
    }


def figures_note(figures):
    """A result's figures as a line of the dock's summary."""
    if not figures:
        return ""
    nena_text = f"{figures['nena_nm']:.1f} nm" if np.isfinite(figures["nena_nm"]) else "n/a"
    return (
        f"median {figures['median_photons']:.0f} photons, precision "
        f"{figures['median_precision_nm']:.1f} nm, NeNA {nena_text}\n"
    )


def plural(count, noun):
    """``1 spot``, ``2 spots``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def run_localization(
    source,
    parameters,
    locs_path,
    progress,
    cancel,
    chunk_frames,
    blur,
    oversampling,
    choices=None,
    with_frames=True,
    color_by="photons",
    compute=None,
    session=None,
    live=None,
):
    """Localize into ``locs_path`` and render the result; runs in a worker thread.

    ``live`` (a :class:`LiveFeed`) follows a movie still being written
    (:func:`~napari_picasso.io.follow.follow_movie`): each chunk's rows and their render
    go to the feed as they are localized, for the dock to add to its layers.

    ``compute`` (a :class:`~napari_picasso.distributed.ComputeChoice`) other than threads
    runs on Dask with :func:`~napari_picasso.distributed.localize_file_distributed`
    (progress per block), through ``session`` (a
    :class:`~napari_picasso.distributed.ComputeSession`, which keeps the cluster for the
    next run); otherwise the in-process :func:`~napari_picasso.pipeline.localize_file`.

    Returns
    -------
    dict
        ``cancelled`` (True: nothing was written), else ``result``
        (:class:`~napari_picasso.pipeline.LocalizeResult`), ``locs``, the rendered
        ``image`` and its ``display`` (:func:`result_display`), and ``database`` (the
        row :func:`~napari_picasso.db.record_file` wrote, or ``{"error": ...}``).
    """
    started = time.perf_counter()
    try:
        if live is not None:
            with follow_movie(source, idle_seconds=live.idle_seconds, **(choices or {})) as movie:
                result = localize_file(
                    movie,
                    parameters,
                    locs_path,
                    progress=progress,
                    cancel=cancel,
                    chunk_frames=chunk_frames,
                    on_rows=live.rows_for(movie, oversampling, blur),
                )
        elif compute is None or compute.mode == "threads":
            result = localize_file(
                source,
                parameters,
                locs_path,
                progress=progress,
                cancel=cancel,
                chunk_frames=chunk_frames,
                **(choices or {}),
            )
        else:
            from ..distributed import localize_file_distributed

            client = session.client_for(compute)  # starts or connects once, kept for later runs
            result = localize_file_distributed(
                source, parameters, locs_path, client=client, progress=progress, cancel=cancel, **(choices or {})
            )
    except LocalizationCancelled as error:
        return {"cancelled": True, "message": str(error)}
    try:
        # Every localization leaves its row (README); the default database as the command line's.
        database = record_file(result.locs_path)
    except Exception as error:  # noqa: BLE001  the locs file is written: only its row is lost, said in the dock
        database = {"error": f"no database row written: {error}"}
    locs = load_locs(result.locs_path, with_info=False)
    height, width = result.info[0]["Height"], result.info[0]["Width"]
    # The render covers the camera pixels exactly (pixel centres at integers).
    image, _ = render(locs, oversampling, viewport=(-0.5, -0.5, height - 0.5, width - 0.5), blur=blur)
    display = result_display(locs, image, with_frames, color_by)
    figures = result_figures(locs, parameters.pixelsize_nm, database)
    # 3D fits: the z views (3D points, z-coloured render) are prepared here, off the GUI thread.
    movie_name = Path(str(result.locs_path)).stem
    z_layers = (
        z_layer_data(locs, parameters.pixelsize_nm, name=movie_name) if "z" in locs.dtype.names and len(locs) else None
    )
    colours = None
    if "colour" in locs.dtype.names and parameters.colours:
        names, windows = parse_colours(parameters.colours)
        colours = {"names": names, "windows": windows, "layers": colour_layer_data(locs, names, name=movie_name)}
    return {
        "cancelled": False,
        "result": result,
        "locs": locs,
        "colours": colours,
        "image": image,
        "oversampling": oversampling,
        "display": display,
        "z_layers": z_layers,
        "database": database,
        "figures": figures,
        "worker_seconds": time.perf_counter() - started,
        "thread": threading.current_thread().name,
    }


def _follow_layer(source, choices):
    """A second follower of a Live run's movie, for its layer (the GUI thread's own file
    handles); None where the file cannot be followed (the worker then says why). It is only
    refreshed, never waited on: no idle wait here, the GUI never blocks."""
    try:
        return follow_movie(source, idle_seconds=0, **(choices or {}))
    except InputFileError:
        return None


class LiveFeed:
    """Rows of a live run and their render, handed from the worker to the dock.

    The worker puts ``(rows, image)`` per chunk (the image rendered on the movie's pixel
    grid, so the dock adds it to what it shows); the dock's timer takes them.
    """

    def __init__(self, idle_seconds=LIVE_IDLE_S):
        self.idle_seconds = idle_seconds
        self.queue = queue.SimpleQueue()

    def rows_for(self, movie, oversampling, blur):
        _, height, width = movie.shape
        viewport = (-0.5, -0.5, height - 0.5, width - 0.5)

        def on_rows(rows):
            if len(rows):
                image, _ = render(rows, oversampling, viewport=viewport, blur=blur)
                self.queue.put((rows, image))

        return on_rows

    def take(self):
        """Everything put since the last call: ``[(rows, image), ...]``."""
        taken = []
        while True:
            try:
                taken.append(self.queue.get_nowait())
            except queue.Empty:
                return taken


def gui_chunk_frames(shape, n_frames):
    """Frames per chunk in the dock: about 20 progress steps (and cancel points), at
    least 64 frames a chunk, never more than the pipeline's memory bound."""
    return int(min(chunk_frames_for(shape), max(64, math.ceil(n_frames / 20))))


def _movie_shape(layer):
    shape = tuple(layer.data.shape)
    return (1,) + shape if len(shape) == 2 else shape


def ask_about_existing(parent, locs_path, existing):
    """Ask what to do with the earlier output at ``locs_path`` (``existing``: its files).

    Returns
    -------
    str
        ``"replace"``, ``"keep"`` (write the new output under :func:`free_locs_path`'s
        name, beside it) or ``"cancel"``. Tests replace this function, or click the box.
    """
    written = time.strftime("%Y-%m-%d %H:%M", time.localtime(max(p.stat().st_mtime for p in existing)))
    kept = free_locs_path(locs_path)
    box = QMessageBox(parent)
    box.setObjectName("napari_picasso_existing_outputs")
    box.setWindowTitle("Earlier localizations")
    box.setIcon(QMessageBox.Icon.Question)
    box.setText(f"{Path(locs_path).name} already exists (written {written}) in\n{Path(locs_path).parent}")
    box.setInformativeText(f"Replace it, keep it and write {kept.name} beside it, or cancel?")
    replace = box.addButton("Replace", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep it, write a new file", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep)
    box.exec()
    clicked = box.clickedButton()
    return "replace" if clicked is replace else "keep" if clicked is keep else "cancel"


def movie_metadata(layer):
    """The movie's metadata: from the reader's layer metadata, else from a Movie's."""
    meta = (layer.metadata or {}).get(PLUGIN_KEY) or {}
    if meta.get("movie_metadata"):
        return dict(meta["movie_metadata"])
    if isinstance(layer.data, Movie):
        return dict(layer.data.metadata)
    return {}


# -- the dock -------------------------------------------------------------------------------
class LocalizeWidget(QWidget):
    """Identification, live preview, photon conversion and fit, as one dock.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.identification = IdentificationSection(self._movie_choices, self._shapes_choices)
        self.preview = PreviewSection()
        self.photons = PhotonSection()
        self.fit = FitSection()
        self.compute = ComputeSection()
        # One cluster (or scheduler connection) kept across runs while the choice stays.
        self.compute_session = ComputeSession()
        session = self.compute_session
        self.destroyed.connect(lambda *_: session.close())
        self.preview_layer = None
        self.preview_emitters_layer = None
        self.preview_result = None
        self.points_layer = None
        self.render_layer = None
        self.last_output = None
        self.z_layers = []
        self._limits = {}  # colour limits per feature of the shown result
        self.chunk_frames = None  # None: gui_chunk_frames(); tests set small chunks
        self._roi_layer = None
        self._syncing_roi = False
        self._watched_shapes = set()  # ids of the Shapes layers whose drawing is followed
        self.output_folders = OutputFolders()
        self._showing_folder = False
        self._replacing = None  # the earlier output a running localization replaces
        self._preview_worker = None
        self._preview_pending = False
        self._preview_movie = (None, None)  # (layer, its reader used only by preview workers)
        self._localize_worker = None
        self._cancel = None
        self._progress = None
        self.frames_done = 0  # written by the localize worker, read by the progress timer
        self.frames_total = 0  # a Live run: the frames written so far
        self._live = None  # a Live run's LiveFeed
        self._live_image = None
        self._live_movie = None  # a Live run: the movie layer's own follower of the file
        self.live_locs = 0  # localizations added to the layers by a Live run
        self._polling = False
        self._end_after_poll = False
        self._progress_timer = QTimer(self)
        self._progress_timer.setInterval(250)  # 4 Hz: smooth enough, little repainting (Live: LIVE_POLL_MS)
        self._progress_timer.timeout.connect(self._poll_progress)
        self._restoring = True

        inner = QWidget()
        layout = QVBoxLayout(inner)
        self.collapsibles = {}
        for title, section in (
            ("Identification", self.identification),
            ("Live preview", self.preview),
            ("Photon conversion", self.photons),
            ("Fit", self.fit),
            ("Compute", self.compute),
        ):
            collapsible = QCollapsible(title)
            collapsible.addWidget(section.native)
            if section is not self.compute:  # threads by default: nothing to set
                collapsible.expand(animate=False)
            self.collapsibles[title] = collapsible
            layout.addWidget(collapsible)
        # Splitter results: the ratio histogram with the colour windows (shown after a run).
        self.ratio_canvas = FigureCanvasQTAgg(Figure(figsize=(4, 2.6), layout="constrained"))
        self.ratio_canvas.setMinimumHeight(200)
        self.ratio_canvas.hide()
        layout.addWidget(self.ratio_canvas)
        layout.addStretch(1)
        inner.setMinimumWidth(340)
        self.setMinimumWidth(360)
        self._inner = inner
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        # The sections scroll; Localize, Cancel and the result summary stay in sight below.
        outer.addWidget(scrolled(inner), stretch=1)
        outer.addWidget(self.fit.actions.native)
        self.colour_bar = ColourBar()  # of "colour by", shown with a result
        outer.addWidget(self.colour_bar)
        self.align_labels()
        tab_with_other_docks(self)

        settings = load_settings()
        self.photons.load_config(settings.get("config_file") or None)
        self.identification.apply_settings(settings)
        self.photons.apply_settings(settings)
        self.fit.apply_settings(settings)
        if self.fit.all_movies.value:
            self.output_folders.all_movies = self.fit.output_folder()
        self.compute.apply_settings(settings)
        self._restoring = False

        ident = self.identification
        ident.movie.changed.connect(self._movie_changed)
        ident.roi_layer.changed.connect(self._roi_layer_changed)
        ident.roi_text.changed.connect(self._text_to_shapes)
        ident.new_roi_layer.clicked.connect(self.add_roi_layer)
        ident.box.changed.connect(self._check_roi)
        self.fit.out_folder.changed.connect(self._folder_chosen)
        self.fit.all_movies.changed.connect(self._folder_chosen)
        # Detection reads the identification and camera fields: each change re-runs the preview.
        for section in (ident, self.photons):
            section.changed.connect(self.request_preview)
        for field in (ident.detector, self.fit.fit_method):
            field.changed.connect(self._show_applicable)
        # A multi-emitter preview also shows the fit: its options re-run it too.
        for field in self.fit.fields.values():
            field.changed.connect(self._fit_option_changed)
        self._show_applicable()
        self.preview.preview.changed.connect(self._preview_toggled)
        self.fit.localize.clicked.connect(self.start_localize)
        self.fit.cancel.clicked.connect(self.cancel_localize)
        self.fit.color_by.changed.connect(self._recolor)
        for section in (ident, self.photons, self.fit, self.compute):
            section.changed.connect(self._save_settings)
        self.photons.camera.changed.connect(self._camera_pixelsize)

        events = self.viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered):
            event.connect(self.reset_choices)
        self.viewer.dims.events.current_step.connect(self._frame_changed)
        self.reset_choices()
        self._kernel_worker = None
        self.prepare_kernels()

    def align_labels(self):
        """Fields of every section in one column (again when napari's style is applied);
        the dock at least as wide as its rows need (its form does not scroll sideways)."""
        sections = (self.identification, self.photons, self.fit, self.compute)
        compact_choices(*sections)
        width = align_labels(*sections)
        self.setMinimumWidth(max(360, self._inner.minimumSizeHint().width() + 24))
        return width

    def showEvent(self, event):  # noqa: N802 (Qt API)
        super().showEvent(event)
        self.align_labels()

    # -- numba's first run ---------------------------------------------------------------------
    def _kernel_parameters(self):
        try:
            return LocalizeParameters(**{**self.identification.values(), **self.photons.values(), **self.fit.values()})
        except (ParameterError, InputFileError, ValueError, TypeError):
            return LocalizeParameters(fit_method=self.fit.fit_method.value)

    def prepare_kernels(self):
        """On a fresh install numba compiles the kernels on first use (tens of seconds of
        nothing happening): compile them now in a worker thread, and say so meanwhile.

        Returns the worker, or None when the kernels are compiled already.
        """
        parameters = self._kernel_parameters()
        notice = first_run_notice(parameters)
        if notice is None:
            return None
        self.kernel_notice = notice
        for status in (self.preview.status, self.fit.status):
            status.value = notice
        worker = create_worker(compile_kernels, parameters, _start_thread=False)
        worker.errored.connect(self._kernels_failed)
        worker.finished.connect(self._kernels_ready)
        self._kernel_worker = worker
        worker.start()
        return worker

    def _kernels_failed(self, error):
        pass  # best effort: the first preview or run compiles what is missing (and says why it fails)

    def _kernels_ready(self):
        self._kernel_worker = None
        for status in (self.preview.status, self.fit.status):
            if status.value == self.kernel_notice:
                status.value = ""
        self.request_preview()

    @property
    def kernels_busy(self):
        return self._kernel_worker is not None

    # -- layers ------------------------------------------------------------------------------
    def _movie_choices(self, widget=None):
        return [
            (layer.name, layer)
            for layer in self.viewer.layers
            if isinstance(layer, Image)
            and layer.ndim in (2, 3)
            and not layer.rgb
            and ((layer.metadata or {}).get(PLUGIN_KEY) or {}).get("role") is None
        ]

    def _shapes_choices(self, widget=None):
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Shapes)]

    def reset_choices(self, *_):
        for combo in (self.identification.movie, self.identification.roi_layer):
            combo.reset_choices()
        movie = self.identification.movie
        if movie.value is None and movie.choices:
            movie.value = movie.choices[-1]
        self._follow_shapes()

    def _follow_shapes(self):
        """Follow drawing in every Shapes layer; link the only one when none is linked."""
        shapes = [layer for _, layer in self._shapes_choices()]
        for layer in shapes:
            if id(layer) not in self._watched_shapes:
                self._watched_shapes.add(id(layer))
                layer.events.data.connect(self._shapes_drawn)
        roi_layer = self.identification.roi_layer
        if self._roi_layer is not None and self._roi_layer not in self.viewer.layers:
            self._roi_layer_changed(None)  # the linked layer was removed
        if roi_layer.value is None and len(shapes) == 1:
            roi_layer.value = shapes[0]

    def _shapes_drawn(self, event):
        """A rectangle drawn in a Shapes layer that is not the linked one: link it (the
        last drawn layer is the ROI)."""
        layer = getattr(event, "source", None)
        if self._syncing_roi or layer is None or layer is self._roi_layer or layer not in self.viewer.layers:
            return
        if str(getattr(event, "action", "added")) == "added" and len(layer.data):
            self.identification.roi_layer.value = layer

    def movie_layer(self):
        return self.identification.movie.value

    def current_frame(self):
        layer = self.movie_layer()
        if layer is None or layer.ndim < 3:
            return 0
        position = layer.world_to_data(self.viewer.dims.point)
        return int(np.clip(round(float(position[0])), 0, layer.data.shape[0] - 1))

    def _movie_changed(self, layer):
        if layer is None:
            return
        n_frames, height, width = _movie_shape(layer)
        self.identification.set_frame_count(n_frames)
        if self.photons.cameras:
            self.photons.match_movie(movie_metadata(layer))
            self._camera_pixelsize()
        self._stated_camera(layer)
        self._show_folder()
        self._text_to_shapes()
        self.request_preview()

    def _stated_camera(self, layer):
        """A movie whose metadata states its camera (the sample movie, simulations): those
        values, unless a camera of ``config.yaml`` is chosen."""
        stated = stated_camera(movie_metadata(layer))
        if not stated or self.photons.camera_config() is not None:
            return stated
        self.photons.show_stated(stated)
        if "pixelsize_nm" in stated:
            self.fit.pixelsize_nm.value = stated["pixelsize_nm"]
        self.photons.message.value = f"camera values from {layer.name}'s metadata"
        return stated

    def _camera_pixelsize(self, *_):
        if self.photons.camera_config() is not None and self.photons.pixelsize_nm:
            self.fit.pixelsize_nm.value = self.photons.pixelsize_nm

    # -- ROI: Shapes layer <-> typed rectangles ---------------------------------------------
    def add_roi_layer(self, *_):
        """Add an empty 2D Shapes layer for ROI rectangles and start drawing."""
        layer = self.viewer.add_shapes(ndim=2, name="ROI", face_color="transparent", edge_color="cyan", edge_width=0.5)
        layer.mode = "add_rectangle"
        self.identification.roi_layer.value = layer
        return layer

    def _roi_layer_changed(self, layer):
        previous = self._roi_layer
        if previous is not None:
            try:
                previous.events.data.disconnect(self._shapes_to_text)
            except (TypeError, ValueError, RuntimeError):
                pass
        self._roi_layer = layer
        if layer is not None:
            layer.events.data.connect(self._shapes_to_text)
            keywords = self._check_roi()
            if not len(layer.data) and keywords:
                self._draw_rectangles(keywords)  # an empty layer shows the typed rectangles
            else:
                self._shapes_to_text()
        elif previous is not None and previous not in self.viewer.layers:
            # The ROI layer was deleted: its rectangles go with it.
            self._set_roi_text("")
            self.identification.roi_message.value = "ROI layer removed: the whole frame"
            self.request_preview()

    def _frame_size(self):
        layer = self.movie_layer()
        if layer is None:
            return None
        return _movie_shape(layer)[1:]

    def _set_roi_text(self, text):
        self._syncing_roi = True
        try:
            self.identification.roi_text.value = text
        finally:
            self._syncing_roi = False

    def _shapes_to_text(self, *_):
        if self._syncing_roi or self._roi_layer is None or self._frame_size() is None:
            return
        self._set_roi_text(format_rectangles(shapes_to_rectangles(self._roi_layer.data, *self._frame_size())))
        self._check_roi()
        self.request_preview()

    def _text_to_shapes(self, *_):
        if self._syncing_roi:
            return
        keywords = self._check_roi()
        if keywords is not None:
            self._draw_rectangles(keywords)
        # Bad text: the layer keeps its rectangles, preview and Localize both refuse (the
        # message says why), so neither uses another ROI than the other.
        self.request_preview()

    def _draw_rectangles(self, keywords):
        """Put the rectangles of ``keywords`` (:func:`roi_keywords`) into the linked layer."""
        rectangles = list(keywords.get("rois") or ([keywords["roi"]] if "roi" in keywords else []))
        layer = self._roi_layer
        if layer is None and rectangles:
            layer = self.add_roi_layer()
            layer.mode = "pan_zoom"
        if layer is None:
            return
        # A Shapes layer made with napari's own button has the viewer's dimensions: the
        # rectangles go on the current frame.
        lead = np.asarray(self.viewer.dims.point, float)[: max(0, layer.ndim - 2)]
        lead = np.concatenate([np.zeros(max(0, layer.ndim - 2 - len(lead))), lead])
        shapes = [(np.column_stack([np.tile(lead, (4, 1)), rectangle_to_vertices(r)]), "rectangle") for r in rectangles]
        self._syncing_roi = True
        try:
            if shapes:
                layer.data = shapes
            elif len(layer.data):
                layer.selected_data = set(range(len(layer.data)))
                layer.remove_selected()
        finally:
            self._syncing_roi = False

    def roi_keywords(self):
        """The ROI that the preview and Localize both use: the ROI field read against the
        movie's frame (:func:`~napari_picasso.parameters.roi_keywords`).

        Raises
        ------
        ParameterError
            When the field is not rectangles inside the frame.
        """
        height, width = self._frame_size() or (10**9, 10**9)
        return roi_keywords(self.identification.roi_text.value, height, width, box=int(self.identification.box.value))

    def _check_roi(self, *_):
        """Say next to the ROI field what is wrong with it; the keywords, or None."""
        try:
            keywords = self.roi_keywords()
        except ParameterError as error:
            self.identification.roi_message.value = str(error)
            return None
        self.identification.roi_message.value = ""
        return keywords

    def rectangles(self):
        """The ROI rectangles ``(y0, x0, y1, x1)`` shown in the dock."""
        return parse_rectangles(self.identification.roi_text.value)

    # -- parameters --------------------------------------------------------------------------
    def parameters(self):
        """:class:`LocalizeParameters` from the dock (ROI rectangles, frame bounds included).

        Raises
        ------
        ParameterError
            When no movie layer is chosen or the ROI text is not rectangles in the frame.
        """
        layer = self.movie_layer()
        if layer is None:
            raise ParameterError("choose a movie layer (open a movie first).")
        n_frames = _movie_shape(layer)[0]
        roi = self.roi_keywords()
        try:
            kwargs = {**self.identification.values(), **self.photons.values(), **self.fit.values()}
        except InputFileError as error:  # a calibration or maps file that cannot be read
            raise ParameterError(str(error)) from None
        kwargs["frame_range"] = self.identification.frame_range(n_frames)
        return LocalizeParameters(**kwargs, **roi)

    def _show_applicable(self, *_):
        """Show the fields the chosen fit method and detector read."""
        fitter = fitters.get(self.fit.fit_method.value)
        for section in (self.identification, self.photons, self.fit):
            section.show_applicable(fitter, self.identification.detector.value)

    def settings(self):
        return {
            **self.identification.settings(),
            **self.photons.settings(),
            **self.fit.settings(),
            **self.compute.settings(),
        }

    def _save_settings(self, *_):
        if not self._restoring:
            save_settings(self.settings())

    # -- live preview ------------------------------------------------------------------------
    def _preview_toggled(self, on):
        for layer in (self.preview_layer, self.preview_emitters_layer):
            if layer is not None and layer in self.viewer.layers:
                layer.visible = bool(on)
        if on:
            self.request_preview()

    def _frame_changed(self, *_):
        self.request_preview()

    def _fit_option_changed(self, *_):
        previous = (self.preview_result or {}).get("emitters") is not None
        try:
            multi = fitters.get(self.fit.fit_method.value).rows_per_spot
        except ParameterError:
            multi = False
        if multi or previous:
            self.request_preview()

    def request_preview(self, *_):
        """Preview the current frame; while a preview runs only the latest request waits."""
        if not self.preview.preview.value or self.movie_layer() is None:
            return
        if self._preview_worker is not None:
            self._preview_pending = True
            return
        self._start_preview()

    def _start_preview(self):
        self._preview_pending = False
        layer = self.movie_layer()
        try:
            parameters = self.parameters()
        except ParameterError as error:
            # Localize would refuse these parameters: the preview shows no stale squares.
            self.preview.status.value = str(error)
            self.preview_result = {"frame": self.current_frame(), "error": str(error)}
            if self._preview_layer_shown():
                self.preview_layer.data = np.empty((0, 2))
            return
        frame_number = self.current_frame()
        if self._kernel_worker is not None:
            self.preview.status.value = self.kernel_notice
        worker = create_worker(
            preview_spots, self._preview_source(layer), frame_number, parameters, _start_thread=False
        )
        worker.returned.connect(self._show_preview)
        worker.errored.connect(self._preview_failed)
        worker.finished.connect(self._preview_finished)
        self._preview_worker = worker
        worker.start()

    def _preview_source(self, layer):
        """What preview workers read: a reader of their own for movie files (the viewer's
        reader is not shared across threads; one preview runs at a time), else the data."""
        if self._preview_movie[0] is layer:
            return self._preview_movie[1]
        meta = (layer.metadata or {}).get(PLUGIN_KEY) or {}
        path = movie_file(layer)
        if path is not None:
            source = open_movie(path, **dict(meta.get("choices") or {}))
        else:
            source = layer.data
        self._preview_movie = (layer, source)
        return source

    def _preview_failed(self, error):
        self.preview.status.value = str(error)

    def _preview_finished(self):
        self._preview_worker = None
        if self._preview_pending:
            self._start_preview()

    def _show_preview(self, found):
        if self._preview_pending:
            # A newer frame or parameter is waiting: skip this stale result (each shown
            # preview costs a canvas redraw, which would slow scrubbing down).
            return
        if "error" in found:
            self.preview_result = found
            self.preview.status.value = found["error"]
            return
        data = np.column_stack([found["y"], found["x"]]).astype(float)
        layer = self.movie_layer()
        name = f"{layer.name} preview" if layer is not None else "preview"
        emitters = found.get("emitters")
        status = f"frame {found['frame']}: {plural(len(data), 'spot')}"
        if emitters is not None:
            status += f", {plural(len(emitters), 'emitter')}"
        status += f" ({found['seconds'] * 1e3:.1f} ms)"
        shown = self.preview_layer is not None and self.preview_layer in self.viewer.layers
        if shown and not self.preview_layer.visible:
            # Hidden by the user: napari cannot update a hidden Points layer's data (its
            # view indices are stale: IndexError); the squares are redrawn when shown.
            self.preview_result = found
            self.preview.status.value = f"{status}; preview layer hidden"
            return
        if self.preview_layer is None or self.preview_layer not in self.viewer.layers:
            self.preview_layer = self.viewer.add_points(
                data,
                ndim=2,
                name=name,
                symbol="square",
                size=found["box"],
                face_color="transparent",
                border_color="yellow",
                border_width=0.1,
                border_width_is_relative=True,
                metadata={PLUGIN_KEY: {"role": "preview"}},
            )
            if layer is not None:
                self.preview_layer.scale = layer.scale[-2:]
                self.preview_layer.translate = layer.translate[-2:]
            self.preview_layer.events.visible.connect(self._preview_layer_shown_again)
            self.viewer.layers.selection.active = self.movie_layer() or self.preview_layer
        else:
            self.preview_layer.data = data
            self.preview_layer.size = found["box"]
            self.preview_layer.border_color = "yellow"
        self._show_overlay(layer, found.get("overlay"))
        self.preview_result = found
        self._show_preview_emitters(emitters, layer)
        self.preview.status.value = status

    def _preview_layer_shown(self):
        layer = self.preview_layer
        return layer is not None and layer in self.viewer.layers and layer.visible

    def _preview_layer_shown_again(self, *_):
        if self._preview_layer_shown():
            self.request_preview()

    def _show_preview_emitters(self, emitters, movie_layer):
        """Crosses at the emitters of a multi-emitter preview (hidden for other fit methods)."""
        layer = self.preview_emitters_layer
        if layer is not None and layer in self.viewer.layers and not layer.visible:
            return  # hidden: napari cannot update it (IndexError); redrawn when shown
        if emitters is None:
            if layer is not None and layer in self.viewer.layers:
                layer.data = np.zeros((0, 2))
            return
        data = np.column_stack([emitters["y"], emitters["x"]]).astype(float)
        if layer is None or layer not in self.viewer.layers:
            self.preview_emitters_layer = self.viewer.add_points(
                data,
                ndim=2,
                name="preview emitters",
                symbol="cross",
                size=1.0,
                face_color="cyan",
                metadata={PLUGIN_KEY: {"role": "preview"}},
            )
            if movie_layer is not None:
                self.preview_emitters_layer.scale = movie_layer.scale[-2:]
                self.preview_emitters_layer.translate = movie_layer.translate[-2:]
            self.preview_emitters_layer.events.visible.connect(self._preview_layer_shown_again)
            self.viewer.layers.selection.active = self.movie_layer() or self.preview_layer
        else:
            layer.data = data

    def _show_overlay(self, layer, rgb):
        """Splitter: channel 0 (magenta) and the registered channel 1 (green) over channel 0."""
        overlay = self._find_result(f"{layer.name} channels overlay", "overlay") if layer is not None else None
        if rgb is None or layer is None:
            if overlay is not None:
                self.viewer.layers.remove(overlay)
            return
        if overlay is None:
            overlay = self.viewer.add_image(
                rgb,
                rgb=True,
                name=f"{layer.name} channels overlay",
                blending="additive",
                scale=layer.scale[-2:],
                translate=layer.translate[-2:],
                metadata={PLUGIN_KEY: {"role": "overlay"}},
            )
            self.viewer.layers.selection.active = layer
        else:
            overlay.data = rgb

    @property
    def preview_busy(self):
        return self._preview_worker is not None

    # -- where outputs go ------------------------------------------------------------------
    def _movie_key(self, layer):
        meta = (layer.metadata or {}).get(PLUGIN_KEY) or {}
        return movie_key(movie_file(layer), meta.get("choices"), layer.name)

    def _folder_chosen(self, *_):
        """The user set "save in" (or "all movies"): for this movie only, unless ticked."""
        if self._showing_folder or self._restoring:
            return
        layer = self.movie_layer()
        key = self._movie_key(layer) if layer is not None else None
        folder = self.fit.output_folder()
        if self.fit.all_movies.value:
            self.output_folders.choose(key, folder, all_movies=True)
        else:
            self.output_folders.all_movies = None
            self.output_folders.choose(key, folder)
        self._show_output_path()

    def _show_folder(self):
        """Show the chosen movie's folder in "save in" (empty: beside the movie)."""
        layer = self.movie_layer()
        if layer is not None:
            self._showing_folder = True
            try:
                # Through the text: magicgui's FileEdit turns "" into the working directory.
                self.fit.out_folder.line_edit.value = self.output_folders.folder_for(self._movie_key(layer)) or ""
            finally:
                self._showing_folder = False
        self._show_output_path()

    def _show_output_path(self):
        layer = self.movie_layer()
        if layer is None:
            self.fit.show_output_path("")
            return
        try:
            _, locs_path, _ = self._source(layer)
        except (ParameterError, InputFileError, OSError, ValueError) as error:
            self.fit.show_output_path(f"no output: {error}")
            return
        self.fit.show_output_path(f"\u2192 {locs_path}", str(locs_path))

    # -- localize ----------------------------------------------------------------------------
    def _source(self, layer):
        """(movie source for the worker, locs path, reader choices)."""
        meta = (layer.metadata or {}).get(PLUGIN_KEY) or {}
        folder = self.output_folders.folder_for(self._movie_key(layer))
        path = movie_file(layer)
        if path is not None:
            # The worker opens its own reader: the viewer keeps reading the layer's.
            choices = dict(meta.get("choices") or {})
            return str(path), movie_locs_path(path, folder=folder, choices=choices), choices
        if folder is None:
            raise ParameterError(
                f"layer {layer.name!r} has no movie file: choose a folder ('save in') for its localizations."
            )
        stand_in = Path(folder) / layer.name
        source = LayerMovie(layer.data, metadata=movie_metadata(layer), path=stand_in)
        return source, locs_path_for(stand_in, folder=folder), {}

    def start_localize(self, *_):
        """Localize the chosen movie in a worker (progress in the activity dock)."""
        if self._localize_worker is not None:
            return None
        self._started = time.perf_counter()
        layer = self.movie_layer()
        try:
            parameters = self.parameters()
            shape = _movie_shape(layer)
            validate_parameters(parameters, shape, layer.name)
            # camera maps that do not fit the movie (or its camera ROI) are said here, before a run
            load_maps(parameters, shape, None, layer.name, movie_metadata(layer))
            source, locs_path, choices = self._source(layer)
            compute = self.compute.choice()
            live = LiveFeed(LIVE_IDLE_S) if self.fit.live.value else None
            if live is not None and (not isinstance(source, str) or compute.mode != "threads"):
                raise ParameterError(
                    f"Live follows a movie file as it is written, in this process: open "
                    f"{layer.name!r} from its file and compute in this process."
                )
            if compute.mode != "threads" and not isinstance(source, str):
                raise ParameterError(
                    f"layer {layer.name!r} is not a movie file: a Dask cluster reads the "
                    "movie from its file; open the file, or compute in this process."
                )
        except (ParameterError, InputFileError) as error:
            self.fit.status.value = str(error)
            return None
        self._replacing = None
        existing = existing_outputs(locs_path)
        if existing:
            answer = ask_about_existing(self, locs_path, existing)
            if answer == "cancel":
                self.fit.status.value = f"not started: {Path(locs_path).name} kept as it was"
                return None
            if answer == "keep":
                locs_path = free_locs_path(locs_path)
            else:
                self._replacing = Path(locs_path)
        first, stop = parameters.frame_range or (0, shape[0])
        chunk = self.chunk_frames or gui_chunk_frames(shape, stop - first)
        self._cancel = threading.Event()
        self.frames_done = 0

        def progress(done, total):
            # Worker thread: only store the count; the GUI polls it (no queued calls that
            # could pile up or re-enter while the bar repaints).
            self.frames_done = done
            self.frames_total = total

        worker = create_worker(
            run_localization,
            source,
            parameters,
            locs_path,
            progress,
            self._cancel,
            chunk,
            self.fit.blur.value,
            float(self.fit.oversampling.value),
            choices,
            layer.ndim == 3,
            self.fit.color_by.value,
            compute,
            self.compute_session,
            live=live,
            _start_thread=False,
        )
        # Bound methods of this QWidget run in the GUI thread (a lambda would run in the worker's).
        self._localizing_layer = layer
        worker.returned.connect(self._localized)
        worker.errored.connect(self._localize_failed)
        worker.finished.connect(self._localize_finished)
        self._localize_worker = worker
        # All GUI work before the start: creating layers or the progress bar may process
        # events, and with them a fast worker's result, which must find everything set up.
        self._live, self._live_image, self.live_locs = live, None, 0
        self._live_movie = _follow_layer(source, choices) if live is not None else None
        if live is None:  # a Live run has no total: its counter is the status line
            self._progress = napari_progress(total=stop - first, desc=f"Localize {layer.name}")
        self.fit.localize.enabled = False
        self.fit.cancel.enabled = True
        notice = first_run_notice(parameters)
        doing = f"localizing {layer.name} ..." + (" (live)" if live else "")
        self.fit.status.value = f"{notice}; {doing}" if notice else doing
        self._save_settings()
        points, _ = self.prepare_result_layers(layer)
        if live is not None:
            points.data = np.empty((0, points.ndim))
        self._progress_timer.start(LIVE_POLL_MS if live is not None else 250)
        worker.start()
        self.start_seconds = time.perf_counter() - self._started
        return worker

    def _poll_live(self):
        """A Live run: add the new rows to the points and their render to the image, in place."""
        taken = self._live.take()
        if taken:
            rows = np.concatenate([r for r, _ in taken])
            points, render_layer = self.points_layer, self.render_layer
            columns = ["frame", "y", "x"] if points.ndim == 3 else ["y", "x"]
            points.add(np.column_stack([rows[c] for c in columns]).astype(float))
            image = sum(i for _, i in taken)
            if self._live_image is None or self._live_image.shape != image.shape:
                oversampling = image.shape[-1] / max(1, self._localizing_layer.data.shape[-1])
                layer = self._localizing_layer
                scale = np.asarray(layer.scale[-2:], float)
                self._live_image = image.astype(np.float32)
                render_layer.data = self._live_image
                render_layer.scale = scale / oversampling
                render_layer.translate = np.asarray(layer.translate[-2:]) + (0.5 / oversampling - 0.5) * scale
            else:
                self._live_image += image
                render_layer.refresh()
            top = float(np.percentile(self._live_image.ravel()[:: max(1, self._live_image.size // 200_000)], 99.9))
            render_layer.contrast_limits = (0.0, max(top, 1e-6))
            self.live_locs += len(rows)
        self._grow_movie_layer()
        self.fit.status.value = (
            f"live: {self.frames_done} frames localized, {self.frames_behind} behind, {self.live_locs} localizations"
        )

    def _grow_movie_layer(self, final=False):
        """A Live run: the movie layer reaches the frames written so far (same lazy reader,
        a longer frame axis; the slider stays where it is)."""
        movie, layer = self._live_movie, self._localizing_layer
        if movie is None or layer is None or layer.ndim != 3:
            return
        if not final and self.frames_total <= layer.data.shape[0]:
            return  # the worker has seen no new frame: no look at the file
        frames = movie.refresh(final=final)
        if frames > layer.data.shape[0]:
            step = self.viewer.dims.current_step
            layer.data = movie
            self.viewer.dims.current_step = step

    @property
    def frames_behind(self):
        """A Live run: frames written but not localized yet."""
        return max(0, self.frames_total - self.frames_done)

    def _poll_progress(self):
        if self._live is not None:
            self._poll_live()
            return
        pbar = self._progress
        if self._polling or pbar is None:
            return
        self._polling = True
        try:
            done = self.frames_done
            if done != pbar.n:
                # Status first: the bar's repaint may process events, the result among them.
                self.fit.status.value = f"localizing: {done}/{pbar.total} frames"
                pbar.update(done - pbar.n)
        finally:
            self._polling = False
            if self._end_after_poll:
                self._end_after_poll = False
                self._end_progress()

    def cancel_localize(self, *_):
        """Stop the running localization before its next chunk (nothing is written)."""
        if self._cancel is not None:
            self._cancel.set()
            self.fit.status.value = "cancelling ..."

    @property
    def localize_busy(self):
        return self._localize_worker is not None

    def _end_progress(self):
        self._progress_timer.stop()
        if self._polling:
            # Called from inside the bar's own update (it processes events): close after.
            self._end_after_poll = True
            return
        if self._progress is not None:
            self._progress.close()
        self._progress = None

    def _localize_failed(self, error):
        self._end_progress()
        self._drop_empty_results()
        self.fit.status.value = f"failed: {error}"

    def _localize_finished(self):
        self._end_progress()
        self._live = None
        if self._live_movie is not None:
            self._grow_movie_layer(final=True)  # the last frames, which the worker saw at its end
            self._live_movie = None  # the layer keeps it (and its file handles) as its data
        self._localize_worker = None
        self._cancel = None
        self.fit.localize.enabled = True
        self.fit.cancel.enabled = False

    def _localized(self, out):
        layer = self._localizing_layer
        self._end_progress()
        self.last_output = out
        if out["cancelled"]:
            self._drop_empty_results()
            self.fit.status.value = f"cancelled ({out['message']}); nothing written"
            return
        shown = time.perf_counter()
        self.show_results(layer, out["image"], out["oversampling"], out["display"])
        colours = out.get("colours")
        extra = list(out.get("z_layers") or []) + list(colours["layers"] if colours else [])
        if extra:  # 3D views, one points layer per colour: replace the movie's previous ones
            self.z_layers = self.show_z_layers(layer, extra)
        self.show_ratio_histogram(out["locs"], colours)
        out["layers_seconds"] = time.perf_counter() - shown
        result = out["result"]
        replaced = " (replaced the earlier file)" if self._replacing is not None else ""
        self.fit.status.value = (
            f"{plural(result.n_locs, 'localization')} in {plural(result.n_frames, 'frame')} "
            f"({time.perf_counter() - self._started:.1f} s)\n{figures_note(out.get('figures'))}"
            f"saved {result.locs_path}{replaced}"
            f"{_d_zcalib_note(out['locs'])}{_database_note(out['database'])}"
        )
        self.fit.status.tooltip = str(result.locs_path)
        self._show_output_path()

    # -- results -------------------------------------------------------------------------------
    def _find_result(self, name, role):
        for candidate in self.viewer.layers:
            if candidate.name == name and ((candidate.metadata or {}).get(PLUGIN_KEY) or {}).get("role") == role:
                return candidate
        return None

    def prepare_result_layers(self, layer):
        """The movie's result layers, made empty now if missing (filled by :meth:`show_results`).

        Made while the worker runs, so the end of a run only swaps data: adding layers to
        a viewer costs far more than updating them.
        """
        n_frames, height, width = _movie_shape(layer)
        ndim = 3 if layer.ndim == 3 else 2
        render = self._find_result(f"{layer.name} render", "render")
        added = False
        if render is None:
            added = True
            render = self.viewer.add_image(
                np.zeros((height, width), np.float32),
                name=f"{layer.name} render",
                colormap="magma",
                blending="additive",
                scale=layer.scale[-2:],
                translate=layer.translate[-2:],
                contrast_limits=(0.0, 1.0),
                metadata={PLUGIN_KEY: {"role": "render"}},
            )
        points = self._find_result(f"{layer.name} locs", "locs")
        if points is not None and points.ndim != ndim:
            self.viewer.layers.remove(points)
            points = None
        if points is None:
            added = True
            points = self.viewer.add_points(
                np.empty((0, ndim)),
                ndim=ndim,
                name=f"{layer.name} locs",
                size=0.8,
                face_color="white",
                face_colormap="viridis",
                border_width=0,
                scale=layer.scale,
                translate=layer.translate,
                metadata={PLUGIN_KEY: {"role": "locs"}},
            )
        if added:
            # Keep the movie selected (its controls), as before the new layers.
            self.viewer.layers.selection.active = layer
        self.points_layer, self.render_layer = points, render
        return points, render

    def _drop_empty_results(self):
        for result in (self.points_layer, self.render_layer):
            if result is not None and result in self.viewer.layers and not np.any(result.data):
                self.viewer.layers.remove(result)

    def show_results(self, layer, image, oversampling, display):
        """Points coloured by a feature and the rendered image, over the movie.

        ``display`` is :func:`result_display` of the localizations and ``image``.
        """
        points, render = self.prepare_result_layers(layer)
        scale = np.asarray(layer.scale[-2:], float)
        render.data = image
        render.scale = scale / oversampling
        render.translate = np.asarray(layer.translate[-2:]) + (0.5 / oversampling - 0.5) * scale
        render.contrast_limits = display["render_limits"]
        points.data = display["points"]
        points.features = display["features"]
        self._limits = dict(display["limits"])
        color_by = self.fit.color_by.value
        if len(points.data) and color_by in points.features:
            points.face_color = color_by
            points.face_contrast_limits = self._limits.get(color_by) or _feature_limits(points.features[color_by])
            self.colour_bar.show_colormap(color_by, points.face_contrast_limits, points.face_colormap)
        return points, render

    def show_ratio_histogram(self, locs, colours=None):
        """Splitter results: the histogram of ``ratio`` with the colour windows (hidden otherwise)."""
        if "ratio" not in locs.dtype.names:
            self.ratio_canvas.hide()
            return
        windows, names = (colours["windows"], colours["names"]) if colours else ((), ())
        ratio_histogram(self.ratio_canvas.figure, locs["ratio"], windows, names)
        self.ratio_canvas.show()
        self.ratio_canvas.draw_idle()

    def show_z_layers(self, layer, layer_data):
        """The 3D results (:func:`~napari_picasso.layer_data.z_layer_data`): replace the
        movie's previous ones, add the new ones on the movie's pixel grid."""
        for old in [
            c for c in self.viewer.layers if ((c.metadata or {}).get(PLUGIN_KEY) or {}).get("z_of") == layer.name
        ]:
            self.viewer.layers.remove(old)
        added = []
        for data, kwargs, kind in layer_data:
            kwargs = dict(kwargs)
            kwargs["metadata"] = {**kwargs.get("metadata", {}), PLUGIN_KEY: {"role": "z", "z_of": layer.name}}
            added.append(getattr(self.viewer, f"add_{kind}")(data, **kwargs))
        self.viewer.layers.selection.active = layer
        return added

    def _recolor(self, feature):
        layer = self.points_layer
        if layer is not None and layer in self.viewer.layers and len(layer.data) and feature in layer.features:
            layer.face_color = feature
            limits = self._limits.setdefault(feature, _feature_limits(layer.features[feature]))
            layer.face_contrast_limits = limits
            self.colour_bar.show_colormap(feature, limits, layer.face_colormap)


def _d_zcalib_note(locs):
    """3D results: the rms d_zcalib, from which a max. d_zcalib is set (Picasso uses 2 x rms)."""
    if "d_zcalib" not in locs.dtype.names or not len(locs):
        return ""
    d = locs["d_zcalib"].astype(np.float64)
    return f"\nrms d_zcalib {np.sqrt(np.mean(d * d)):.4f} (Picasso's filter: 2 x rms)"


def _database_note(database):
    """Where the row went, or why there is none (the file is written either way)."""
    if database.get("error"):
        return f"\n{database['error']}"
    return f"\ndatabase row #{database['id']} in {Path(database['database']).name}"


def _feature_limits(values):
    """Colour limits of a feature: 1st to 99th percentile (a few wild fits do not flatten it)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return (0.0, 1.0)
    low, high = np.percentile(values, [1, 99])
    return (float(low), float(high if high > low else low + 1))
