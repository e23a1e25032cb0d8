"""Where a run's time goes: stage timers for benchmarks, off unless asked for.

With the environment variable ``NAPARI_PICASSO_TIMINGS`` set (to anything but ``0`` or
empty) the pipeline's stages (reading, identification, fitting, writing ...) add up their
wall time here, and ``napari-picasso`` prints the table on stderr when it exits
(``benchmarks/bench_command.py`` reads it). Stages nest: a stage's time excludes the
stages that ran inside it, so the stages add up to the time they cover. Two stages are
recorded without any code asking: ``numba kernels`` (numba loading compiled code from
its disk cache, or compiling it when the cache is cold) and ``imports`` (Python modules
imported after this module). Without the variable, :func:`stage` does nothing.
"""

import contextlib
import json
import os
import threading
import time

ENABLED = os.environ.get("NAPARI_PICASSO_TIMINGS", "") not in ("", "0")
IMPORTED_AT = time.monotonic()
"""``time.monotonic()`` when this module was imported (the start-up before it: interpreter)."""

_totals = {}
_lock = threading.Lock()
_local = threading.local()


def _stack():
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def _enter(name):
    # [name, start, seconds of the stages nested in it]
    _stack().append([name, time.perf_counter(), 0.0])


def _exit():
    stack = _stack()
    name, start, nested = stack.pop()
    elapsed = time.perf_counter() - start
    if stack:
        stack[-1][2] += elapsed
    with _lock:
        _totals[name] = _totals.get(name, 0.0) + elapsed - nested


@contextlib.contextmanager
def stage(name):
    """Add the wall time of the ``with`` block to stage ``name`` (when timings are on).

    Examples
    --------
    >>> from napari_picasso.core import timings
    >>> with timings.stage("reading"):
    ...     pass
    """
    if not ENABLED:
        yield
        return
    _enter(name)
    try:
        yield
    finally:
        _exit()


def totals():
    """``{stage: seconds}`` so far (exclusive of nested stages)."""
    with _lock:
        return dict(_totals)


def report_line():
    """One JSON line for a benchmark: the stage totals and the monotonic clock now."""
    return "napari-picasso timings " + json.dumps(
        {"stages": totals(), "imported_at": IMPORTED_AT, "reported_at": time.monotonic()}
    )


def _timed(function, name):
    def wrapper(*args, **kwargs):
        _enter(name)
        try:
            return function(*args, **kwargs)
        finally:
            _exit()

    wrapper.__wrapped__ = function
    return wrapper


def _install():
    """Time numba's loading/compiling of kernels and Python's imports as stages of their own."""
    import builtins
    import importlib

    builtins.__import__ = _timed(builtins.__import__, "imports")
    importlib.import_module = _timed(importlib.import_module, "imports")
    from numba.core import dispatcher

    dispatcher.Dispatcher.compile = _timed(dispatcher.Dispatcher.compile, "numba kernels")


if ENABLED:
    _install()
