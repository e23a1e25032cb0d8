"""npe2 reader contributions: SMLM movies (image layer) and localization files (points).

Layer contract (the dock widgets rely on it):

- movies: an image layer whose data is the lazy :class:`~napari_picasso.io.movie.Movie`
  (frames are read on demand), named after the file, with
  ``metadata={"napari_picasso": {"path": str(path), "movie_metadata": movie.metadata,
  "choices": {...}}}`` (``open_movie(path, **choices)`` reopens the same movie, e.g. in a
  worker) and contrast limits from a few sampled frames (napari never scans the movie);
- ``*_locs.hdf5``: a points layer with data columns (frame, y, x), every other locs field
  as a feature, and ``metadata={"napari_picasso": {"locs_path": str(path), "info": docs}}``,
  then (2D files) its Gaussian rendering (:func:`render_layer`, role ``render``), the frame
  slider spanning the file's ``Frames``;
  other tools' tables (ThunderSTORM/ONI ``.csv``, rapidSTORM/Elyra ``.txt``, ``.smlm``,
  DECODE ``.h5``, SMAP ``.mat``, PYME ``.h5r``) open the same way, converted to the
  Picasso layout (:func:`~napari_picasso.io.tables.read_table`; ``info`` is the
  conversion's two documents);
  a 3D file (with ``z``) adds the z views the Localize dock shows after a 3D fit: a
  z-coloured rendering and 3D points ``(z / pixel size, y, x)`` (:func:`.layer_data.z_layer_data`).

Questions the reader must ask the user go through module functions that tests (or
another front end) replace: :func:`ask_raw_info` for a ``.raw`` movie without its
``.yaml``, :func:`ask_axis_choices` for a file holding more than one movie (or one of a
Micro-Manager set's positions: which position to open, the file's own offered first) and
:func:`ask_pixelsize` for a table in nm that does not say the camera pixel size.
"""

from pathlib import Path

import numpy as np

from .io.convert import is_locs_file
from .io.errors import AxisChoiceError, InputFileError
from .io.locs import info_pixelsize_nm, load_locs
from .io.movies import open_movie
from .io.ndtiff import dataset_folder
from .io.raw import RAW_KEYS, check_raw_size, raw_info_path, write_raw_info
from .io.table_layout import PixelSizeNeeded
from .io.tables import is_localization_table, read_table
from .io.tiff import mmstack_positions

MOVIE_SUFFIXES = (".raw", ".tif", ".tiff", ".ims", ".nd2")
LOCS_SUFFIXES = (".hdf5", ".h5")
LAYER_KEY = "napari_picasso"


# -- questions to the user (replaceable) ------------------------------------------------
WINDOW_TITLE = "napari-picasso"


def request_values(title, **fields):
    """A modal form of ``fields`` (as :func:`magicgui.widgets.request_values` takes them)
    with ``title`` above it and in its window's title bar; the values, or None on cancel.

    (magicgui's own ``title`` is only a line in the dialog: the window had no title.)
    """
    from magicgui.widgets import Dialog, Label, create_widget

    widgets = [Label(value=title)]
    for name, spec in fields.items():
        widgets.append(create_widget(**{"name": name, **spec}))
    dialog = Dialog(widgets=widgets)
    dialog.native.setWindowTitle(f"{WINDOW_TITLE}: {title}")
    return dialog.asdict() if dialog.exec() else None


