"""Choose a thread-safe numba threading layer before any parallel kernel runs.

numba's default ``workqueue`` layer aborts the whole process when two Python threads
launch parallel kernels at the same time (a preview worker beside a localize worker in
napari). The ``tbb`` and ``omp`` layers are safe for concurrent launches; ``threadsafe``
asks numba for whichever of them is available. A user's explicit
``NUMBA_THREADING_LAYER`` is respected.
"""

import os

import numba


def configure_threading_layer():
    """Select numba's ``threadsafe`` threading layer unless the user chose one."""
    if "NUMBA_THREADING_LAYER" in os.environ:
        return
    if numba.config.THREADING_LAYER in ("default", "workqueue"):
        numba.config.THREADING_LAYER = "threadsafe"


configure_threading_layer()
