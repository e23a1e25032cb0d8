"""One module per page of the browser app; each has ``render(db, path, filters, problem)``.

``db`` is a read-only connection (None when the file is missing or unusable, ``problem``
says why); ``filters`` the sidebar's :class:`~napari_picasso.server.common.Filters` or None.
"""
