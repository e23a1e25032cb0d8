"""What a fit method is: the :class:`Fitter` record every fit family fills in."""

import dataclasses
from collections.abc import Callable

import numpy as np

from ..core.localizations import BASE_FIELDS


@dataclasses.dataclass(frozen=True)
class Fitter:
    """A fit method of the pipeline.

    Attributes
    ----------
    name : str
        The ``--fit`` value, ``Fit method`` in ``_locs.yaml`` (``"mle"``).
    title : str
        What the dock's fit menu shows and ``_locs.yaml`` records as ``Fit method name``.
    fields : tuple of (str, str)
        Fields it adds to the localization table after Picasso's base fields.
    parameters : tuple of str
        The fit-scope parameters (:data:`napari_picasso.parameters.SCHEMA`) it reads; the
        others are hidden in the dock, left out of its ``_locs.yaml`` and refused when set.
    fit : callable
        ``fit(spots, parameters, extra_variance) -> dict`` of per-spot arrays: ``x``, ``y``
        (px from the box centre), ``photons``, ``sx``, ``sy``, ``bg``, and whatever
        :attr:`columns` reads. ``spots`` are ``(n, box, box)`` photons; ``extra_variance``
        (photons^2 per pixel, sCMOS or subtracted background) or None.
    columns : callable
        ``columns(locs, fit, parameters) -> keep`` fills the fields beyond position,
        photons, widths and background (``lpx``, ``lpy`` and :attr:`fields`) in place; returns
        a boolean mask of rows to keep, or None for all.
    check : callable or None
        ``check(parameters)`` raises :class:`~napari_picasso.io.errors.ParameterError` for
        parameters this method cannot run with (before any movie is read).
    gpu_fit : callable or None
        :attr:`fit` on a CUDA GPU (same arguments and results, within rounding); None for a
        method that runs on the CPU only (``--device auto`` then uses the CPU).
    rows_per_spot : bool
        False (the default): :attr:`fit` returns one row per spot. True: its dict also has
        ``spot``, the index of the spot each row comes from (zero, one or several rows per
        spot, ordered by spot); the pipeline gives each row its spot's frame, box centre
        and net gradient, and ``x``, ``y`` stay relative to that box centre.
    detection_smoothing_px : float
        Gaussian sigma (px) of the smoothing the gradient detector applies before it looks
        for maxima and measures net gradients (0: none). PSFs that open into rings and
        lobes need it: the smoothed spot has one maximum, at its centre.
    maximum_radius_px : int or None
        The gradient detector's candidates are maxima of the ``(2 r + 1)^2`` neighbourhood
        (None: the box, Picasso's rule). A method that fits several emitters per box
        takes a smaller one, so that a spot half a box from a brighter one gets a box
        of its own.
    """

    name: str
    title: str
    fields: tuple
    parameters: tuple
    fit: Callable
    columns: Callable
    check: Callable | None = None
    gpu_fit: Callable | None = None
    rows_per_spot: bool = False
    detection_smoothing_px: float = 0.0
    maximum_radius_px: int | None = None

    @property
    def dtype(self):
        """The record dtype of the localization table this method writes."""
        return np.dtype(BASE_FIELDS + list(self.fields))

    def uses(self, name):
        """True when the fit-scope parameter ``name`` applies to this method."""
        return name in self.parameters
