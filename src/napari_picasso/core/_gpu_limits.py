"""Sizes of a GPU thread's scratch arrays, which bound the fits a GPU takes.

A module of its own so that :mod:`~napari_picasso.core.gpu` (no CUDA import) and
:mod:`~napari_picasso.core._cuda_kernels` (the kernels) share them without importing each
other.
"""

MAX_SPLINE_BOX = 21
"""Largest box (px) of a GPU spline fit."""
MAX_SPLINE_SLICES = 256
"""Most z slices of a spline calibration a GPU fit takes (its z-start profile)."""
