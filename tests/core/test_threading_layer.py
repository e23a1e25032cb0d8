"""numba runs our parallel kernels on a thread-safe layer (tbb or omp), never workqueue.

workqueue aborts the process when two Python threads launch parallel kernels at once
(a preview beside a localization); ``core._parallel`` selects ``threadsafe`` unless the
user set ``NUMBA_THREADING_LAYER``. Concurrent launches with results identical to a serial
run: ``tests/test_pipeline.py::test_concurrent_localizations_in_threads``.
"""

import os
import subprocess
import sys

import numba
import numpy as np

from napari_picasso.core.identify import identify

LAYER_SCRIPT = """
import numba, numpy as np
from napari_picasso.pipeline import LocalizeParameters, localize
frames = np.random.default_rng(0).poisson(100, (8, 32, 32)).astype(np.uint16)
localize(frames, LocalizeParameters(min_net_gradient=100))  # parallel kernels have run
print(numba.config.THREADING_LAYER, numba.threading_layer())
"""


def layer_in_fresh_process(**env):
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    done = subprocess.run(
        [sys.executable, "-c", LAYER_SCRIPT], capture_output=True, text=True, timeout=300, env={**environ, **env}
    )
    assert done.returncode == 0, done.stderr
    configured, in_use = done.stdout.split()[-2:]
    return configured, in_use


def test_threading_layer_is_tbb_or_omp_after_a_parallel_kernel():
    configured, in_use = layer_in_fresh_process()
    # "threadsafe" is our request: numba's "default" would fall back to workqueue on a
    # machine without tbb and OpenMP instead of failing loudly.
    assert configured == "threadsafe"
    assert in_use in ("tbb", "omp")


def test_users_explicit_layer_is_respected():
    # Also shows the check above can fail: the layer really is whatever numba chose.
    assert layer_in_fresh_process(NUMBA_THREADING_LAYER="workqueue") == ("workqueue", "workqueue")


def test_this_test_process_runs_on_a_thread_safe_layer():
    identify(np.zeros((2, 16, 16), np.float32), 1.0, 7)  # a parallel kernel, so numba has a layer
    if "NUMBA_THREADING_LAYER" not in os.environ:
        assert numba.threading_layer() in ("tbb", "omp")
