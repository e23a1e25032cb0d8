"""Reduce a multi-dimensional acquisition to a movie by explicit choices.

A file may hold time, z, channel and position axes besides height and width. A movie
has one frame axis; every other axis with more than one entry must be fixed by a keyword
choice (``channel=``, ``z=``, ``position=`` ...) to :func:`~napari_picasso.io.movies.open_movie`.
Nothing is dropped silently: an axis left open raises :class:`InputFileError` listing the
choices.
"""

from .errors import AxisChoiceError, InputFileError

FRAME_AXIS_CHOICE = "frame_axis"
# Axes that are a movie's frames when present, in order of preference.
FRAME_AXES = ("time", "sequence", "other")


def _label_text(labels, limit=12):
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in labels[:limit])
    if len(labels) > limit:
        shown += f", ... ({len(labels)} in all)"
    return shown


def describe_axes(axes):
    """``"channel (2: 'Cy5', 'DAPI'); z (10)"`` for error messages and dialogs."""
    parts = []
    for name, labels in axes.items():
        labels = list(labels)
        if labels == list(range(len(labels))):
            parts.append(f"{name} ({len(labels)})")
        else:
            parts.append(f"{name} ({len(labels)}: {_label_text(labels)})")
    return "; ".join(parts)


def choose_index(path, name, labels, value):
    labels = list(labels)
    if value in labels and not isinstance(value, bool):
        return labels.index(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and -len(labels) <= value < len(labels):
        return value % len(labels)
    raise InputFileError(
        path,
        f"has no {name} {value!r}; its {name} choices are {_label_text(labels)}.",
        fix=f"open it with {name}= one of those (or an index 0..{len(labels) - 1}).",
    )


def resolve_axes(path, axes, choices, frame_axis=None):
    """Pick the frame axis and fix every other axis.

    Parameters
    ----------
    path : path-like
        Named in errors.
    axes : dict
        Ordered ``{axis name: labels}`` of the non-image axes (labels are the values a
        user may choose, e.g. channel names; their indices are accepted too).
    choices : dict
        The keyword choices given to ``open_movie``. ``frame_axis=`` names the frame
        axis; every other key fixes the axis of that name.
    frame_axis : str, optional
        The format's default frame axis (e.g. ``"time"``).

    Returns
    -------
    frame_axis : str or None
        The axis whose entries are the frames (None: a single image).
    fixed : dict
        ``{axis name: index}`` for every other axis.

    Raises
    ------
    InputFileError
        An axis with more than one entry is left open, a choice names an axis or value
        the file does not have.
    """
    axes = {name: list(labels) for name, labels in axes.items()}
    choices = {k: v for k, v in choices.items() if v is not None}
    requested = choices.pop(FRAME_AXIS_CHOICE, None)
    for name, value in choices.items():
        if name not in axes:
            if value in (0, "0"):
                continue  # the first entry of an axis the file does not have
            raise InputFileError(
                path,
                f"has no {name} axis to choose {name}={value!r} from"
                + (f"; its axes are {describe_axes(axes)}." if axes else "."),
                fix="open it without that choice.",
            )
    if requested is not None:
        if requested not in axes:
            raise InputFileError(
                path,
                f"has no {requested} axis to read frames along; its axes are "
                f"{describe_axes(axes) or 'height and width only'}.",
            )
        frame = requested
    else:
        open_axes = [n for n, labels in axes.items() if len(labels) > 1 and n not in choices]
        if frame_axis in axes and frame_axis not in choices and len(axes[frame_axis]) > 1:
            frame = frame_axis
        else:
            frame = next((n for n in FRAME_AXES if n in open_axes), None)
            if frame is None and len(open_axes) == 1:
                frame = open_axes[0]  # e.g. a z-stack: its planes are the frames
            if frame is None and not open_axes:
                # every axis single or chosen: the preferred axis (length 1) or none
                frame = next((n for n in (frame_axis,) + FRAME_AXES if n in axes and n not in choices), None)
    fixed = {}
    unresolved = {}
    for name, labels in axes.items():
        if name == frame:
            continue
        if name in choices:
            fixed[name] = choose_index(path, name, labels, choices[name])
        elif len(labels) == 1:
            fixed[name] = 0
        else:
            unresolved[name] = labels
    if unresolved:
        if frame is None:
            problem = (
                f"holds several axes ({describe_axes(unresolved)}) and none is time, so "
                "which one holds the frames is unknown."
            )
            fix = (
                f"open it with {FRAME_AXIS_CHOICE}= one of {', '.join(unresolved)} and choose "
                "one entry of each other axis, e.g. " + ", ".join(f"{n}=0" for n in list(unresolved)[1:])
            )
        else:
            problem = (
                f"holds more than a movie: besides its {frame} axis ({len(axes[frame])} frames) "
                f"it has {describe_axes(unresolved)}."
            )
            fix = (
                "choose one of each: "
                + ", ".join(f"{n}=..." for n in unresolved)
                + " (open_movie keywords; on the command line --choose "
                + " --choose ".join(f"{n}=..." for n in unresolved)
                + ")."
            )
        raise AxisChoiceError(path, problem, fix=fix, axes=unresolved, frame_axis=frame)
    return frame, fixed


def frame_planes(sizes, frame_axis, fixed):
    """Flat (C-order) plane index of every frame.

    Parameters
    ----------
    sizes : dict
        Ordered ``{axis name: length}`` of the non-image axes, in storage order.
    frame_axis : str or None
        The axis the frames run along (None: one frame).
    fixed : dict
        ``{axis name: index}`` for the other axes.

    Returns
    -------
    numpy.ndarray of int64
    """
    import numpy as np

    names = list(sizes)
    if not names:
        return np.zeros(1, dtype=np.int64)
    shape = tuple(int(sizes[n]) for n in names)
    n_frames = shape[names.index(frame_axis)] if frame_axis in names else 1
    coords = []
    for name in names:
        if name == frame_axis:
            coords.append(np.arange(n_frames, dtype=np.int64))
        else:
            coords.append(np.full(n_frames, fixed.get(name, 0), dtype=np.int64))
    return np.ravel_multi_index(coords, shape).astype(np.int64)


def axes_metadata(axes, frame, fixed):
    """Movie metadata describing the reduction: ``Frame Axis``, ``Axes``, ``Choices``.

    ``Choices`` holds the keyword choices that reopen the same movie
    (``open_movie(path, **metadata["Choices"])``), by label; ``Channel`` names the chosen
    channel where there were several.
    """
    from .metadata import plain

    metadata = {"Frame Axis": frame or "none"}
    if axes:
        metadata["Axes"] = {name: len(labels) for name, labels in axes.items()}
    chosen = {name: plain(axes[name][index]) for name, index in fixed.items() if len(axes[name]) > 1}
    if frame and frame not in FRAME_AXES:
        chosen[FRAME_AXIS_CHOICE] = frame
    if chosen:
        metadata["Choices"] = chosen
    if "channel" in fixed and len(axes["channel"]) > 1:
        metadata["Channel"] = plain(axes["channel"][fixed["channel"]])
    return metadata
