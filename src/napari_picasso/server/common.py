"""What the pages share: the database file, read-only opening, sidebar filters, figures, cached reads.

Cached reads are keyed by the file's path, size and modification time, so a file rewritten
in place is read again and one read serves every browser looking at it.
"""

import collections
import dataclasses
import logging
import os
import sqlite3
import threading
from pathlib import Path

import streamlit as st
from matplotlib.figure import Figure

from .. import db as database
from ..db import compare
from ..io.errors import InputFileError, ParameterError
from . import DATA_ROOTS_ENV, NETWORK_ENV
from .access import data_roots_from

LOG = logging.getLogger("napari_picasso.server")
if not LOG.handlers:  # the server's terminal (or its service log) gets the tracebacks, never the browser
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    LOG.addHandler(_handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False

ALL_GROUPS = "All groups"
NO_GROUP = "(no group)"


def database_path():
    """The database file this server shows (``$NAPARI_PICASSO_DB``, set by ``--db``)."""
    return database.default_database_path().absolute()


def data_roots():
    """The folders typed paths must lie in (``--data-root``, resolved); empty: anywhere."""
    return data_roots_from(os.environ.get(DATA_ROOTS_ENV))


def on_network():
    """Whether the server listens on the network (``--network``)."""
    return os.environ.get(NETWORK_ENV) == "1"


def one_line(error):
    """An error as one line for the browser: the message of the errors users act on, else its type and first line."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    if isinstance(error, (InputFileError, ParameterError)) and text:
        return text
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def show_failure(what, error):
    """Log ``error`` with its traceback on the server and show the browser one line saying what failed."""
    LOG.error("%s failed", what, exc_info=error)
    st.error(f"{what} failed: {one_line(error)} (the details are in the server's log).")


def open_readonly(path):
    """``(db, None)`` opened read-only, or ``(None, reason)`` when there is no usable file yet."""
    try:
        db = database.open_database(path, readonly=True)
    except InputFileError as error:
        return None, str(error)
    try:
        version = database.schema_version(db)
    except sqlite3.DatabaseError as error:
        db.close()
        return None, f"{path}: is not a usable SQLite database ({error})."
    if version < database.SCHEMA_VERSION:
        # Read-only: no migration here; the Status page's "add" (a write) migrates it.
        db.close()
        return None, (
            f"{path}: has schema version {version}, this napari-picasso reads version "
            f"{database.SCHEMA_VERSION}; adding files (or 'napari-picasso db check') upgrades it."
        )
    return db, None


@dataclasses.dataclass
class Filters:
    """The sidebar's filters: text in the file's path, and a group (None: all, "": no group)."""

    text: str = ""
    group: str = None

    def query(self):
        return {"text": self.text or None, "group": self.group}


def sidebar_filters(db):
    """Filter widgets in the sidebar (kept across pages by their keys)."""
    st.sidebar.subheader("Filter")
    text = st.sidebar.text_input("File name or folder contains", key="filter_text")
    options = [ALL_GROUPS, NO_GROUP] + (database.groups(db) if db is not None else [])
    if st.session_state.get("filter_group") not in options:
        st.session_state["filter_group"] = ALL_GROUPS
    choice = st.sidebar.selectbox("Group", options, key="filter_group")
    group = None if choice == ALL_GROUPS else ("" if choice == NO_GROUP else choice)
    return Filters(text=text.strip(), group=group)


def no_database(path, problem):
    st.info(f"No database to show yet: {problem}\n\nAdd files on the **Status** page to create `{path}`.")


def figure(height=3.6, width=8.0):
    """A matplotlib Figure and Axes (no pyplot: no global state shared between sessions)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def with_live_status(rows):
    """Rows whose file is gone now show ``missing`` (the database is not written here)."""
    gone = set(database.missing_now(rows))
    for row in rows:
        if row.get("id") in gone:
            row["status"] = "missing"
            row["reason"] = "file not found (moved or deleted)"
    return rows, gone


def file_key(path):
    """``(path, size, mtime)`` identifying a file's contents for the caches; None if it is gone."""
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return (str(path), stat.st_size, stat.st_mtime)


def progress_callback(bar, label):
    """``progress(done, total)`` updating a Streamlit progress bar."""

    def progress(done, total):
        bar.progress(min(1.0, done / total) if total else 1.0, text=f"{label}: {done:,} of {total:,} localizations")

    return progress


class FileCache:
    """A small LRU of results keyed by file identity, shared by every session of the server.

    Not ``st.cache_data``: that replays the elements a cached function touched, and the
    progress bar it updates belongs to the page that asked first.
    """

    def __init__(self, size):
        self.size = size
        self._items = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, compute):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


@st.cache_resource
def _cache(name, size):
    return FileCache(size)


def locs_per_frame(key, progress=None):
    """:func:`~napari_picasso.db.compare.locs_per_frame` of a file (``key``: :func:`file_key`), cached."""
    return _cache("locs_per_frame", 32).get(key, lambda: compare.locs_per_frame(key[0], progress=progress))


def field_histograms(keys, field, progress=None):
    """:func:`~napari_picasso.db.compare.field_histograms` of files, cached."""
    return _cache("field_histograms", 32).get(
        (tuple(keys), field), lambda: compare.field_histograms([k[0] for k in keys], field, progress=progress)
    )


def histogram_fields(key):
    """:func:`~napari_picasso.db.compare.histogram_fields` of a file, cached."""
    return _cache("histogram_fields", 64).get(key, lambda: compare.histogram_fields(key[0]))


def preview_data(key, oversampling, progress=None):
    """:func:`~napari_picasso.db.compare.preview_data`'s image of a file, cached.

    Without the points: the browser shows the image only.
    """
    return _cache("preview_data", 4).get(
        (key, oversampling),
        lambda: compare.preview_data(key[0], oversampling=oversampling, progress=progress, with_points=False),
    )
