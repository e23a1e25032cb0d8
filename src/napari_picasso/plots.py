"""Explorer plots drawn on a matplotlib ``Axes`` (no pyplot, no Qt).

The napari explorer puts them on a Qt canvas, the browser app on a ``Figure`` of its own;
the data come from :mod:`napari_picasso.db.views` and :mod:`napari_picasso.db.compare`.
"""

import numpy as np

from .db.views import TIME_COLUMNS

COLOUR_PALETTE = ("magenta", "lime", "cyan", "yellow", "orange", "red")
"""Colours of the splitter's ``--colour`` windows, in window order (histogram, points)."""


def _axis_values(values, column):
    """Time columns (POSIX seconds in the data) as dates on the axis."""
    return (np.asarray(values) * 1e6).astype("datetime64[us]") if column in TIME_COLUMNS else values


COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def _empty(ax, message):
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def draw_scatter(ax, data, x_label, y_label):
    """Points of :func:`~napari_picasso.db.views.scatter_with_trend` and its trend line."""
    ax.clear()
    if len(data["x"]) == 0:
        _empty(ax, f"no rows with both {x_label} and {y_label}")
        return ax
    ax.scatter(
        _axis_values(data["x"], x_label),
        _axis_values(data["y"], y_label),
        s=18,
        color=COLORS[0],
        alpha=0.8,
        label=f"{len(data['x'])} files",
    )
    if data["slope"] is not None:
        x = np.array([data["x"].min(), data["x"].max()])
        y = data["intercept"] + data["slope"] * x
        if x_label in TIME_COLUMNS:
            trend = f"trend: {data['slope'] * 86400:.3g} per day"
        else:
            trend = f"trend: y = {data['slope']:.3g} x + {data['intercept']:.3g}"
        ax.plot(
            _axis_values(x, x_label),
            _axis_values(y, y_label),
            color=COLORS[3],
            lw=1.5,
            label=f"{trend} (r = {data['r']:.2f})",
        )
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    if x_label in TIME_COLUMNS:
        ax.tick_params(axis="x", labelrotation=30)
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def draw_daily_boxes(ax, daily, label):
    """Box plots of :func:`~napari_picasso.db.views.daily_values`, one box per day."""
    ax.clear()
    if not daily:
        _empty(ax, f"no rows with {label}")
        return ax
    days = [day for day, _ in daily]
    ax.boxplot([values for _, values in daily], tick_labels=days, showfliers=True)
    for i, (_, values) in enumerate(daily, 1):
        jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
        ax.plot(i + jitter, values, "o", ms=3, color=COLORS[0], alpha=0.6)
    ax.set_ylabel(label)
    ax.set_xlabel("day")
    ax.tick_params(axis="x", labelrotation=30)
    ax.grid(alpha=0.3, axis="y")
    return ax


