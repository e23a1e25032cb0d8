"""The experiment database in a web browser (``napari-picasso server``, Streamlit).

Pages: Status, History, Compare, Preview, Watchers (:mod:`.panels`). Every query,
metric, plot and render is a :mod:`napari_picasso.db` / :mod:`napari_picasso.plots` /
:mod:`napari_picasso.core.render` function shared with the napari explorer; this package
only lays them out. The database is opened read-only on every page; the Status page's
"add" writes the database, and the Watchers page starts and stops ``napari-picasso watch``
processes (which write their outputs and logs): the server writes nothing else.

``napari-picasso server`` hands its settings to the app in environment variables (below).

Importing this package does not import Streamlit (an optional extra:
``pip install -e ".[server]"`` in a clone).
"""

from pathlib import Path

APP_PATH = Path(__file__).with_name("app.py")
"""The Streamlit script (``streamlit run`` / ``AppTest.from_file``)."""

WATCHER_LOGS_ENV = "NAPARI_PICASSO_WATCHER_LOGS"
"""Extra folders (``os.pathsep``-separated) where the Watchers page looks for watcher logs."""

TOKEN_ENV = "NAPARI_PICASSO_TOKEN"
"""The token every browser tab must give before it sees the database (unset or empty: none)."""

DATA_ROOTS_ENV = "NAPARI_PICASSO_DATA_ROOTS"
"""The folders (``os.pathsep``-separated, ``--data-root``) that paths typed into the pages must lie in."""

NETWORK_ENV = "NAPARI_PICASSO_SERVER_NETWORK"
"""``1`` when the server listens on the network (``--network``)."""

PAGES = ("Status", "History", "Compare", "Preview", "Watchers")

__all__ = ["APP_PATH", "DATA_ROOTS_ENV", "NETWORK_ENV", "PAGES", "TOKEN_ENV", "WATCHER_LOGS_ENV"]
