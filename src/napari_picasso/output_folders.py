"""Where a front end writes each movie's outputs: beside the movie, unless a folder was
chosen for that movie, or for all movies.

The Localize dock keeps one :class:`OutputFolders`: a folder typed for one movie never
redirects the outputs of the next one (only "use for all movies" does).
"""


def movie_key(path=None, choices=None, name=None):
    """The key of a movie: its file and reader choices, else (a layer without a file) its name.

    Examples
    --------
    >>> movie_key("/data/run1.nd2", {"channel": "Cy5"})
    "file:/data/run1.nd2 {'channel': 'Cy5'}"
    >>> movie_key(name="stack")
    'layer:stack'
    """
    if path is not None:
        return f"file:{path} {dict(sorted((choices or {}).items()))}" if choices else f"file:{path}"
    return f"layer:{name}"


class OutputFolders:
    """The folders chosen for movies, and the one chosen for all of them.

    Examples
    --------
    >>> folders = OutputFolders()
    >>> folders.choose("file:/data/a.tif", "/results")
    >>> folders.folder_for("file:/data/a.tif"), folders.folder_for("file:/data/b.tif")
    ('/results', None)
    >>> folders.choose("file:/data/a.tif", "/all", all_movies=True)
    >>> folders.folder_for("file:/data/b.tif")
    '/all'
    """

    def __init__(self, all_movies=None):
        self.chosen = {}
        self.all_movies = all_movies or None

    def choose(self, key, folder, *, all_movies=False):
        """``folder`` (None or "": beside the movie) for the movie ``key``, or for every
        movie when ``all_movies``."""
        folder = str(folder) if folder not in (None, "", ".") else None
        if all_movies:
            self.all_movies = folder
            self.chosen.pop(key, None)
        elif folder is None:
            self.chosen.pop(key, None)
        else:
            self.chosen[key] = folder

    def folder_for(self, key):
        """The folder for movie ``key``: the one for all movies, else its own, else None
        (beside the movie)."""
        return self.all_movies or self.chosen.get(key)
