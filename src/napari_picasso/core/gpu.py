"""Identification and fits (Gaussian, multi-emitter, spline, two-channel) on an NVIDIA GPU.

The device code is the CPU kernels' own source: every function of
:mod:`~napari_picasso.core.identify`, :mod:`~napari_picasso.core.gaussfit`,
:mod:`~napari_picasso.core.multifit`, :mod:`~napari_picasso.core.psf_spline` and
:mod:`~napari_picasso.core.channelfit` that a GPU kernel reaches is compiled a second
time, for CUDA (Numba-CUDA), from the same Python function, with its calls pointing at
the CUDA versions (``_cuda_kernels._retarget``). The GPU therefore runs
the same net gradient, the same Levenberg-Marquardt steps and the same Cramer-Rao
bounds; results differ from the CPU's only by floating-point rounding (the CPU kernels
re-associate sums). One GPU thread fits one spot (or one multi-emitter window) in local
scratch arrays; one thread scores one pixel.

Nothing here imports ``numba.cuda`` until a kernel is needed: :func:`cuda_available`
looks for the NVIDIA device files first, so a machine without a GPU pays nothing.
``NUMBA_ENABLE_CUDASIM=1`` runs every kernel in numba's CUDA simulator on the CPU (the
tests do, on small inputs).
"""

import functools
import os

import numpy as np

from . import gaussfit, identify

# Spots per launch; two launches in flight on two streams, so one batch's transfers
# overlap the other's fits.
BATCH_SPOTS = 1 << 17
_FIT_THREADS = 64
_PIXEL_THREADS = (32, 8, 1)


def _simulated():
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "") not in ("", "0")


@functools.cache
def cuda_available():
    """True when numba finds a usable CUDA GPU (or its simulator is switched on).

    Examples
    --------
    >>> from napari_picasso.core import gpu
    >>> isinstance(gpu.cuda_available(), bool)
    True
    """
    if not _simulated() and not os.path.exists("/dev/nvidiactl") and os.name != "nt":
        return False
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # a driver or toolkit that does not load is no GPU
        return False


def device_name():
    """The GPU's name as the driver gives it, ``"CUDA simulator"``, or None."""
    if not cuda_available():
        return None
    if _simulated():
        return "CUDA simulator"
    from numba import cuda

    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


@functools.cache
def _kernels():
    from numba import cuda

    from . import _cuda_kernels

    return cuda, _cuda_kernels


