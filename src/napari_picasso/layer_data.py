"""napari layer data tuples of results, built without Qt.

The reader and the docks' workers build these off the GUI thread; the GUI only adds or
swaps them in.
"""

import numpy as np

from .core.zrender import render_z
from .plots import COLOUR_PALETTE


def z_layer_data(locs, pixelsize_nm, name="localizations", oversampling=5.0, z_range_nm=None, point_size_px=0.5):
    """Layer data tuples for 3D localizations.

    Parameters
    ----------
    locs : numpy.ndarray
        Localizations with ``x``, ``y`` (px), ``z`` (nm), ``lpx``, ``lpy``.
    pixelsize_nm : float
        Camera pixel size; z is divided by it so that the points' axes share one unit.
    name : str
        Base name of the layers.
    oversampling : float
        Rendering pixels per camera pixel.
    z_range_nm : tuple of float, optional
        z range of the colour ramp (default: 1st..99th percentile).

    Returns
    -------
    list of tuple
        ``[(rgb, kwargs, "image"), (points, kwargs, "points")]``: the z-coloured rendering
        (camera px coordinates through ``scale``/``translate``) and points
        ``(z / pixelsize_nm, y, x)`` coloured by z.
    """
    if "z" not in locs.dtype.names:
        raise ValueError("these localizations have no z (fit with mle-3d or lq-3d and a 3D calibration)")
    rgb, viewport, (lo, hi) = render_z(locs, oversampling, z_range_nm=z_range_nm)
    y0, x0 = viewport[0], viewport[1]
    step = 1.0 / oversampling
    image = (
        rgb,
        {
            "name": f"{name} z render",
            "rgb": True,
            "scale": (step, step),
            # output pixel centres sit half an output pixel into each bin; camera pixel
            # centres are integers, so bins start half a camera pixel earlier
            "translate": (y0 - 0.5 + step / 2, x0 - 0.5 + step / 2),
            "metadata": {"z_range_nm": (lo, hi), "oversampling": oversampling},
        },
        "image",
    )
    coords = np.column_stack(
        [
            np.asarray(locs["z"], dtype=np.float64) / float(pixelsize_nm),
            np.asarray(locs["y"], dtype=np.float64),
            np.asarray(locs["x"], dtype=np.float64),
        ]
    )
    features = {
        name_: np.asarray(locs[name_]) for name_ in ("frame", "z", "photons", "lpz") if name_ in locs.dtype.names
    }
    points = (
        coords,
        {
            "name": f"{name} 3D",
            "size": point_size_px,
            "features": features,
            "face_color": "z",
            "face_colormap": "turbo",
            "face_contrast_limits": (lo, hi),
            "border_width": 0,
            "metadata": {"pixelsize_nm": float(pixelsize_nm), "z_unit": "z / pixelsize_nm (camera px)"},
        },
        "points",
    )
    return [image, points]


def colour_layer_data(locs, names, name="localizations", point_size_px=0.5):
    """One points layer data tuple per colour window of splitter localizations.

    Parameters
    ----------
    locs : numpy.ndarray
        Localizations with ``x``, ``y`` (channel-0 px), ``ratio`` and ``colour`` (window
        index, -1: none).
    names : sequence of str
        The windows' names (the ``Colours`` of the ``_locs.yaml``).

    Returns
    -------
    list of tuple
        ``[(points (y, x), kwargs, "points"), ...]``: one per colour that has rows, then
        the unassigned rows (grey), if any.

    Examples
    --------
    >>> locs = np.zeros(3, dtype=[("x", "f4"), ("y", "f4"), ("ratio", "f4"), ("colour", "i2")])
    >>> locs["colour"] = [0, 1, -1]
    >>> [kwargs["name"] for _, kwargs, _ in colour_layer_data(locs, ["A", "B"], "cells")]
    ['cells A', 'cells B', 'cells no colour']
    """
    out = []
    entries = [(i, n, COLOUR_PALETTE[i % len(COLOUR_PALETTE)]) for i, n in enumerate(names)]
    for index, label, colour in [*entries, (-1, "no colour", "gray")]:
        rows = locs[locs["colour"] == index]
        if not len(rows):
            continue
        coords = np.column_stack([rows["y"].astype(np.float64), rows["x"].astype(np.float64)])
        kwargs = {
            "name": f"{name} {label}",
            "size": point_size_px,
            "face_color": colour,
            "border_width": 0,
            "features": {"ratio": np.asarray(rows["ratio"]), "colour": np.asarray(rows["colour"])},
            "metadata": {"colour": label},
        }
        out.append((coords, kwargs, "points"))
    return out


def overlay_rgb(channel0, channel1, percentile=99.5):
    """An RGB image of two registered channels: channel 0 magenta, channel 1 green.

    Each channel is scaled to its ``percentile``; where the registration is right the
    spots are white, a shifted spot shows a magenta and a green edge.

    Examples
    --------
    >>> overlay_rgb(np.ones((2, 2)), np.zeros((2, 2))).shape
    (2, 2, 3)
    """

    def scaled(image):
        image = np.asarray(image, dtype=np.float32)
        top = np.percentile(image, percentile) if image.size else 1.0
        return np.clip(image / (top if top > 0 else 1.0), 0.0, 1.0)

    a, b = scaled(channel0), scaled(channel1)
    return np.stack([a, b, a], axis=-1)
