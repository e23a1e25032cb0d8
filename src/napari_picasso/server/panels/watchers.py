"""Watchers: the watchers of this database (running or stopped) read from their log files, and recorded failures."""

import os

import pandas as pd
import streamlit as st

from ... import db as database
from ...watcher.status import log_folders as status_log_folders
from ...watcher.status import watchers_of
from .. import WATCHER_LOGS_ENV


def log_folders(db):
    """Where watcher logs may be: ``$NAPARI_PICASSO_WATCHER_LOGS`` (``--watcher-logs``), and the
    folders of recorded movies and outputs with their parents (:func:`watcher.status.log_folders`)."""
    return status_log_folders(db, [f for f in os.environ.get(WATCHER_LOGS_ENV, "").split(os.pathsep) if f])


def render(db, path, filters, problem):
    st.title("Watchers")
    st.button("Refresh", key="watchers_refresh")
    own, others = watchers_of(path, log_folders(db))
    if others and st.checkbox(f"Also show {len(others)} watcher(s) of other databases", key="watchers_all"):
        own += others
    if not own:
        st.info(
            "No watcher logs found for this database. Watchers write `watcher-<time>.log` into the first "
            "folder they watch; start the server with `--watcher-logs FOLDER` for logs kept elsewhere."
        )
    else:
        running = sum(s["running"] for s in own)
        gone = sum(s["state"] == "stopped (process gone)" for s in own)
        st.caption(
            f"{running} running, {len(own) - running} stopped"
            + (f" ({gone} killed: process gone)" if gone else "")
            + ". A watcher's process is checked on this host; one on another host cannot be."
        )
        table = pd.DataFrame(
            [
                {
                    "state": s["state"],
                    "process": f"{s['pid']} on {s['host']}" if s["pid"] is not None else "",
                    "folders": s["name"],
                    "started": s["started"],
                    "last event": s["last_event"],
                    "at": s["last_time"],
                    "finished": s["finished"],
                    "failed": s["failed"],
                    "log": s["log"],
                }
                for s in own
            ]
        )
        st.dataframe(table, hide_index=True, key="watchers_table")
        chosen = st.selectbox("Log", [s["log"] for s in own], key="watchers_log")
        state = next(s for s in own if s["log"] == chosen)
        if state["error"]:
            st.error(f"`{chosen}`: {state['error']}")
        else:
            st.caption(f"last {len(state['events'])} events of `{chosen}`")
            st.dataframe(
                pd.DataFrame(state["events"], columns=["time", "event", "path", "message"]),
                hide_index=True,
                key="watchers_events",
            )

    st.subheader("Failures recorded in the database")
    if db is None:
        st.info(f"No database yet: {problem}")
        return
    failed = database.query_rows(db, status="failed", columns=["filename", "movie_path", "reason", "entered"])
    if failed:
        st.dataframe(pd.DataFrame(failed), hide_index=True, key="watchers_failed")
    else:
        st.caption("none")
