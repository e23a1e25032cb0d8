"""Watchers: start a watcher on server folders, the watchers of this database (Stop, log), recorded failures.

A watcher started here is a ``napari-picasso watch`` process of its own
(:mod:`napari_picasso.watcher.detached`): it keeps running when the browser closes or the
server stops. Its log, parameter groups and stderr go into a folder beside the database
(:func:`watchers_folder`), where the page finds it again after a server restart. Watchers
are listed from their logs (:mod:`napari_picasso.watcher.status`), wherever they were started.
"""

import os

import pandas as pd
import streamlit as st

from ... import db as database
from ...io.errors import InputFileError
from ...watcher.detached import (
    WatcherNotStoppable,
    check_groups,
    reap_finished,
    start_watcher_process,
    stderr_tail,
    stop_watcher_process,
)
from ...watcher.followup import check_command
from ...watcher.status import host_name, watchers_of
from ...watcher.status import log_folders as status_log_folders
from .. import DATA_ROOTS_ENV, NETWORK_ENV, TOKEN_ENV, WATCHER_LOGS_ENV, common
from ..access import PathRefused, resolve_typed_path

MAX_ROWS = 20
"""Watchers shown with Stop and their log (running ones first, then the newest); the table lists all."""

GROUPS_EXAMPLE = (
    "- {box: 7, gradient: 5000, fit: mle, baseline: 100, sensitivity: 0.5}\n- {box: 9, gradient: 3000, fit: lq}"
)


def watchers_folder(db_path):
    """Where watchers started from the browser keep their logs: ``<database name>-watchers`` beside it."""
    return db_path.parent / f"{db_path.stem}-watchers"


def log_folders(db, db_path):
    """Where watcher logs may be: the browser's own watchers folder, ``$NAPARI_PICASSO_WATCHER_LOGS``
    (``--watcher-logs``), and the folders of recorded movies and outputs with their parents
    (:func:`watcher.status.log_folders`)."""
    extra = [watchers_folder(db_path)] + [f for f in os.environ.get(WATCHER_LOGS_ENV, "").split(os.pathsep) if f]
    return status_log_folders(db, extra)


def _lines(text):
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _watcher_environment():
    # The watcher needs none of the server's settings (its token least of all).
    return {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, DATA_ROOTS_ENV, NETWORK_ENV)}


def check_form(folders_text, groups_text, commands_text, roots, db_path):
    """``(folders, commands, problems)`` of the form: each problem names its field."""
    folders, problems = [], []
    for line in _lines(folders_text):
        try:
            folder = resolve_typed_path(line, roots)
        except PathRefused as refused:
            problems.append(f"Folders: {refused}")
            continue
        if not folder.is_dir():
            problems.append(f"Folders: `{line}`: not a folder.")
            continue
        folders.append(folder)
    if not folders and not problems:
        problems.append("Folders: type at least one folder on the server.")
    try:
        check_groups(
            groups_text,
            source="Parameter groups",
            check_path=lambda value: resolve_typed_path(value, roots),
            folder=watchers_folder(db_path),
        )
    except InputFileError as error:
        problems.append(str(error))
    commands = _lines(commands_text)
    for number, command in enumerate(commands, 1):
        try:
            check_command(command)
        except ValueError as error:
            problems.append(f"Commands, line {number}: {error}")
    return list(dict.fromkeys(folders)), commands, problems


