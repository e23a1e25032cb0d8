"""Compare: localizations per frame and histograms of one field for the files of one movie (a family)."""

from pathlib import Path

import streamlit as st

from ... import db as database
from ... import plots
from ...io.errors import InputFileError
from .. import common


def _family_label(family):
    path = Path(family)
    return f"{path.name}  ({path.parent})"


def render(db, path, filters, problem):
    st.title("Compare")
    if db is None:
        common.no_database(path, problem)
        return
    # The filters as they are: group "" means "(no group)", not "all groups".
    families = database.families(db, **filters.query())
    if not families:
        st.info("No files match the filter.")
        return
    names = [f for f, _ in families]
    counts = dict(families)
    family = st.selectbox(
        "Movie (files of one acquisition)",
        names,
        key="compare_family",
        format_func=lambda f: f"{_family_label(f)} · {counts[f]} file(s)",
    )
    rows = database.family_rows(db, family, **filters.query())
    rows, gone = common.with_live_status(rows)
    chosen = st.multiselect(
        "Files", [r["filename"] for r in rows], default=[r["filename"] for r in rows], key=f"compare_files:{family}"
    )
    selected = [r for r in rows if r["filename"] in chosen]
    for row in selected:
        if row["id"] in gone:
            st.warning(f"`{row['locs_path']}` is missing (moved or deleted); it is left out.")
    present = [(r, common.file_key(r["locs_path"])) for r in selected if r["id"] not in gone]
    present = [(r, key) for r, key in present if key is not None]
    if not present:
        st.info("No file to compare.")
        return
    try:
        options = common.histogram_fields(present[0][1])
    except InputFileError as error:
        st.error(str(error))
        return
    field = st.selectbox("Histogram of", options, key="compare_field")

    bar = st.progress(0.0, text="reading localizations")
    series, labels, keys = [], [], []
    for i, (row, key) in enumerate(present, 1):
        try:
            series.append(
                common.locs_per_frame(
                    key, progress=common.progress_callback(bar, f"frames of {row['filename']} ({i}/{len(present)})")
                )
            )
        except InputFileError as error:
            st.error(str(error))
            continue
        labels.append(row["filename"])
        keys.append(key)
    histograms = None
    if keys:
        names_by_path = {k[0]: r["filename"] for r, k in present}

        def progress(file, done, total):
            bar.progress(
                min(1.0, done / total) if total else 1.0,
                text=f"{field} of {names_by_path.get(str(file), file)}: {done:,} of {total:,} localizations",
            )

        try:
            histograms = common.field_histograms(tuple(keys), field, progress=progress)
        except InputFileError as error:
            st.error(str(error))
    bar.empty()

    fig, ax = common.figure()
    plots.draw_locs_per_frame(ax, series, labels)
    st.pyplot(fig)
    fig, ax = common.figure()
    plots.draw_histograms(ax, histograms or {"edges": [], "density": []}, labels if histograms else [], field)
    st.pyplot(fig)
