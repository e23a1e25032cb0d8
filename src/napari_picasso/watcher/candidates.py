"""Which paths in a watched folder are movies, and when has a movie stopped changing.

A *candidate* is what the pipeline opens with :func:`~napari_picasso.io.movies.open_movie`:
a movie file, the first file of a Micro-Manager rollover series
(``X_MMStack_Pos0.ome.tif`` with ``X_MMStack_Pos0_1.ome.tif``, ``_2`` ...) or an NDTiff
dataset folder. Its *members* are the files whose sizes and modification times decide
whether it is still being written: the movie and its ``.yaml`` for ``.raw``, every file of
a rollover series, every file of an NDTiff dataset. Detection is by name and structure
only; opening is left to the readers behind ``open_movie``.
"""

import dataclasses
import os
import re
from pathlib import Path

from ..io.walk import walk_files, walk_folders

MOVIE_SUFFIXES = (".raw", ".tif", ".tiff", ".ims", ".nd2")
NDTIFF_INDEX = "NDTiff.index"
# Micro-Manager names: <prefix>_MMStack[_<position>].ome.tif, rollover files add _<n>.
_MM_CONTINUATION = re.compile(r"^(?P<base>.+_MMStack.*)_(?P<index>\d+)(?P<ext>\.ome\.tiff?)$", re.IGNORECASE)
# Outputs of napari-picasso (and Picasso) that share a movie suffix must never be re-localized.
OUTPUT_MARKERS = ("_locs",)
# Partial outputs the pipeline leaves only when killed; removed when a watcher starts.
PARTIAL_OUTPUT_ENDINGS = ("_locs.hdf5.part", "_locs.yaml.part")

KINDS = ("file", "mmstack", "ndtiff")


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A movie found in a watched folder.

    Attributes
    ----------
    path : pathlib.Path
        What ``open_movie`` opens (the movie file, the series' first file, the dataset folder).
    kind : str
        ``"file"``, ``"mmstack"`` (rollover series) or ``"ndtiff"`` (dataset folder).
    """

    path: Path
    kind: str = "file"

    def members(self):
        """The files that make up the movie (existing ones), sorted."""
        if self.kind == "ndtiff":
            return sorted(Path(entry.path) for entry in walk_files(self.path))
        if self.kind == "mmstack":
            return [self.path] + series_continuations(self.path)
        members = [self.path]
        if self.path.suffix.lower() == ".raw":
            sidecar = self.path.with_suffix(".yaml")
            if sidecar.exists():
                members.append(sidecar)
        return members

    def signature(self):
        """``((name, size, mtime_ns), ...)`` of the members; None when the movie is gone.

        Two equal signatures taken some time apart mean nothing was written in between.
        """
        if not self.path.exists():
            return None
        entries = []
        for member in self.members():
            try:
                stat = member.stat()
            except OSError:  # deleted between listing and stat: the movie is changing
                return ("changing", member.name)
            entries.append((member.name, stat.st_size, stat.st_mtime_ns))
        return tuple(entries)


def is_movie_name(name):
    """True for names with a movie ending that are not napari-picasso outputs or temp files."""
    lower = name.lower()
    if not lower.endswith(MOVIE_SUFFIXES):
        return False
    if name.startswith((".", "~")):
        return False
    return not any(marker in name for marker in OUTPUT_MARKERS)


def is_ndtiff_dataset(path):
    """A folder holding an NDTiff dataset (its ``NDTiff.index``)."""
    return (Path(path) / NDTIFF_INDEX).is_file()


def series_continuations(first):
    """The rollover files ``<stem>_1.ome.tif``, ``_2`` ... beside a series' first file, in order."""
    first = Path(first)
    found = []
    try:
        names = os.listdir(first.parent)
    except OSError:
        return found
    for name in names:
        match = _MM_CONTINUATION.match(name)
        if match and match["base"] + match["ext"] == first.name:
            found.append((int(match["index"]), first.parent / name))
    return [path for _, path in sorted(found)]


def classify(path):
    """The :class:`Candidate` that ``path`` belongs to, or None when it is no movie.

    A rollover file belongs to its series' first file (when that exists), a file inside an
    NDTiff dataset (or named ``*_NDTiffStack*``) to the dataset folder.
    """
    path = Path(path)
    if path.is_dir():
        return Candidate(path, "ndtiff") if is_ndtiff_dataset(path) else None
    parent = path.parent
    if path.name == NDTIFF_INDEX or is_ndtiff_dataset(parent) or "_NDTiffStack" in path.name:
        return Candidate(parent, "ndtiff")
    if not is_movie_name(path.name):
        return None
    match = _MM_CONTINUATION.match(path.name)
    if match:
        first = parent / (match["base"] + match["ext"])
        if first.exists():
            return Candidate(first, "mmstack")
    if "_MMStack" in path.name:
        return Candidate(path, "mmstack")
    return Candidate(path, "file")


def scan(folder, recursive=False):
    """Every candidate in ``folder`` (and its sub-folders when ``recursive``), unique.

    Sub-folders are walked once per real folder and without recursion
    (:func:`~napari_picasso.io.walk.walk_folders`): a link back up the tree or a very
    deep tree finds each movie once.
    """
    seen = set()
    found = []

    def descend(path):  # a dataset folder is one movie, not a tree to walk
        return not _is_dataset(path)

    for _, entries in walk_folders(folder, descend=descend, recursive=recursive):
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                candidate = Candidate(path, "ndtiff") if _is_dataset(path) else None
            else:
                candidate = classify(path)
            if candidate is not None and candidate not in seen:
                seen.add(candidate)
                found.append(candidate)
    return found


def _is_dataset(path):
    return is_ndtiff_dataset(path) or any("_NDTiffStack" in n for n in _names(path))


def _names(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []


def partial_outputs(folder, recursive=False):
    """Partial ``_locs`` files left by a killed run in ``folder``."""
    return sorted(
        Path(entry.path)
        for entry in walk_files(folder, recursive=recursive)
        if entry.name.endswith(PARTIAL_OUTPUT_ENDINGS)
    )
