"""Cubic-spline PSF calibration from a bead z-stack (Picasso 0.11's ``_spline_calib.hdf5``).

The stack has one frame per stage step, the first frame at the top of the scan (stage
``z = span / 2 - frame * step``, as in Picasso). Steps:

1. Beads: spots above the net gradient in the frames, grouped across frames (within
   ``GROUP_RADIUS_PX``); a bead is a group found in at least ``MIN_BEAD_FRACTION`` of the
   frames, away from the border and from other beads (its box is its own).
2. Each bead's volume is cut (box + margin), its background (median of the volume's
   border) removed and its brightness normalised.
3. Registration: each bead's lateral offset from the mean volume by cross-correlation
   (summed over z, parabolic sub-pixel peak), twice; the beads are shifted by a Fourier
   phase ramp and averaged. The average is centred on the intensity centroid of the whole
   volume (x = y = 0 of a fit): aberrations orthogonal to tilt (coma, astigmatism,
   spherical) move the in-focus peak but not this centroid.
4. Each voxel's axial profile is smoothed by a cubic smoothing spline chosen by
   generalised cross-validation (:class:`napari_picasso.core.spline.SmoothingSpline`), the
   minimum subtracted and the volume scaled to a unit peak in focus (Li et al. 2018).
5. Tensor-product natural cubic splines: 64 coefficients per voxel interval
   (:func:`napari_picasso.core.psf_spline.coefficients`).
"""

import numpy as np

from ..core import psf_spline
from ..core.identify import identify
from ..core.spline import SmoothingSpline
from ..io.errors import InputFileError, ParameterError
from ..io.movies import open_movie
from ..io.psf_calib import MODELS, stored_coefficients

GROUP_RADIUS_PX = 3.0
MIN_BEAD_FRACTION = 0.2
MARGIN_PX = 4
TEMPLATE_MARGIN_PX = 2
"""The template is this much wider than the fit box on each side: an emitter up to 2 px off
the box centre is modelled from bead data, not from the spline's extrapolation. Picasso crops
it to the box (its ``crop_spline_calibration``); ``box`` in the file is the fit box."""
MIN_STEPS = 5


def frame_positions_nm(n_frames, step_nm):
    """Stage z of each frame: ``span / 2 - frame * step`` (the first frame at the top).

    Examples
    --------
    >>> frame_positions_nm(3, 10.0).tolist()
    [10.0, 0.0, -10.0]
    """
    return (n_frames - 1) * step_nm / 2.0 - np.arange(n_frames) * step_nm


