"""Whether numba's compiled kernels of a run are cached on disk: the first run compiles them.

The numerical kernels (``napari_picasso.core``) are compiled by numba on first use and
cached on disk (``cache=True``, beside the modules or in ``$NUMBA_CACHE_DIR``). On a fresh
install, after an upgrade or with a new fit method that takes tens of seconds in which
nothing seems to happen; front ends say so first with :data:`FIRST_RUN_NOTICE` (the
command line on stderr, the docks in their status line) when :func:`first_run_notice`
returns it.
"""

import inspect

FIRST_RUN_NOTICE = "preparing numerical kernels, first run only (this takes up to a minute)"

# The stages every localization runs, by module of napari_picasso.core.
_ALWAYS = ("frames", "identify", "spots")


def _dispatchers(module):
    """The numba functions of a module that cache their compiled code on disk."""
    for value in vars(module).values():
        if hasattr(value, "py_func") and getattr(value, "_cache", None) is not None:
            if value.py_func.__module__ == module.__name__:
                yield value


def _has_cached_code(dispatcher):
    """True when numba's on-disk index lists compiled code for the function's current source."""
    try:
        index = dispatcher._cache._cache_file._load_index()  # numba's cache index; {} when stale
    except Exception:  # noqa: BLE001  (a numba without this layout: assume compiled, say nothing)
        return True
    return bool(index)


def is_compiled(module):
    """True when some numba function of ``module`` has compiled code in the disk cache.

    A module's kernels are compiled together (the first call of its entry point compiles
    the helpers it calls, inlined), so one cached function means the module is ready; a
    module without numba functions is ready too.

    Examples
    --------
    >>> from napari_picasso.core import identify
    >>> is_compiled(identify) in (True, False)
    True
    """
    dispatchers = list(_dispatchers(module))
    return not dispatchers or any(_has_cached_code(d) for d in dispatchers)


def _core_modules_used_by(function):
    """The ``napari_picasso.core`` modules whose names ``function`` uses (e.g. a fitter's)."""
    code = getattr(function, "__code__", None)
    names = getattr(function, "__globals__", {})
    for name in code.co_names if code is not None else ():
        value = names.get(name)
        module = value if inspect.ismodule(value) else inspect.getmodule(value)
        if module is not None and module.__name__.startswith("napari_picasso.core."):
            yield module


def kernel_modules(parameters=None):
    """The ``napari_picasso.core`` modules a localization with ``parameters`` runs.

    Detection and spot cutting always; the snr detector, the background estimate and the
    fit method's kernels (found through the fitter registry) as the parameters ask.
    """
    import importlib

    from .parameters import LocalizeParameters, fitter_of

    parameters = parameters or LocalizeParameters()
    names = list(_ALWAYS)
    if parameters.detector == "snr":
        names.append("snr_detect")
    if parameters.background_frames is not None:
        names.append("background")
    modules = {name: importlib.import_module(f"napari_picasso.core.{name}") for name in names}
    fitter = fitter_of(parameters)
    for function in (fitter.fit, fitter.columns):
        for module in _core_modules_used_by(function):
            modules.setdefault(module.__name__, module)
    return list(modules.values())


def first_run_notice(parameters=None):
    """:data:`FIRST_RUN_NOTICE` when a localization with ``parameters`` will compile kernels, else None.

    Examples
    --------
    >>> from napari_picasso.parameters import LocalizeParameters
    >>> first_run_notice(LocalizeParameters(fit_method="lq")) in (None, FIRST_RUN_NOTICE)
    True
    """
    if all(is_compiled(module) for module in kernel_modules(parameters)):
        return None
    return FIRST_RUN_NOTICE


def compile_kernels(parameters=None):
    """Compile (or load from the disk cache) the kernels a localization with ``parameters`` runs.

    Localizes a tiny simulated movie (4 frames of 32 x 32 px with bright spots) with the
    fit method, detector and camera of ``parameters``, so that a front end can pay the
    first run's compilation in a background thread before the user's first preview or
    run. Returns the seconds it took.

    Examples
    --------
    >>> from napari_picasso.parameters import LocalizeParameters
    >>> compile_kernels(LocalizeParameters(fit_method="lq")) >= 0
    True
    """
    import time

    from .parameters import LocalizeParameters
    from .pipeline import localize
    from .simulate import CameraModel, isolated_spots, render_movie, suggested_min_net_gradient

    started = time.perf_counter()
    parameters = parameters or LocalizeParameters()
    camera = CameraModel(
        baseline=float(parameters.baseline), sensitivity=float(parameters.sensitivity), em_gain=parameters.em_gain
    )
    truth = isolated_spots(4, 32, 32, spacing_px=12, photons=5000.0, margin_px=8)
    movie = render_movie(truth, 4, 32, 32, camera=camera)
    tiny = parameters.replace(
        roi=None, rois=None, frame_range=None, min_net_gradient=suggested_min_net_gradient(5000.0, camera)
    )
    localize(movie, tiny)
    return time.perf_counter() - started
