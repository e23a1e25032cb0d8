"""Status: the database file, its schema version and row counts; "add files or a folder" (a write of the database)."""

import streamlit as st

from ... import db as database
from ...io.errors import InputFileError
from .. import common
from ..access import PathRefused, resolve_typed_path


def resolve_paths(text, roots=()):
    """Typed paths (one per line) resolved: ``(paths, problems)``.

    Each must be absolute (after ``~``), exist and lie in ``roots`` (``--data-root``, when
    given); symbolic links and ``..`` are resolved first (:func:`~..access.resolve_typed_path`),
    so the rows name the real files and nothing leads out of the data folders.
    """
    paths, problems = [], []
    for line in text.splitlines():
        if not line.strip().strip('"').strip("'"):
            continue
        try:
            path = resolve_typed_path(line, roots)
        except PathRefused as refused:
            problems.append(str(refused))
            continue
        if path.is_file() and path.suffix.lower() != ".hdf5":
            problems.append(f"`{path}`: not a localization file (.hdf5).")
            continue
        paths.append(path)
    return paths, problems


def add(path, paths, group):
    """Open the database for writing (creating it if needed), add ``paths``, close it."""
    bar = st.progress(0.0, text="adding files")

    def progress(done, total):
        bar.progress(done / total if total else 1.0, text=f"adding files: {done} of {total}")

    db = database.open_database(path)
    try:
        return database.add_paths(db, paths, group=group or None, progress=progress)
    finally:
        db.close()
        bar.empty()


def render(db, path, filters, problem):
    st.title("Status")
    st.markdown(f"Database: `{path}`")
    report = st.session_state.pop("add_report", None)
    if report is not None:
        st.success(report[0])
        for message in report[1]:
            st.warning(message)
    if db is None:
        st.info(f"No database yet: {problem} Adding files below creates it.")
    else:
        summary = database.summary(db)
        columns = st.columns(5)
        columns[0].metric("Files", summary["rows"])
        columns[1].metric("OK", summary["ok"])
        columns[2].metric("Missing", summary["missing"])
        columns[3].metric("Failed", summary["failed"])
        columns[4].metric("Schema version", summary["schema_version"])
        st.caption(f"Created {summary['created'] or 'unknown'} · groups: {', '.join(summary['groups']) or 'none'}")
        ok_rows = database.query_rows(db, status="ok", columns=["id", "filename", "locs_path", "status"])
        gone = database.missing_now(ok_rows)
        if gone:
            names = [r["locs_path"] for r in ok_rows if r["id"] in set(gone)]
            st.warning(
                f"{len(gone)} file(s) were moved or deleted since they were recorded "
                f"(shown as missing): " + ", ".join(f"`{n}`" for n in names[:10]) + (" ..." if len(names) > 10 else "")
            )

    st.subheader("Add files or a folder")
    roots = common.data_roots()
    st.caption(
        "Paths on the server, one per line: `_locs.hdf5` files (ours or Picasso's) or folders "
        "(every `*_locs*.hdf5` below them). Only the database is written."
        + (f" Paths must lie in {', '.join(f'`{r}`' for r in roots)}." if roots else "")
    )
    with st.form("add_form", clear_on_submit=False):
        text = st.text_area("Paths", key="add_paths", height=100)
        group = st.text_input("Group (optional)", key="add_group")
        submitted = st.form_submit_button("Add")
    if submitted:
        paths, problems = resolve_paths(text, roots)
        for message in problems:
            st.error(message)
        if paths:
            try:
                result = add(path, paths, group.strip())
            except InputFileError as error:
                st.error(str(error))
                return
            except Exception as error:  # e.g. a read-only database, a tree too deep: one line, not a traceback
                common.show_failure("Adding", error)
                return
            # Shown after the rerun that re-reads the counts above.
            st.session_state["add_report"] = (
                f"{len(result.added)} file(s) added, {len(result.unchanged)} unchanged, {len(result.skipped)} skipped.",
                [f"skipped `{skipped}`: {reason}" for skipped, reason in result.skipped] + problems,
            )
            st.rerun()
        elif not problems:
            st.error("Type at least one path.")