def identify_frames(frames, min_net_gradient, box=7, roi=None, *, maximum_radius_px=None):
    """:func:`napari_picasso.core.identify.identify` on the GPU: the same candidates.

    Parameters and returns as there. One thread scores one pixel; the candidates are
    gathered on the host in frame, row, column order.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_picasso.core import gpu
    >>> frames = np.zeros((1, 32, 32), np.float32)
    >>> frames[0, 16, 16] = 1000.0
    >>> if gpu.cuda_available():
    ...     frame, y, x, ng = gpu.identify_frames(frames, 100.0)
    """
    identify.check_box(box)
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    frames = np.ascontiguousarray(frames, dtype=np.float32)
    n_frames, height, width = frames.shape
    y0, x0, y1, x1 = roi if roi is not None else (0, 0, height, width)
    uy, ux = identify.unit_vectors_to_centre(box)
    rm = identify.maximum_radius(box, maximum_radius_px)
    cuda, kernels = _kernels()
    if n_frames == 0:
        empty = np.zeros(0, np.int32)
        return np.zeros(0, np.int64), empty, empty.copy(), np.zeros(0, np.float32)
    scores = cuda.device_array(frames.shape, dtype=np.float32)
    blocks = tuple(-(-size // threads) for size, threads in zip((width, height, n_frames), _PIXEL_THREADS))
    kernels.score_pixels[blocks, _PIXEL_THREADS](
        cuda.to_device(frames),
        int(box) // 2,
        rm,
        np.float32(min_net_gradient),
        int(y0),
        int(x0),
        int(y1),
        int(x1),
        cuda.to_device(uy),
        cuda.to_device(ux),
        scores,
    )
    scores = scores.copy_to_host()
    frame_index, y, x = np.nonzero(np.isfinite(scores))
    return frame_index.astype(np.int64), y.astype(np.int32), x.astype(np.int32), scores[frame_index, y, x]


def _fit_spots(spots, n_params, poisson, max_iterations, tolerance, extras, has_extra):
    """The GPU twin of ``gaussfit._fit_spots``: batches on two alternating streams."""
    cuda, kernels = _kernels()
    n, box, _ = spots.shape
    if box > kernels.MAX_BOX:
        raise ValueError(f"GPU fits take boxes up to {kernels.MAX_BOX} px; got {box} (use the CPU)")
    theta = np.empty((n, n_params), np.float64)
    crlb = np.empty((n, n_params), np.float64)
    iterations = np.empty(n, np.int32)
    objective = np.empty(n, np.float64)
    streams = (cuda.stream(), cuda.stream())
    pending = []
    d_extras_shared = None if has_extra else cuda.to_device(extras)
    for k, start in enumerate(range(0, n, BATCH_SPOTS)):
        stop = min(start + BATCH_SPOTS, n)
        stream = streams[k % 2]
        count = stop - start
        d_spots = cuda.to_device(spots[start:stop], stream=stream)
        d_extras = cuda.to_device(extras[start:stop], stream=stream) if has_extra else d_extras_shared
        out = (
            cuda.device_array((count, n_params), np.float64, stream=stream),
            cuda.device_array((count, n_params), np.float64, stream=stream),
            cuda.device_array(count, np.int32, stream=stream),
            cuda.device_array(count, np.float64, stream=stream),
        )
        blocks = -(-count // _FIT_THREADS)
        kernels.fit_spots[blocks, _FIT_THREADS, stream](
            d_spots, n_params, poisson, max_iterations, tolerance, d_extras, has_extra, *out
        )
        pending.append((start, stop, stream, out))
        if len(pending) == 2:
            _collect(pending.pop(0), theta, crlb, iterations, objective)
    for item in pending:
        _collect(item, theta, crlb, iterations, objective)
    return theta, crlb, iterations, objective


def _collect(item, theta, crlb, iterations, objective):
    start, stop, stream, (d_theta, d_crlb, d_iterations, d_objective) = item
    theta[start:stop] = d_theta.copy_to_host(stream=stream)
    crlb[start:stop] = d_crlb.copy_to_host(stream=stream)
    iterations[start:stop] = d_iterations.copy_to_host(stream=stream)
    objective[start:stop] = d_objective.copy_to_host(stream=stream)
    stream.synchronize()


def fit_mle(spots, max_iterations=100, tolerance_px=1e-3, shared_sigma=False, extra_variance=None):
    """:func:`napari_picasso.core.gaussfit.fit_mle` on the GPU (same inputs and outputs).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_picasso.core import gpu
    >>> spots = np.full((2, 7, 7), 10.0, np.float32)
    >>> spots[:, 3, 3] += 500.0
    >>> if gpu.cuda_available():
    ...     fit = gpu.fit_mle(spots)
    """
    return gaussfit.fit_spots_with(
        _fit_spots, spots, max_iterations, tolerance_px, shared_sigma, poisson=True, extra_variance=extra_variance
    )


def fit_lq(spots, max_iterations=100, tolerance_px=1e-3, shared_sigma=False):
    """:func:`napari_picasso.core.gaussfit.fit_lq` on the GPU (same inputs and outputs).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_picasso.core import gpu
    >>> spots = np.full((2, 7, 7), 10.0, np.float32)
    >>> spots[:, 3, 3] += 500.0
    >>> if gpu.cuda_available():
    ...     fit = gpu.fit_lq(spots)
    """
    return gaussfit.fit_spots_with(_fit_spots, spots, max_iterations, tolerance_px, shared_sigma, poisson=False)


# --- mle-multi: multi-emitter windows (core.multifit) ---------------------------------


def _fit_windows(
    spots, ns, aspect, max_emitters, max_iterations, tolerance, gof_limits, lrt_limit, excess, extras, has_extra
):
    """The GPU twin of ``multifit._fit_windows`` (batches as :func:`_launch_batched`)."""
    _, kernels = _kernels()
    n, box, _ = spots.shape
    if box > kernels.MAX_BOX:
        raise ValueError(f"GPU fits take boxes up to {kernels.MAX_BOX} px; got {box} (use the CPU)")
    per_emitter = ((max_emitters, 3), np.float64)
    return tuple(
        _launch_batched(
            kernels.fit_windows,
            n,
            (_PerSpot(spots), ns, aspect, max_emitters, max_iterations, tolerance, np.asarray(gof_limits, np.float64),
             lrt_limit, excess, _PerSpot(extras) if has_extra else extras, has_extra),
            (per_emitter, per_emitter, ((3,), np.float64), ((3,), np.float64), ((max_emitters,), np.bool_),
             ((), np.int32), ((), np.int32), ((), np.float64)),
        )
    )  # fmt: skip


def fit_multi(
    spots,
    *,
    max_emitters=5,
    p_value=0.002,
    max_iterations=100,
    tolerance_px=1e-3,
    shared_sigma=False,
    extra_variance=None,
    excess_noise=1.0,
    psf_aspect=None,
):
    """:func:`napari_picasso.core.multifit.fit_multi` on the GPU (same inputs and outputs).

    One thread fits one window (single fit, tests, joint fits) in local scratch sized for
    :data:`~napari_picasso.core.multifit.MAX_EMITTERS` emitters; boxes up to 31 px.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_picasso.core import gpu
    >>> spots = np.random.default_rng(0).poisson(50.0, (2, 7, 7)).astype(np.float32)
    >>> if gpu.cuda_available():
    ...     fit = gpu.fit_multi(spots, max_emitters=2)
    """
    from . import multifit

    return multifit.fit_multi_with(
        _fit_windows,
        spots,
        max_emitters=max_emitters,
        p_value=p_value,
        max_iterations=max_iterations,
        tolerance_px=tolerance_px,
        shared_sigma=shared_sigma,
        extra_variance=extra_variance,
        excess_noise=excess_noise,
        psf_aspect=psf_aspect,
    )


# --- Spline PSF and two-channel (splitter) fits ----------------------------------------
# A block of its own, so that ports of other fitters merge beside it.

from . import channelfit, psf_spline  # noqa: E402
from ._gpu_limits import MAX_SPLINE_BOX, MAX_SPLINE_SLICES  # noqa: E402


def spline_fits_on_gpu(box, n_slices):
    """True when spline fits of ``box`` px with a template of ``n_slices`` slices fit a
    GPU thread's scratch (no CUDA import: the fitters ask before choosing the device).

    Examples
    --------
    >>> from napari_picasso.core import gpu
    >>> gpu.spline_fits_on_gpu(13, 161), gpu.spline_fits_on_gpu(25, 161)
    (True, False)
    """
    return box <= MAX_SPLINE_BOX and n_slices <= MAX_SPLINE_SLICES


class _PerSpot:
    """A kernel input with one entry per spot: sent to the GPU batch by batch (as ``dtype``)."""

    def __init__(self, array, dtype=None):
        self.array = array
        self.dtype = array.dtype if dtype is None else np.dtype(dtype)

    def batch(self, start, stop):
        return np.ascontiguousarray(self.array[start:stop], dtype=self.dtype)


def _launch_batched(kernel, n, inputs, outputs):
    """Run ``kernel(*inputs, *outputs)`` over ``n`` spots in batches on two alternating
    streams (one batch's transfers overlap the other's fits), as :func:`_fit_spots` does.

    ``inputs``: :class:`_PerSpot` arrays (sliced per batch), arrays (sent once) or scalars;
    ``outputs``: ``(shape after the spot axis, dtype)`` of each per-spot result.
    Returns the host arrays of the outputs.
    """
    cuda, _ = _kernels()
    results = [np.empty((n, *tail), dtype) for tail, dtype in outputs]
    shared = [cuda.to_device(item) if isinstance(item, np.ndarray) else item for item in inputs]
    streams = (cuda.stream(), cuda.stream())
    pending = []
    for k, start in enumerate(range(0, n, BATCH_SPOTS)):
        stop = min(start + BATCH_SPOTS, n)
        stream = streams[k % 2]
        count = stop - start
        arguments = [
            cuda.to_device(item.batch(start, stop), stream=stream) if isinstance(item, _PerSpot) else item
            for item in shared
        ]
        out = [cuda.device_array((count, *tail), dtype, stream=stream) for tail, dtype in outputs]
        kernel[-(-count // _FIT_THREADS), _FIT_THREADS, stream](*arguments, *out)
        pending.append((start, stop, stream, out))
        if len(pending) == 2:
            _collect_into(pending.pop(0), results)
    for item in pending:
        _collect_into(item, results)
    return results


def _collect_into(item, results):
    start, stop, stream, out = item
    for host, device in zip(results, out):
        host[start:stop] = device.copy_to_host(stream=stream)
    stream.synchronize()


def _fit_spline_spots(spots, extras, has_extra, coeff, knots, scale, z_focus, n_params, poisson, max_iterations, tol):
    """The GPU twin of ``psf_spline._fit_spots``."""
    _, kernels = _kernels()
    n, box, _ = spots.shape
    if not spline_fits_on_gpu(box, len(knots)):
        raise ValueError(
            f"GPU spline fits take boxes up to {MAX_SPLINE_BOX} px and templates of up to "
            f"{MAX_SPLINE_SLICES} slices; got {box} px, {len(knots)} slices (use the CPU)"
        )
    knot_sums = psf_spline._knot_sums(knots, box)
    theta, crlb, objective, iterations = _launch_batched(
        kernels.fit_spline_spots,
        n,
        (_PerSpot(spots), _PerSpot(extras) if has_extra else extras, has_extra, coeff, knots, knot_sums, scale,
         z_focus, n_params, poisson, max_iterations, tol),
        (((5,), np.float64), ((5,), np.float64), ((), np.float64), ((), np.int32)),
    )  # fmt: skip
    return theta, crlb, objective, iterations


def fit_spline(spots, coeff, **options):
    """:func:`napari_picasso.core.psf_spline.fit_spline` on the GPU (same inputs and outputs).

    Boxes up to :data:`MAX_SPLINE_BOX` (21) px, templates of up to :data:`MAX_SPLINE_SLICES` (256)
    slices (the size of each thread's scratch); larger ones raise ValueError.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_picasso.core import gpu, psf_spline
    >>> yy, xx = np.mgrid[-3:4, -3:4]
    >>> vol = np.stack([np.exp(-(xx**2 + yy**2 * w) / 2) for w in (0.5, 0.7, 1.0, 1.4, 2.0)])
    >>> spot = 1000 * vol[2] / vol[2].sum() + 10
    >>> if gpu.cuda_available():
    ...     out = gpu.fit_spline(spot[None], psf_spline.coefficients(vol), photon_scale=vol[2].sum())
    """
    return psf_spline.fit_spline_with(_fit_spline_spots, spots, coeff, **options)


def _fit_channel_pairs(spots, offsets, jacobians, max_iterations, tolerance, variance):
    """The GPU twin of ``channelfit._fit_all``."""
    _, kernels = _kernels()
    n, box = spots.shape[0], spots.shape[2]
    if box > kernels.MAX_BOX:
        raise ValueError(f"GPU fits take boxes up to {kernels.MAX_BOX} px; got {box} (use the CPU)")
    n_params = channelfit.N_PARAMS
    # float64 pixels (exact): the arithmetic is the CPU's float64 either way, and the CUDA
    # simulator, which follows NumPy's rules (float32 * Python float -> float32), then agrees.
    return tuple(
        _launch_batched(
            kernels.fit_channel_pairs,
            n,
            (_PerSpot(spots, np.float64), _PerSpot(offsets), _PerSpot(jacobians), max_iterations, tolerance, variance),
            (((n_params,), np.float64), ((n_params,), np.float64), ((), np.int32), ((), np.float64)),
        )
    )


def fit_two_channels(spots, offsets, jacobians, **options):
    """:func:`napari_picasso.core.channelfit.fit_two_channels` on the GPU (same inputs and
    outputs); boxes up to 31 px.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_picasso.core import channelfit, gpu
    >>> theta = np.array([[0.2, -0.1, 1500.0, 500.0, 20.0, 20.0, 1.0, 1.0]])
    >>> o, J = np.zeros((1, 2)), np.eye(2)[None]
    >>> if gpu.cuda_available():
    ...     fit = gpu.fit_two_channels(channelfit.expected_spots(theta, o, J, 9), o, J)
    """
    return channelfit.fit_two_channels_with(_fit_channel_pairs, spots, offsets, jacobians, **options)
