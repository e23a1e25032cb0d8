"""The Streamlit script of ``napari-picasso server``: sidebar navigation and filters, one panel per page.

The page is in the URL (``?page=History``), so a link to a page can be shared. The database
file is ``$NAPARI_PICASSO_DB`` (set by the command's ``--db``), opened read-only for each run
of the script and closed at its end.
"""

import streamlit as st

from napari_picasso.server import PAGES
from napari_picasso.server.common import database_path, open_readonly, sidebar_filters
from napari_picasso.server.panels import compare, history, preview, status, watchers

RENDERERS = {
    "Status": status.render,
    "History": history.render,
    "Compare": compare.render,
    "Preview": preview.render,
    "Watchers": watchers.render,
}

st.set_page_config(page_title="napari-picasso", page_icon=":microscope:", layout="wide")

requested = st.query_params.get("page", PAGES[0])
if "page" not in st.session_state:
    st.session_state["page"] = requested if requested in PAGES else PAGES[0]
page = st.sidebar.radio("Page", PAGES, key="page")
if st.query_params.get("page") != page:
    st.query_params["page"] = page

path = database_path()
st.sidebar.caption(f"Database: `{path}`")
db, problem = open_readonly(path)
try:
    filters = sidebar_filters(db) if page in ("History", "Compare", "Preview") else None
    RENDERERS[page](db, path, filters, problem)
finally:
    if db is not None:
        db.close()
