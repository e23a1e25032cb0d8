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
IMPORTED_CPU = time.process_time()

_totals = {}  # stage: [wall seconds, CPU seconds of the whole process]
_lock = threading.Lock()
_local = threading.local()


def _stack():
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def _enter(name):
    # [name, wall and CPU clocks at the start, wall and CPU seconds of the stages nested in it]
    _stack().append([name, time.perf_counter(), time.process_time(), 0.0, 0.0])


def _exit():
    stack = _stack()
    name, start, start_cpu, nested, nested_cpu = stack.pop()
    elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    if stack:
        stack[-1][3] += elapsed
        stack[-1][4] += elapsed_cpu
    with _lock:
        total = _totals.setdefault(name, [0.0, 0.0])
        total[0] += elapsed - nested
        total[1] += elapsed_cpu - nested_cpu


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


def totals(cpu=False):
    """``{stage: seconds}`` so far (exclusive of nested stages); wall time, or with ``cpu``
    the CPU seconds of the whole process (all its threads) during the stage."""
    with _lock:
        return {name: values[1 if cpu else 0] for name, values in _totals.items()}


def report_line():
    """One JSON line for a benchmark: the stage totals, the process's CPU time and the monotonic clock."""
    return "napari-picasso timings " + json.dumps(
        {
            "stages": totals(),
            "cpu_stages": totals(cpu=True),
            "imported_at": IMPORTED_AT,
            "imported_cpu": IMPORTED_CPU,
            "process_cpu": time.process_time(),
            "reported_at": time.monotonic(),
        }
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
