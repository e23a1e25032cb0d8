"""The experiment database in a web browser (``napari-picasso server``, Streamlit).

Pages: Status, History, Compare, Preview, Watchers (:mod:`.panels`). Every query,
metric, plot and render is a :mod:`napari_picasso.db` / :mod:`napari_picasso.plots` /
:mod:`napari_picasso.core.render` function shared with the napari explorer; this package
only lays them out. The database is opened read-only on every page; the Status page's
"add" is the one write, and it writes only the database.

Importing this package does not import Streamlit (an optional extra:
``pip install -e ".[server]"`` in a clone).
"""

from pathlib import Path

APP_PATH = Path(__file__).with_name("app.py")
"""The Streamlit script (``streamlit run`` / ``AppTest.from_file``)."""

WATCHER_LOGS_ENV = "NAPARI_PICASSO_WATCHER_LOGS"
"""Extra folders (``os.pathsep``-separated) where the Watchers page looks for watcher logs."""

PAGES = ("Status", "History", "Compare", "Preview", "Watchers")

__all__ = ["APP_PATH", "PAGES", "WATCHER_LOGS_ENV"]