def find_beads(frames_counts, min_net_gradient, box, margin_px=MARGIN_PX):
    """Bead positions ``(n, 2)`` (y, x; integer px) found in enough frames of a z-stack.

    Candidates are the spots of the stack's mean frame (a defocused bead's rings and lobes
    average into one blob there) above ``MIN_BEAD_FRACTION`` of the net gradient; one is a
    bead when at least that fraction of the frames has a spot above the net gradient within
    ``box // 2`` px of it. Beads closer than a box to another bead, or whose box and margin
    leave the frame, are left out.
    """
    n_frames, height, width = frames_counts.shape
    mean = frames_counts.mean(axis=0)
    _, cy, cx, _ = identify(mean, min_net_gradient * MIN_BEAD_FRACTION, box)
    fi, y, x, _ = identify(frames_counts, min_net_gradient, box)
    radius2 = (box // 2) ** 2
    positions = []
    for py, px in zip(cy, cx, strict=True):
        near = (y - py) ** 2 + (x - px) ** 2 <= radius2
        if len(np.unique(fi[near])) >= MIN_BEAD_FRACTION * n_frames:
            positions.append((py, px))
    positions = np.array(positions, dtype=np.int64).reshape(-1, 2)
    half = box // 2 + margin_px
    keep = []
    for k, p in enumerate(positions):
        inside = half <= p[0] < height - half and half <= p[1] < width - half
        others = np.delete(positions, k, axis=0)
        alone = not len(others) or np.max(np.abs(others - p), axis=1).min() > box
        if inside and alone:
            keep.append(p)
    return np.array(keep, dtype=np.int64).reshape(-1, 2)


def _fourier_shift(volume, dy, dx):
    """Shift every slice of ``(n, h, w)`` by ``(dy, dx)`` px (content moves by +d)."""
    _, h, w = volume.shape
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.fftfreq(w)[None, :]
    ramp = np.exp(-2j * np.pi * (ky * dy + kx * dx))
    return np.real(np.fft.ifft2(np.fft.fft2(volume) * ramp))


def _offset(volume, reference):
    """Lateral offset (dy, dx) of ``volume`` relative to ``reference`` (sub-pixel)."""
    cc = np.real(np.fft.ifft2((np.fft.fft2(volume) * np.conj(np.fft.fft2(reference))).sum(axis=0)))
    cc = np.fft.fftshift(cc)
    h, w = cc.shape
    j, i = np.unravel_index(np.argmax(cc), cc.shape)
    j, i = min(max(j, 1), h - 2), min(max(i, 1), w - 2)

    def vertex(a, b, c):
        denom = a - 2 * b + c
        return 0.0 if denom == 0 else 0.5 * (a - c) / denom

    return (
        j - h // 2 + vertex(cc[j - 1, i], cc[j, i], cc[j + 1, i]),
        i - w // 2 + vertex(cc[j, i - 1], cc[j, i], cc[j, i + 1]),
    )


def _centroid(image):
    """Intensity centroid (y, x) relative to the image centre."""
    h, w = image.shape
    yy, xx = np.mgrid[:h, :w]
    weight = np.clip(image, 0, None)
    total = weight.sum()
    return (weight * yy).sum() / total - (h - 1) / 2, (weight * xx).sum() / total - (w - 1) / 2


def average_beads(photons, positions, box, margin_px=MARGIN_PX):
    """Registered, normalised mean volume and beads, ``box + 2 TEMPLATE_MARGIN_PX`` px wide."""
    half = box // 2 + margin_px
    volumes = []
    for y, x in positions:
        v = photons[:, y - half : y + half + 1, x - half : x + half + 1].astype(np.float64)
        border = np.concatenate([v[:, 0], v[:, -1], v[:, :, 0], v[:, :, -1]], axis=1)
        v = v - np.median(border)
        volumes.append(v / max(v.sum(), 1e-12))
    volumes = np.array(volumes)
    shifted = volumes
    for _ in range(2):
        reference = shifted.mean(axis=0)
        shifted = np.array([_fourier_shift(v, *(-np.array(_offset(v, reference)))) for v in volumes])
    mean = shifted.mean(axis=0)
    dy, dx = _centroid(mean.sum(axis=0))
    crop = slice(margin_px - TEMPLATE_MARGIN_PX, margin_px + box + TEMPLATE_MARGIN_PX)
    mean = _fourier_shift(mean, -dy, -dx)[:, crop, crop]
    beads = np.array([_fourier_shift(v, -dy, -dx)[:, crop, crop] for v in shifted])
    return mean, beads


def smooth_axially(volume):
    """Each voxel's axial profile through one cubic smoothing spline.

    The roughness penalty is chosen by generalised cross-validation on the brightest
    voxel's profile (:class:`~napari_picasso.core.spline.SmoothingSpline`) and applied to
    every voxel: the smoother is then one linear operator (an ``n x n`` matrix).
    """
    n = volume.shape[0]
    t = np.arange(n, dtype=np.float64)
    flat = volume.reshape(n, -1)
    if n < 3:
        return volume.copy()
    brightest = int(np.argmax(flat.max(axis=0)))
    lam = SmoothingSpline(t, flat[:, brightest]).lam
    smoother = np.column_stack([SmoothingSpline(t, e, lam=lam)(t) for e in np.eye(n)])
    return (smoother @ flat).reshape(volume.shape)


def calibration_from_volume(
    template, *, step_nm, pixelsize_nm, magnification=1.0, model="spline-3d", z_focus=None, box=None, extra=None
):
    """A calibration dict (Picasso 0.11's keys) from a PSF volume ``(n_steps, box, box)``.

    The volume is background-subtracted (its minimum) and scaled to a unit peak in its
    focus slice (the brightest, unless ``z_focus`` is given); frame ``k`` of the volume is
    stage ``z = span / 2 - k * step``. ``box``: the fit box, when the volume is wider (the
    photon scale and width are measured in the box).

    Examples
    --------
    >>> yy, xx = np.mgrid[-3:4, -3:4]
    >>> vol = np.stack([np.exp(-(xx**2 + yy**2) / (2 * s**2)) / s**2 for s in (1.4, 1.1, 1.0, 1.1, 1.4)])
    >>> cal = calibration_from_volume(vol, step_nm=50.0, pixelsize_nm=110.0)
    >>> cal["coefficients"].shape, cal["z_init"], cal["z_center"]
    ((64, 6, 6, 4), 2.0, 2.0)
    """
    if model not in MODELS:
        raise ParameterError(f"--model must be one of {', '.join(MODELS)}; got {model!r}.")
    volume = np.asarray(template, dtype=np.float64)
    n_steps, size, _ = volume.shape
    box = size if box is None else int(box)
    inner = slice((size - box) // 2, (size - box) // 2 + box)
    if z_focus is None:
        z_focus = int(np.argmax(volume.max(axis=(1, 2))))
    volume = volume - volume.min()
    peak = volume[z_focus].max()
    if peak <= 0:
        raise ValueError("the PSF volume has no peak")
    volume = volume / peak
    photon_scale = float(np.clip(volume[z_focus, inner, inner], 0, None).sum())
    if model == "spline-2d":
        coeff = psf_spline.coefficients(volume[z_focus])
        n_data = [size, size]
    else:
        coeff = psf_spline.coefficients(volume)
        n_data = [size, size, n_steps]
    niz, niy, nix = coeff.shape[:3]
    focus = np.clip(volume[z_focus, inner, inner], 0, None)
    yy, xx = np.mgrid[:box, :box] - (box - 1) / 2
    sigma = float(np.sqrt(0.5 * (focus * (xx**2 + yy**2)).sum() / focus.sum()))
    calibration = {
        "model": model,
        "coefficients": stored_coefficients(coeff, model),
        "n_data": n_data,
        "n_intervals": [nix, niy] if model == "spline-2d" else [nix, niy, niz],
        "oversampling": 1.0,
        "lateral_centered": True,
        "z_center": (n_steps - 1) / 2.0,
        "z_init": float(z_focus),
        "z_step_nm": float(step_nm),
        "magnification_factor": float(magnification),
        "correct_z_bias": False,
        "effective_sigma": sigma,
        "photon_scale": photon_scale,
        "box": int(box),
        "pixelsize": float(pixelsize_nm),
        "n_channels": 1,
        "Step size in nm": float(step_nm),
        "Z binning": 1,
        "Frames per step": 1,
        "Frame order": "fov",
        "Frame bounds": None,
    }
    calibration.update(extra or {})
    return calibration


def check_stack(path, n_frames, box):
    """A spline needs at least ``max(MIN_STEPS, box)`` z steps."""
    needed = max(MIN_STEPS, box)
    if n_frames < needed:
        raise InputFileError(
            path,
            f"{n_frames} frames (z steps) are too few for a {box}-px box: a spline PSF needs at least {needed}.",
            "record a z-stack with more steps (a smaller --step-nm over the same range) or use a smaller --box.",
        )


def calibrate_psf(
    movie_path,
    *,
    step_nm,
    box,
    min_net_gradient,
    baseline=100.0,
    sensitivity=1.0,
    em_gain=1.0,
    pixelsize_nm=130.0,
    magnification=1.0,
    model="spline-3d",
    version="",
):
    """Calibrate a spline PSF from a bead z-stack file.

    Returns
    -------
    calibration : dict
        Picasso 0.11's keys (see :mod:`napari_picasso.io.psf_calib`).
    report : dict
        ``template`` (unit-peak volume, ``(n, box, box)``), ``beads`` (registered bead
        volumes), ``positions`` (y, x of the beads used), ``z_nm`` (stage z per slice) and
        ``agreement`` (per bead and slice, RMS difference to the template relative to its peak).

    Raises
    ------
    InputFileError
        Too few frames for the box, or no beads found.
    ParameterError
        A step, box, model or magnification that cannot be used.
    """
    if step_nm <= 0:
        raise ParameterError(f"--step-nm must be positive; got {step_nm}.")
    if box < 3 or box % 2 == 0:
        raise ParameterError(f"--box must be odd and at least 3; got {box}.")
    if magnification <= 0:
        raise ParameterError(f"--magnification must be positive; got {magnification}.")
    if model not in MODELS:
        raise ParameterError(f"--model must be one of {', '.join(MODELS)}; got {model!r}.")
    with open_movie(movie_path) as movie:
        check_stack(movie_path, movie.shape[0], box)
        counts = np.asarray(movie.read_frames(0, movie.shape[0]), dtype=np.float32)
    positions = find_beads(counts, min_net_gradient, box)
    if len(positions) == 0:
        raise InputFileError(
            movie_path,
            f"no beads found: no isolated spot above net gradient {min_net_gradient:g} in at least "
            f"{MIN_BEAD_FRACTION:.0%} of the frames, with its {box}-px box inside the frame.",
            "lower --gradient, check --baseline and --sensitivity, or image beads further apart.",
        )
    photons = (counts - baseline) * (sensitivity / em_gain)
    mean, beads = average_beads(photons, positions, box)
    smoothed = smooth_axially(mean)
    z_focus = int(np.argmax(smoothed.max(axis=(1, 2))))
    calibration = calibration_from_volume(
        smoothed,
        step_nm=step_nm,
        pixelsize_nm=pixelsize_nm,
        magnification=magnification,
        model=model,
        z_focus=z_focus,
        box=box,
        extra={
            "n_beads": int(len(positions)),
            "n_beads_used": int(len(positions)),
            "Generated by": f"napari-picasso {version} calibrate-psf".replace("  ", " "),
        },
    )
    floor, norm = smoothed.min(), smoothed[z_focus].max() - smoothed.min()
    template = (smoothed - floor) / norm
    agreement = np.sqrt((((beads - floor) / norm - template[None]) ** 2).mean(axis=(2, 3)))
    report = {
        "template": template,
        "beads": beads,
        "positions": positions,
        "z_nm": frame_positions_nm(len(template), step_nm),
        "agreement": agreement,
    }
    return calibration, report


def calibration_figure(report, pixelsize_nm):
    """The PSF's x-z and y-z sections through its centre and the beads' agreement (a Figure)."""
    from matplotlib.figure import Figure

    template, z_nm = report["template"], report["z_nm"]
    centre = template.shape[1] // 2
    half_px = centre * pixelsize_nm
    extent = (-half_px, half_px, z_nm[-1], z_nm[0])
    figure = Figure(figsize=(11, 4), layout="constrained")
    axes = figure.subplots(1, 3)
    for ax, section, name in (
        (axes[0], template[:, centre, :], "x"),
        (axes[1], template[:, :, centre], "y"),
    ):
        ax.imshow(section, aspect="auto", extent=extent, cmap="magma", origin="upper")
        ax.set_xlabel(f"{name} (nm)")
        ax.set_ylabel("z (nm)")
        ax.set_title(f"PSF, {name}-z section")
    for k, profile in enumerate(report["agreement"]):
        axes[2].plot(z_nm, 100 * profile, lw=0.8, label=f"bead {k + 1}" if k < 8 else None)
    axes[2].set_xlabel("z (nm)")
    axes[2].set_ylabel("RMS(bead - PSF) / peak (%)")
    axes[2].set_title(f"{len(report['agreement'])} beads vs the PSF")
    axes[2].legend(fontsize=7)
    return figure
