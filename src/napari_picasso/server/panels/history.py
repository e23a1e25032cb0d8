"""History: the filtered rows as a table with bars, a scatter of two columns with its trend, daily boxes."""

import pandas as pd
import streamlit as st

from ... import db as database
from ... import plots
from ...db import views
from ..common import figure, no_database, with_live_status

# Preferred plot axes when the database has them (else the first numeric column).
SCATTER_X = ("file_created", "locs_per_frame")
SCATTER_Y = ("nena_nm", "mean_lpx")


def _first(preferred, available):
    return next((c for c in preferred if c in available), available[0] if available else None)


def table_frame(rows, columns):
    """Rows as a DataFrame and the column settings: a bar in every numeric cell, relative to its column's maximum."""
    bar_columns = [
        c
        for c in columns
        if c != "id"
        and c not in views.TIME_COLUMNS
        and any(views.is_number(r.get(c)) for r in rows)
        and all(r.get(c) is None or views.is_number(r.get(c)) for r in rows)
    ]
    maxima = views.column_maxima(rows, bar_columns)
    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
    for column in views.TIME_COLUMNS:
        if column in frame:
            frame[column] = [views.format_time(v) for v in frame[column]]
    config = {}
    for column in bar_columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
        # Counts in full (39459, not 3.946e+04 or 39,460); other figures to 4 digits.
        number_format = "%d" if views.is_whole_column(rows, column) else "%.4g"
        config[column] = st.column_config.ProgressColumn(
            column, min_value=0.0, max_value=maxima.get(column) or 1.0, format=number_format
        )
    return frame, config


def render(db, path, filters, problem):
    st.title("History")
    if db is None:
        no_database(path, problem)
        return
    rows = database.query_rows(db, **filters.query())
    rows, gone = with_live_status(rows)
    total = database.summary(db)["rows"]
    st.caption(f"{len(rows)} of {total} files shown (newest first)")
    if rows:
        st.markdown(f"Latest: **{rows[0]['filename']}**")
    if gone:
        names = [r["filename"] for r in rows if r["id"] in gone]
        st.warning(f"{len(gone)} file(s) shown are missing (moved or deleted): " + ", ".join(names[:10]))

    table, scatter, boxes = st.tabs(["Table", "Scatter", "Box"])
    columns = database.display_columns(db)
    with table:
        frame, config = table_frame(rows, columns)
        st.dataframe(frame, column_config=config, hide_index=True, key="history_table")
        st.download_button(
            "Download CSV",
            views.rows_to_csv(rows, columns),
            file_name="napari-picasso-history.csv",
            mime="text/csv",
            key="history_csv",
            on_click="ignore",
        )
    with scatter:
        axes = database.numeric_columns(db, with_time=True)
        if not axes:
            st.info("No numeric columns yet.")
        else:
            left, right = st.columns(2)
            x = left.selectbox("x", axes, index=axes.index(_first(SCATTER_X, axes)), key="scatter_x")
            y = right.selectbox("y", axes, index=axes.index(_first(SCATTER_Y, axes)), key="scatter_y")
            data = views.scatter_with_trend(rows, x, y)
            fig, ax = figure()
            plots.draw_scatter(ax, data, x, y)
            st.pyplot(fig)
            if data["slope"] is not None:
                st.caption(
                    f"{len(data['x'])} files · trend: slope {data['slope']:.4g}, "
                    f"intercept {data['intercept']:.4g}, r = {data['r']:.3f}"
                )
    with boxes:
        numeric = database.numeric_columns(db)
        if not numeric:
            st.info("No numeric columns yet.")
        else:
            metric = st.selectbox("metric", numeric, key="box_metric")
            fig, ax = figure()
            plots.draw_daily_boxes(ax, views.daily_values(rows, metric), metric)
            st.pyplot(fig)
