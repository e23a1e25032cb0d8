"""Files: movie readers, localization files and camera configuration.

Every movie reader returns a :class:`~napari_picasso.io.movie.Movie`: a lazy
``(frames, height, width)`` array-like of camera counts plus a metadata dictionary.
"""

from .errors import AxisChoiceError, InputFileError, ParameterError
from .movie import Movie
from .movies import open_movie

__all__ = ["AxisChoiceError", "InputFileError", "ParameterError", "Movie", "open_movie"]
