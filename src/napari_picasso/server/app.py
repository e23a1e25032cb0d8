"""The Streamlit script of ``napari-picasso server``: sidebar navigation and filters, one panel per page.

The page is in the URL (``?page=History``), so a link to a page can be shared. The database
file is ``$NAPARI_PICASSO_DB`` (set by the command's ``--db``), opened read-only for each run
of the script and closed at its end. With a token set (``$NAPARI_PICASSO_TOKEN``) nothing
else is drawn until the tab has given it (:mod:`.gate`). A page that fails shows one line
saying why; its traceback goes to the server's log, never to the browser.
"""

import streamlit as st

from napari_picasso.server import PAGES
from napari_picasso.server.common import database_path, open_readonly, show_failure, sidebar_filters
from napari_picasso.server.gate import unlocked
from napari_picasso.server.panels import compare, history, preview, status, watchers

RENDERERS = {
    "Status": status.render,
    "History": history.render,
    "Compare": compare.render,
    "Preview": preview.render,
    "Watchers": watchers.render,
}

st.set_page_config(page_title="napari-picasso", page_icon=":microscope:", layout="wide")
if not unlocked():
    st.stop()

requested = st.query_params.get("page", PAGES[0])
if "page" not in st.session_state:
    st.session_state["page"] = requested if requested in PAGES else PAGES[0]
page = st.sidebar.radio("Page", PAGES, key="page")
if st.query_params.get("page") != page:
    st.query_params["page"] = page

path = database_path()
st.sidebar.caption(f"Database: `{path}`")
db = None
try:
    db, problem = open_readonly(path)
    filters = sidebar_filters(db) if page in ("History", "Compare", "Preview") else None
    RENDERERS[page](db, path, filters, problem)
except Exception as error:  # st.rerun / st.stop are not Exceptions: they pass
    show_failure(f"The {page} page", error)
finally:
    if db is not None:
        db.close()
