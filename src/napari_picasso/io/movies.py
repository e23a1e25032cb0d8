"""Which reader opens a path: the movie formats, in the order they are tried.

:func:`open_movie` returns a :class:`~napari_picasso.io.movie.Movie` from the first
reader in :data:`OPENERS` that accepts the path. The list is explicit (no registration on
import), so the format modules never import this one.
"""

import os
from pathlib import Path

from . import ims, nd2, ndtiff, raw, tiff
from .errors import InputFileError
from .movie import Movie

# (accepts(path), open(path, **choices)), first match wins. An NDTiff stack file is also a
# TIFF file, so NDTiff is tried before TIFF; a folder is only ever an NDTiff dataset.
OPENERS = [
    (nd2.is_nd2, nd2.ND2Movie),
    (ims.is_ims, ims.ImsMovie),
    (ndtiff.is_ndtiff, ndtiff.NDTiffMovie),
    (tiff.is_tiff, tiff.TiffMovie),
    (raw.is_raw, raw.open_raw),
]


def open_movie(path: str | os.PathLike, **choices) -> Movie:
    """Open a movie lazily.

    Parameters
    ----------
    path : str or os.PathLike
        Movie file (``.raw`` with its ``.yaml``, ``.tif``/``.tiff``/``.ome.tif`` ...),
        or a dataset folder where the format has one.
    **choices
        Format-specific choices for files holding more than one movie (e.g.
        ``position=``, ``channel=``).

    Returns
    -------
    Movie

    Raises
    ------
    InputFileError
        The file is missing, of an unknown kind, or unreadable; the message names the file
        and what is wrong.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "no such file or folder.")
    for accepts, opener in OPENERS:
        if accepts(path):
            return opener(path, **choices)
    raise InputFileError(
        path,
        "is not a movie format napari-picasso reads.",
        fix="use .raw (+ .yaml), .tif/.tiff/.ome.tif, NDTiff, .ims or .nd2.",
    )
