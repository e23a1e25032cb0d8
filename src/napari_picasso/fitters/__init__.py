"""The fitter registry: every fit method of the pipeline, by name.

A fit method is one :class:`~napari_picasso.fitters.base.Fitter` (name, title, the
fields it adds, the fit-scope parameters it reads, its fit and uncertainty functions),
defined in a module of this package and listed in :data:`FAMILIES`. The pipeline, the
``--fit`` choices, the dock's fit menu, the watcher's groups and the distributed runner
all take fit methods from here.

Adding a fit family: a module with a ``FITTERS`` tuple, one line in :data:`FAMILIES`, and
its parameters declared in :data:`napari_picasso.parameters.SCHEMA` (scope ``"fit"``).
"""

from ..io.errors import ParameterError
from . import astigmatic, gaussian, multi, ratio, spline
from .base import Fitter

# In the order the fit menu and the --fit help list them.
FAMILIES = (gaussian, astigmatic, spline, multi, ratio)

_REGISTRY = {fitter.name: fitter for family in FAMILIES for fitter in family.FITTERS}


def names():
    """The fit methods' names, in menu order."""
    return tuple(_REGISTRY)


def get(name):
    """The :class:`Fitter` called ``name``.

    Raises
    ------
    ParameterError
        For an unknown name, listing the known ones.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ParameterError(f"unknown fit method {name!r}; choose one of {', '.join(_REGISTRY)}.") from None


def register(fitter):
    """Add a fit method (a plugin's, or a test's); a name already taken is refused."""
    if fitter.name in _REGISTRY:
        raise ValueError(f"a fit method called {fitter.name!r} is registered already")
    _REGISTRY[fitter.name] = fitter
    return fitter


def unregister(name):
    """Remove a fit method added with :func:`register`."""
    _REGISTRY.pop(name, None)


__all__ = ["Fitter", "get", "names", "register", "unregister"]