def draw_locs_per_frame(ax, series, names):
    """Localizations per frame over time (:func:`~napari_picasso.db.compare.locs_per_frame`), one line per file."""
    ax.clear()
    if not series:
        _empty(ax, "no files selected")
        return ax
    for i, (data, name) in enumerate(zip(series, names)):
        ax.plot(data["frame"], data["locs_per_frame"], color=COLORS[i % len(COLORS)], lw=1.2, label=name)
    ax.set_xlabel("frame")
    ax.set_ylabel("localizations per frame")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def draw_histograms(ax, histograms, names, field):
    """Normalised histograms of one field (:func:`~napari_picasso.db.compare.field_histograms`)."""
    ax.clear()
    if not names:
        _empty(ax, "no files selected")
        return ax
    edges = histograms["edges"]
    for i, (density, name) in enumerate(zip(histograms["density"], names)):
        ax.stairs(density, edges, color=COLORS[i % len(COLORS)], lw=1.5, label=name)
    ax.set_xlabel(field)
    ax.set_ylabel("fraction of localizations")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def draw_drift(ax, drift, pixelsize_nm=None, title=None):
    """Per-frame drift: x and y (nm, or px without a pixel size) and, for a 3D file, z (nm)
    on a second y axis.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    drift : numpy.ndarray
        ``(n_frames, 2)`` x, y px or ``(n_frames, 3)`` with z nm (a drift file's columns).
    pixelsize_nm : float, optional
    title : str, optional

    Returns
    -------
    list of matplotlib.axes.Axes
        ``ax`` and the z axis when drawn.
    """
    figure = ax.figure
    for other in list(figure.axes):
        if getattr(other, "_drift_z_axis_of", None) is ax:
            other.remove()
    ax.clear()
    if drift is None or len(drift) == 0:
        _empty(ax, "no drift: undrift the file first")
        return [ax]
    drift = np.asarray(drift, dtype=np.float64)
    frames = np.arange(len(drift))
    scale, unit = (float(pixelsize_nm), "nm") if pixelsize_nm else (1.0, "px")
    lines = ax.plot(frames, drift[:, 0] * scale, color=COLORS[0], lw=1.2, label="x")
    lines += ax.plot(frames, drift[:, 1] * scale, color=COLORS[1], lw=1.2, label="y")
    ax.set_xlabel("frame")
    ax.set_ylabel(f"drift x, y ({unit})")
    ax.grid(alpha=0.3)
    out = [ax]
    if drift.shape[1] > 2:
        z_ax = ax.twinx()
        z_ax._drift_z_axis_of = ax
        lines += z_ax.plot(frames, drift[:, 2], color=COLORS[2], lw=1.2, label="z")
        z_ax.set_ylabel("drift z (nm)")
        out.append(z_ax)
    ax.legend(lines, [line.get_label() for line in lines], loc="best", fontsize="small")
    if title:
        ax.set_title(title, fontsize="small")
    return out


def contrast_limits(image, percentile=99.5):
    """Display range of a rendered image: 0 to the ``percentile`` of its non-zero pixels."""
    positive = image[image > 0]
    high = float(np.percentile(positive, percentile)) if len(positive) else 1.0
    return (0.0, high if high > 0 else 1.0)


def colorize(image, limits=None, colormap="magma"):
    """A rendered image as 8-bit RGB through a matplotlib colormap (for the browser app)."""
    from matplotlib import colormaps

    low, high = contrast_limits(image) if limits is None else limits
    scaled = np.clip((np.asarray(image, dtype=np.float32) - low) / max(high - low, 1e-12), 0.0, 1.0)
    # A 256-entry lookup table: a float RGBA copy of a large render would cost 32 bytes/pixel.
    table = (colormaps[colormap](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)
    return table[(scaled * 255).round().astype(np.uint8)]


def ratio_histogram(figure, ratio, windows=(), names=(), bins=100):
    """Draw the histogram of splitter ratios ``photons_1 / photons`` with the colour windows.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        Cleared and drawn into.
    ratio : numpy.ndarray
    windows : sequence of (float, float)
        The ``--colour`` windows, shaded and labelled with ``names``.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = ratio_histogram(Figure(), np.array([0.2, 0.3, 0.7]), [(0, 0.5), (0.5, 1)], ["A", "B"])
    >>> ax.get_xlabel()
    'ratio photons_1 / photons'
    """
    figure.clear()
    ax = figure.add_subplot(1, 1, 1)
    ratio = np.asarray(ratio, dtype=np.float64)
    ratio = ratio[np.isfinite(ratio)]
    ax.hist(ratio, bins=bins, range=(0.0, 1.0), color="0.3")
    for index, ((low, high), name) in enumerate(zip(windows, names, strict=False)):
        ax.axvspan(low, high, color=COLOUR_PALETTE[index % len(COLOUR_PALETTE)], alpha=0.25, label=name)
    ax.set_xlabel("ratio photons_1 / photons")
    ax.set_ylabel("localizations")
    if len(windows):
        ax.legend(loc="upper center", fontsize="small")
    return ax