def ask_raw_info(path):
    """Ask for a ``.raw`` movie's Width/Height/Frames/Data Type/Byte Order in a dialog.

    Returns a dict with those keys, or None when the user cancels.
    """
    size = Path(path).stat().st_size
    side = 256  # a common camera ROI; Frames follows from the file size for 16-bit counts
    values = request_values(
        title=f"Describe {Path(path).name}",
        Width={"annotation": int, "value": side, "options": {"min": 1, "max": 100000}},
        Height={"annotation": int, "value": side, "options": {"min": 1, "max": 100000}},
        Frames={"annotation": int, "value": max(1, size // (2 * side * side)), "options": {"min": 1, "max": 2**31 - 1}},
        **{
            "Data Type": {
                "annotation": str,
                "value": "uint16",
                "widget_type": "ComboBox",
                "options": {"choices": ["uint16", "uint8", "uint32", "int16", "int32", "float32"]},
            },
            "Byte Order": {
                "annotation": str,
                "value": "<",
                "widget_type": "ComboBox",
                "options": {"choices": ["<", ">"]},
            },
        },
    )
    return dict(values) if values else None


def ask_pixelsize(path):
    """Ask for the camera pixel size (nm) of a table whose coordinates are in nm.

    Returns the size, or None when the user cancels.
    """
    values = request_values(
        title=f"Camera pixel size of {Path(path).name}",
        pixelsize_nm={
            "annotation": float,
            "label": "Pixel size in the sample (nm)",
            "value": DEFAULT_PIXELSIZE_NM,
            "options": {"min": 1.0, "max": 100000.0, "step": 0.1},
        },
    )
    return float(values["pixelsize_nm"]) if values else None


def ask_axis_choices(path, axes, frame_axis, defaults=None):
    """Ask which entry of each open axis (and which frame axis, if unknown) to open.

    Parameters
    ----------
    axes : dict
        ``{axis name: labels}`` of the axes that need a choice.
    frame_axis : str or None
        The frame axis; None asks for it among ``axes``.
    defaults : dict, optional
        ``{axis name: label}`` offered first (e.g. the position of the file opened).

    Returns
    -------
    dict or None
        Keyword choices for ``open_movie`` (``{"channel": "DAPI", ...}``), None on cancel.
    """
    fields = {}
    if frame_axis is None:
        fields["frame_axis"] = {"annotation": str, "widget_type": "ComboBox", "options": {"choices": list(axes)}}
    for name, labels in axes.items():
        fields[name] = {
            "annotation": object,
            "widget_type": "ComboBox",
            "options": {"choices": [(str(v), v) for v in labels]},
        }
        if defaults and defaults.get(name) in list(labels):
            fields[name]["value"] = defaults[name]
    values = request_values(title=f"Open one movie of {Path(path).name}", **fields)
    if not values:
        return None
    values = dict(values)
    if "frame_axis" in values:
        values.pop(values["frame_axis"], None)  # the frame axis is not fixed
    return values


# -- movies -----------------------------------------------------------------------------
def _looks_like_ndtiff_folder(folder):
    """An NDTiff dataset folder, or one that lost its index (stack files or the
    ``Full resolution`` folder are there): claimed, so that opening it says what is wrong
    instead of napari's "no reader"."""
    if dataset_folder(folder) is not None:
        return True
    candidates = [folder, folder / "Full resolution"]
    return any(c.is_dir() and any(c.glob("*_NDTiffStack*.tif")) for c in candidates)


def _is_movie_path(path):
    path = Path(path)
    if path.is_dir():
        return _looks_like_ndtiff_folder(path)
    return path.suffix.lower() in MOVIE_SUFFIXES


def contrast_limits(movie, n_samples=5):
    """Display range from a few frames (never the whole movie): 0.1-99.5 percentiles.

    Blinking spots cover a small fraction of an SMLM frame; the 99.5th percentile keeps
    the background's texture visible and saturates only the brightest spot pixels.
    """
    n = movie.shape[0]
    indices = sorted({int(i) for i in np.linspace(0, n - 1, n_samples)})
    sample = np.stack([np.asarray(movie[i]) for i in indices])
    low, high = (float(v) for v in np.percentile(sample, [0.1, 99.5]))
    if high <= low:
        low, high = float(sample.min()), float(sample.max())
        if high <= low:
            high = low + 1.0
    return [low, high]


def _open_interactively(path):
    """open_movie, asking for a missing .raw description or for axis choices; ``(movie, path)``
    (another file than ``path`` when the user picked another position of a set)."""
    path = Path(path)
    choices = {}
    if path.suffix.lower() == ".raw" and not raw_info_path(path).exists():
        info = ask_raw_info(path)
        if not info:
            raise InputFileError(
                path,
                f"has no {raw_info_path(path).name} and no description was given.",
                fix=f"write it with the keys {', '.join(RAW_KEYS)}.",
            )
        missing = [k for k in RAW_KEYS if k not in info]
        if missing:
            raise InputFileError(path, f"the description lacks {', '.join(missing)}.")
        # a description the file cannot hold is refused, not saved: the next open asks again
        check_raw_size(
            path,
            info["Width"],
            info["Height"],
            info["Frames"],
            info["Data Type"],
            described_by="the description given (nothing was written)",
            fix="open it again and give at most {frames_held} Frames, or the right Width/Height.",
        )
        write_raw_info(path, info["Width"], info["Height"], info["Frames"], info["Data Type"], info["Byte Order"])
    for _ in range(4):  # at most one question per kind of axis
        try:
            movie = open_movie(path, **choices)
            break
        except AxisChoiceError as error:
            answer = ask_axis_choices(path, error.axes, error.frame_axis)
            if not answer:
                raise
            choices.update(answer)
    else:
        movie = open_movie(path, **choices)
    return _pick_position(path, movie, choices)


def _pick_position(path, movie, choices):
    """A Micro-Manager file with sibling positions: ask which one (the opened file's first),
    reopening the movie when another is picked; ``(movie, path of the movie opened)``."""
    labels = list(movie.metadata.get("Positions") or [])
    if len(labels) < 2 or "position" in choices:
        return movie, path
    current = movie.metadata.get("Choices", {}).get("position")
    answer = ask_axis_choices(path, {"position": labels}, frame_axis="time", defaults={"position": current})
    if not answer:
        movie.close()
        raise InputFileError(
            path,
            f"is one of {len(labels)} positions ({', '.join(map(str, labels))}) and none was chosen.",
            fix="open it again and pick a position.",
        )
    if answer.get("position", current) == current:
        return movie, path
    movie.close()
    # open that position's own file: the layer, and the localizations' file name, are its
    own_file = mmstack_positions(path).get(answer["position"])
    if own_file is not None:
        return open_movie(own_file, **choices), own_file
    return open_movie(path, **{**choices, "position": answer["position"]}), path


def movie_layer(movie, path):
    """The ``(data, kwargs, "image")`` tuple of a movie, per the layer contract."""
    name = Path(path).name
    if len(movie.metadata.get("Positions") or []) > 1 and movie.metadata.get("Position") is not None:
        name = f"{name} [position {movie.metadata['Position']}]"  # which of the set's movies this is
    return (
        movie,
        {
            "name": name,
            "contrast_limits": contrast_limits(movie),
            # "choices" reopen the same movie: open_movie(path, **choices) (workers, watcher)
            "metadata": {
                LAYER_KEY: {
                    "path": str(path),
                    "movie_metadata": movie.metadata,
                    "choices": dict(movie.metadata.get("Choices", {})),
                }
            },
        },
        "image",
    )


def read_movie(path):
    """npe2 reader function: one image layer per movie path."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers = []
    for p in paths:
        movie, p = _open_interactively(p)
        if movie.shape[0] == 0:
            movie.close()
            raise InputFileError(p, "holds no frames.")
        layers.append(movie_layer(movie, p))
    return layers


def get_movie_reader(path):
    """npe2 ``get_reader`` for movies: ``read_movie`` when napari-picasso reads the path."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if paths and all(_is_movie_path(p) for p in paths):
        return read_movie
    return None


# -- localizations -----------------------------------------------------------------------
def locs_layer(locs, info, path):
    """The ``(data, kwargs, "points")`` tuple of a localization table."""
    data = (
        np.column_stack(
            [
                np.asarray(locs["frame"], dtype=np.float64),
                np.asarray(locs["y"], dtype=np.float64),
                np.asarray(locs["x"], dtype=np.float64),
            ]
        )
        if len(locs)
        else np.zeros((0, 3))
    )
    features = {name: np.asarray(locs[name]) for name in locs.dtype.names if name not in ("frame", "x", "y")}
    return (
        data,
        {
            "name": Path(path).name,
            "features": features,
            # rings around the spots, so the movie stays visible beneath them
            "size": 3.0,
            "face_color": "transparent",
            "border_color": "yellow",
            "border_width": 0.12,
            "border_width_is_relative": True,
            "metadata": {LAYER_KEY: {"locs_path": str(path), "info": info}},
        },
        "points",
    )


def render_layer(locs, info, path):
    """The ``(data, kwargs, "image")`` tuple of a 2D table's rendering, as Picasso Render shows it.

    For a table with localization precisions (``lpx``, ``lpy``, which set the blur). A
    Gaussian render (:func:`napari_picasso.db.compare.render_preview`) over the camera
    frame, contrast from its lit pixels (:func:`napari_picasso.plots.contrast_limits`).
    The same image stands at every frame: it is given as two views of one image placed
    at frame 0 and the file's last frame, so that, opened alone, the frame slider spans
    the movie's frames (``Frames`` of the file), not only those with localizations.
    """
    from .db.compare import render_preview
    from .plots import contrast_limits

    preview = render_preview(locs, info)
    image = preview["image"]
    movie = info[0] if info else {}
    n_frames = int(movie.get("Frames") or (int(np.max(locs["frame"])) + 1 if len(locs) else 1))
    kwargs = {
        "name": f"{Path(path).stem} render",
        "colormap": "magma",
        "blending": "additive",
        "contrast_limits": contrast_limits(image),
        "metadata": {LAYER_KEY: {"locs_path": str(path), "role": "render"}},
    }
    if n_frames > 1:
        data = np.broadcast_to(image, (2, *image.shape))  # no copy
        kwargs.update(scale=(n_frames - 1, *preview["image_scale"]), translate=(0.0, *preview["image_translate"]))
    else:
        data = image
        kwargs.update(scale=preview["image_scale"], translate=preview["image_translate"])
    return data, kwargs, "image"


# Picasso Render's default when a file does not say its pixel size.
DEFAULT_PIXELSIZE_NM = 130.0


def z_layers(locs, info, path):
    """The z views of a 3D localization file (rendering and 3D points), on its pixel grid."""
    from .layer_data import z_layer_data

    pixelsize_nm = info_pixelsize_nm(info)
    layers = z_layer_data(locs, pixelsize_nm or DEFAULT_PIXELSIZE_NM, name=Path(path).stem)
    for _, kwargs, _ in layers:
        kwargs["metadata"] = {
            **kwargs["metadata"],
            LAYER_KEY: {
                "locs_path": str(path),
                "role": "z",
                # z is scaled by the pixel size; say when that size was assumed
                "pixelsize_assumed": pixelsize_nm is None,
            },
        }
    return layers


def read_localization_table(path):
    """``(locs, info)`` of another tool's table, asking for the pixel size where the file
    has nm and does not say it."""
    try:
        return read_table(path)
    except PixelSizeNeeded:
        pixelsize_nm = ask_pixelsize(path)
        if not pixelsize_nm:
            raise
        return read_table(path, pixelsize_nm=pixelsize_nm)


def read_locs(path):
    """npe2 reader function: one points layer per localization file (plus the z views of
    a 3D file)."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers = []
    for p in paths:
        locs, info = load_locs(p) if is_locs_file(p) or not is_localization_table(p) else read_localization_table(p)
        layer = locs_layer(locs, info, p)
        layers.append(layer)
        if "z" not in locs.dtype.names and len(locs) and {"lpx", "lpy"} <= set(locs.dtype.names):
            # Added blended: the points stay visible through its dark (zero) pixels; the
            # points layer stays the first one of the file.
            try:
                layers.append(render_layer(locs, info, p))
            except (ValueError, TypeError, OverflowError):
                pass  # a damaged header (Frames, Width): the points open without their rendering
        if "z" in locs.dtype.names and len(locs):
            # shown hidden: its frame axis would share the 3D view's z axis
            layer[1]["visible"] = False
            layers.extend(z_layers(locs, info, p))
    return layers


def _is_locs_path(path):
    path = Path(path)
    return path.is_file() and (path.suffix.lower() in LOCS_SUFFIXES or is_localization_table(path))


def get_locs_reader(path):
    """npe2 ``get_reader`` for ``*.hdf5`` localization files and other tools' tables."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if paths and all(_is_locs_path(p) for p in paths):
        return read_locs
    return None
