"""Preview: the super-resolution image of one file, rendered on the server (core.render via db.compare)."""

import streamlit as st

from ... import db as database
from ... import plots
from ...db import views
from ...db.compare import MAX_PREVIEW_SIDE_PX
from ...io.errors import InputFileError
from .. import common

OVERSAMPLING = (2, 4, 5, 8, 10, 16)
SHOWN_FIGURES = ("n_locs", "frames", "locs_per_frame", "nena_nm", "mean_photons", "mean_lpx")


def render(db, path, filters, problem):
    st.title("Preview")
    if db is None:
        common.no_database(path, problem)
        return
    rows = database.query_rows(db, status="ok", **filters.query())
    rows, gone = common.with_live_status(rows)
    if not rows:
        st.info("No files match the filter.")
        return
    by_id = {r["id"]: r for r in rows}
    row_id = st.selectbox(
        "File",
        list(by_id),
        key="preview_file",
        format_func=lambda i: f"{by_id[i]['filename']} (#{i}, {by_id[i]['locs_path']})",
    )
    oversampling = st.select_slider("Output pixels per camera pixel", OVERSAMPLING, value=5, key="preview_oversampling")
    row = by_id[row_id]
    figures = {name: views.format_value(row.get(name)) for name in SHOWN_FIGURES if row.get(name) is not None}
    if figures:
        st.caption(" · ".join(f"{name} {value}" for name, value in figures.items()))
    key = common.file_key(row["locs_path"]) if row_id not in gone else None
    if key is None:
        st.error(
            f"`{row['locs_path']}` is missing (moved or deleted): nothing to render. "
            "Add it again from its new place on the Status page."
        )
        return
    bar = st.progress(0.0, text="reading localizations")
    try:
        with st.spinner("rendering"):
            data = common.preview_data(
                key, float(oversampling), progress=common.progress_callback(bar, f"reading {row['filename']}")
            )
    except InputFileError as error:
        bar.empty()
        st.error(str(error))
        return
    bar.empty()
    image = data["image"]
    used = data["oversampling"]
    if used < oversampling:
        width_px, height_px = data["width_px"], data["height_px"]
        st.warning(
            f"Rendered with {used:.3g} instead of {oversampling} output pixels per camera pixel: "
            f"at {oversampling} the {width_px}×{height_px} px camera frame would make an image of "
            f"{round(width_px * oversampling)}×{round(height_px * oversampling)} px; "
            f"a preview has at most {MAX_PREVIEW_SIDE_PX} px a side."
        )
    pixel_nm = data["pixelsize_nm"]
    scale = f", {pixel_nm / used:.3g} nm per output pixel" if pixel_nm else ""
    st.image(
        plots.colorize(image),
        output_format="PNG",
        caption=f"{data['n_locs']:,} localizations, Gaussian render, {image.shape[1]}×{image.shape[0]} px{scale}",
    )
