"""napari-picasso: single-molecule localization microscopy in napari.

Layers, bottom to top (each imports only those below it):

- :mod:`napari_picasso.core`: numpy + numba algorithms (no Qt, napari or file I/O).
- :mod:`napari_picasso.io`, :mod:`napari_picasso.db`, :mod:`napari_picasso.pipeline`,
  :mod:`napari_picasso.watcher`: files, the experiment database, the one streaming
  ``localize`` pipeline.
- Front ends: npe2 contributions, dock widgets in ``_widgets``, the ``napari-picasso``
  command line and the browser app.
"""

__version__ = "0.1.0"