def _start_form(db_path):
    st.subheader("Start a watcher")
    roots = common.data_roots()
    if common.on_network() and not roots:
        st.info(
            "Starting watchers from the browser is off: this server listens on the network "
            "(`--network`) and was given no data folder. To turn it on, restart it with "
            "`--data-root FOLDER` (repeatable), e.g. `napari-picasso server --network --data-root /lab/data`: "
            "watchers may then watch folders below those."
        )
        return
    report = st.session_state.pop("watcher_started", None)
    if report is not None:
        st.success(report)
    st.caption(
        "Localizes every movie that appears in the folders (server paths, one per line) with each "
        "parameter group, records it in this database and runs the commands on each output. "
        "It keeps running when this page is closed; stop it below."
        + (f" Folders must lie in {', '.join(f'`{r}`' for r in roots)}." if roots else "")
    )
    with st.form("watcher_form"):
        folders_text = st.text_area("Folders", key="watcher_folders", height=80, placeholder="/lab/data/2026-11-22")
        groups_text = st.text_area(
            "Parameter groups (YAML)",
            key="watcher_groups",
            height=110,
            placeholder=GROUPS_EXAMPLE,
            help="A list of option mappings, as in a watcher's groups.yaml: the localize command's long "
            "option names. One output per group (`_pg_<n>_locs.hdf5` with several). Empty: the localize defaults.",
        )
        commands_text = st.text_area(
            "Commands (optional)",
            key="watcher_commands",
            height=68,
            placeholder="napari-picasso undrift $FILENAME",
            help="Run in order after each output, one per line, without a shell: "
            "$FILENAME is the output _locs.hdf5, $MOVIE the movie.",
        )
        left, right = st.columns(2)
        settle = left.number_input(
            "Settle seconds",
            min_value=0.0,
            value=5.0,
            step=1.0,
            key="watcher_settle",
            help="A movie starts once its files have not changed for this long.",
        )
        recursive = right.checkbox("Recursive", key="watcher_recursive", help="Also watch sub-folders.")
        submitted = st.form_submit_button("Start watcher")
    if not submitted:
        return
    folders, commands, problems = check_form(folders_text, groups_text, commands_text, roots, db_path)
    for problem in problems:
        st.error(problem)
    if problems:
        return
    try:
        with st.spinner("starting the watcher"):
            started = start_watcher_process(
                folders,
                db_path=db_path,
                log_folder=watchers_folder(db_path),
                groups_text=groups_text,
                commands=commands,
                settle_seconds=settle,
                recursive=recursive,
                check_path=lambda v: resolve_typed_path(v, roots),
                environ=_watcher_environment(),
            )
    except (InputFileError, ValueError) as error:
        st.error(str(error))
        return
    except Exception as error:  # e.g. the watchers folder cannot be written
        common.show_failure("Starting the watcher", error)
        return
    if started.problem is not None:
        st.error(f"The watcher did not start: {started.problem} (its log: `{started.log}`).")
        return
    if not started.watching:
        st.warning(f"Watcher started (process {started.pid}); its log does not say it is watching yet. Refresh soon.")
        return
    st.session_state["watcher_started"] = f"Watcher started: process {started.pid}, log `{started.log}`."
    st.rerun()  # lists it below


def _stop(state):
    try:
        ended = stop_watcher_process(state)
    except WatcherNotStoppable as refused:
        st.session_state["watcher_stopped"] = ("error", f"Cannot stop the watcher of {state['name']}: {refused}")
    else:
        st.session_state["watcher_stopped"] = (
            ("success", f"Stopped the watcher of {state['name']}.")
            if ended
            else ("warning", f"Asked the watcher of {state['name']} to stop; it is still ending. Refresh soon.")
        )
    st.rerun()


def _watcher_row(state):
    log = state["log"]
    with st.container(border=True):
        text, action = st.columns([6, 1])
        text.markdown(
            f"**{state['name'] or log}** · {state['state']} · {state['finished']} finished, {state['failed']} failed"
        )
        process = f"process {state['pid']} on {state['host']} · " if state["pid"] is not None else ""
        text.caption(f"{process}started {state['started'] or '?'} · last: {state['last_event'] or '-'} · log `{log}`")
        if state["running"] and state["pid"] is not None and state["host"] == host_name():
            if action.button("Stop", key=f"watcher_stop:{log}"):
                _stop(state)
        with st.expander("Log"):
            if state["error"]:
                st.error(f"`{log}`: {state['error']}")
            else:
                st.caption(f"last {len(state['events'])} events")
                st.dataframe(
                    pd.DataFrame(state["events"], columns=["time", "event", "path", "message"]),
                    hide_index=True,
                    key=f"watcher_events:{log}",
                )
            printed = stderr_tail(log)
            if printed:
                st.caption(f"its process printed: {printed}")


def _watchers(db, db_path):
    st.subheader("Watchers of this database")
    stopped = st.session_state.pop("watcher_stopped", None)
    if stopped is not None:
        getattr(st, stopped[0])(stopped[1])
    reap_finished()
    own, others = watchers_of(db_path, log_folders(db, db_path))
    if others and st.checkbox(f"Also show {len(others)} watcher(s) of other databases", key="watchers_all"):
        own += others
    if not own:
        st.info(
            "No watcher logs found for this database. Watchers write `watcher-<time>.log` into the first "
            "folder they watch (those started here: beside the database); start the server with "
            "`--watcher-logs FOLDER` for logs kept elsewhere."
        )
        return
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
    shown = sorted(own, key=lambda s: not s["running"])[:MAX_ROWS]  # stable: newest first within each
    for state in shown:
        _watcher_row(state)
    if len(own) > len(shown):
        st.caption(f"{len(own) - len(shown)} older stopped watcher(s) are in the table only.")


def render(db, path, filters, problem):
    st.title("Watchers")
    st.button("Refresh", key="watchers_refresh")
    _start_form(path)
    _watchers(db, path)
    st.subheader("Failures recorded in the database")
    if db is None:
        st.info(f"No database yet: {problem}")
        return
    failed = database.query_rows(db, status="failed", columns=["filename", "movie_path", "reason", "entered"])
    if failed:
        st.dataframe(pd.DataFrame(failed), hide_index=True, key="watchers_failed")
    else:
        st.caption("none")
