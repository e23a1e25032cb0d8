"""z-coloured super-resolution rendering: brightness from the density, hue from mean z.

Renders twice with :func:`napari_picasso.core.render.render` (weights 1 and z), so the
colour of an output pixel is the density-weighted mean z of the localizations that
blur into it, and its brightness is their density (clipped at a percentile).
"""

import numpy as np

from .render import render

# A perceptually ordered blue -> cyan -> green -> yellow -> red ramp (anchor colours,
# linearly interpolated); deep = blue, shallow = red.
_ANCHORS = np.array(
    [
        [0.19, 0.07, 0.23],
        [0.16, 0.47, 0.93],
        [0.10, 0.82, 0.77],
        [0.48, 0.99, 0.34],
        [0.93, 0.82, 0.23],
        [0.98, 0.44, 0.11],
        [0.65, 0.10, 0.02],
    ]
)


def z_colors(z_fraction):
    """RGB (``(..., 3)`` float) of values in [0, 1] along the z ramp."""
    t = np.clip(np.nan_to_num(np.asarray(z_fraction, dtype=np.float64), nan=0.5), 0.0, 1.0)
    position = t * (len(_ANCHORS) - 1)
    k = np.minimum(position.astype(np.int64), len(_ANCHORS) - 2)
    f = (position - k)[..., None]
    return (1 - f) * _ANCHORS[k] + f * _ANCHORS[k + 1]


def render_z(
    locs,
    oversampling=10.0,
    viewport=None,
    z_range_nm=None,
    blur="gaussian",
    min_blur_px=0.0,
    saturation_percentile=99.5,
):
    """Render localizations coloured by z.

    Parameters
    ----------
    locs : numpy.ndarray
        With ``x``, ``y``, ``z`` (nm) and, for Gaussian blur, ``lpx``, ``lpy``.
    oversampling, viewport, blur, min_blur_px
        As :func:`napari_picasso.core.render.render`.
    z_range_nm : tuple of float, optional
        z mapped to the two ends of the colour ramp; default the 1st..99th percentile.
    saturation_percentile : float
        Density percentile (over non-empty pixels) shown at full brightness.

    Returns
    -------
    rgb : numpy.ndarray
        ``(h, w, 3)`` float32 in [0, 1].
    viewport : tuple of float
    z_range_nm : tuple of float
    """
    z = np.asarray(locs["z"], dtype=np.float64)
    if z_range_nm is None:
        z_range_nm = (float(np.percentile(z, 1)), float(np.percentile(z, 99))) if len(z) else (-1.0, 1.0)
    lo, hi = float(z_range_nm[0]), float(z_range_nm[1])
    if hi <= lo:
        hi = lo + 1.0
    density, viewport = render(locs, oversampling, viewport, blur, min_blur_px)
    z_sum, _ = render(locs, oversampling, viewport, blur, min_blur_px, weights=z)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_z = np.where(density > 0, z_sum / density, np.nan)
    positive = density[density > 0]
    top = float(np.percentile(positive, saturation_percentile)) if positive.size else 1.0
    brightness = np.clip(density / max(top, 1e-12), 0.0, 1.0)[..., None]
    rgb = z_colors((mean_z - lo) / (hi - lo)) * brightness
    return rgb.astype(np.float32), viewport, (lo, hi)
