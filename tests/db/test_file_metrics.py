"""Metrics of a file read blockwise equal those of the loaded table, at a fraction of the memory.

The subset threshold is a parameter (``max_locs``): a file "just over the threshold" is
made small (60,000 rows over a 50,000 threshold) so the test is fast; the code path is the
one a 10-million-row file takes over the 1,000,000 default.
"""

import math
import tracemalloc

import numpy as np
import pytest

from napari_picasso import fitters
from napari_picasso.core.quality import (
    FieldStatistics,
    field_statistics,
    metrics_subset,
    quality_metrics,
    subset_ranges,
)
from napari_picasso.db import open_database, query_rows, record_localization
from napari_picasso.db.file_metrics import count_locs, file_quality_metrics
from napari_picasso.io.errors import InputFileError
from napari_picasso.io.locs import load_locs, save_locs

SIZE, N_FRAMES, PIXELSIZE_NM = 64, 3000, 130.0


def table(n, seed=0, sort=True):
    """Localizations of 300 sites blinking over ``N_FRAMES`` frames with a slow drift."""
    rng = np.random.default_rng(seed)
    locs = np.zeros(n, dtype=fitters.get("mle").dtype)
    frame = rng.integers(0, N_FRAMES, n)
    locs["frame"] = np.sort(frame) if sort else frame
    sites = rng.uniform(4, SIZE - 4, (300, 2))
    pick = rng.integers(0, len(sites), n)
    drift = 0.3 * np.sin(locs["frame"] / N_FRAMES * 2 * np.pi)
    locs["x"] = sites[pick, 0] + drift + rng.normal(0, 0.08, n)
    locs["y"] = sites[pick, 1] + rng.normal(0, 0.08, n)
    locs["photons"] = rng.gamma(5, 300, n)
    locs["sx"] = locs["sy"] = rng.normal(1.0, 0.05, n)
    locs["bg"] = rng.normal(50, 5, n)
    locs["lpx"] = locs["lpy"] = 0.08
    locs["net_gradient"] = rng.gamma(5, 1000, n)
    locs["iterations"] = rng.integers(3, 9, n)
    locs["photons"][::997] = np.nan  # non-finite values are skipped by the statistics
    info = [
        {"Width": SIZE, "Height": SIZE, "Frames": N_FRAMES},
        {"Box Size": 7, "Min. Net Gradient": 5000.0, "Fit method": "mle", "Pixelsize": PIXELSIZE_NM},
    ]
    return locs, info


def same(a, b):
    assert list(a) == list(b)
    different = {k: (a[k], b[k]) for k in a if not (a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])))}
    assert not different


@pytest.fixture(scope="module")
def over_threshold(tmp_path_factory):
    locs, info = table(60_000)
    return save_locs(tmp_path_factory.mktemp("big") / "over_locs.hdf5", locs, info), locs


def test_blockwise_file_metrics_equal_the_full_table_path(over_threshold):
    path, locs = over_threshold
    full = quality_metrics(load_locs(path, with_info=False), SIZE, SIZE, PIXELSIZE_NM, N_FRAMES, max_locs=50_000)
    assert full["n_locs_used"] < len(locs)  # the subset path, with real figures
    assert all(math.isfinite(full[k]) for k in ("nena_nm", "drift_x_range_nm", "link_n_events", "mean_photons"))
    for stream_rows in (7_777, 1 << 18):  # piece size does not matter, bit for bit
        part, n = file_quality_metrics(
            path, SIZE, SIZE, PIXELSIZE_NM, N_FRAMES, max_locs=50_000, stream_rows=stream_rows
        )
        assert n == len(locs) == count_locs(path)
        same(full, part)
    # Under the threshold the whole (small) table is used, as before.
    same(
        quality_metrics(locs, SIZE, SIZE, PIXELSIZE_NM, N_FRAMES),
        file_quality_metrics(path, SIZE, SIZE, PIXELSIZE_NM, N_FRAMES)[0],
    )


def test_blockwise_reading_holds_a_fraction_of_the_table(over_threshold):
    path, locs = over_threshold
    # n_frames=5 switches the RCC drift off (fewer frames than segments): its renders are a
    # fixed ~30 MB that would hide the table's 4 MB in a file this small.
    n_frames = 5
    file_quality_metrics(path, SIZE, SIZE, PIXELSIZE_NM, n_frames, max_locs=6_000)  # numba caches loaded
    peaks = {}
    for name, run in (
        (
            "full",
            lambda: quality_metrics(
                load_locs(path, with_info=False), SIZE, SIZE, PIXELSIZE_NM, n_frames, max_locs=6_000
            ),
        ),
        (
            "blocks",
            lambda: file_quality_metrics(path, SIZE, SIZE, PIXELSIZE_NM, n_frames, max_locs=6_000, stream_rows=5_000),
        ),
    ):
        tracemalloc.start()
        run()
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks["full"] > locs.nbytes  # the baseline holds the table
    assert peaks["blocks"] < 0.5 * locs.nbytes, peaks


def test_unsorted_file_falls_back_to_the_whole_table(tmp_path):
    locs, info = table(12_000, seed=2, sort=False)
    path = save_locs(tmp_path / "unsorted_locs.hdf5", locs, info)
    expected = quality_metrics(locs, SIZE, SIZE, PIXELSIZE_NM, N_FRAMES, max_locs=10_000)
    same(expected, file_quality_metrics(path, SIZE, SIZE, PIXELSIZE_NM, N_FRAMES, max_locs=10_000)[0])


def test_record_localization_stores_the_same_metrics(tmp_path, over_threshold):
    path, locs = over_threshold
    db = open_database(tmp_path / "db.sqlite")
    try:
        record_localization(db, path)
        (row,) = query_rows(db, columns=["n_locs", "nena_nm", "mean_photons", "std_x", "link_n_events"])
    finally:
        db.close()
    expected = quality_metrics(locs, SIZE, SIZE, PIXELSIZE_NM, N_FRAMES)
    assert row == {
        "n_locs": len(locs),
        "nena_nm": expected["nena_nm"],
        "mean_photons": expected["mean_photons"],
        "std_x": expected["std_x"],
        "link_n_events": expected["link_n_events"],
    }
    (tmp_path / "not_locs.hdf5").write_bytes(b"not hdf5")
    db = open_database(tmp_path / "db.sqlite")
    try:
        with pytest.raises(InputFileError, match="not a readable HDF5 file"):
            record_localization(db, tmp_path / "not_locs.hdf5")
        with pytest.raises(InputFileError, match="no such file"):
            record_localization(db, tmp_path / "gone_locs.hdf5")
    finally:
        db.close()


def test_parts_equal_the_whole():
    locs, _ = table(20_000, seed=3)
    statistics = FieldStatistics(locs.dtype)
    for start in range(0, len(locs), 3_001):
        statistics.add(locs[start : start + 3_001])
    same(field_statistics(locs), statistics.result())
    ranges = subset_ranges(locs["frame"], 5_000)
    np.testing.assert_array_equal(np.concatenate([np.arange(a, b) for a, b in ranges]), metrics_subset(locs, 5_000))
    assert all(locs["frame"][a - 1] != locs["frame"][a] for a, _ in ranges if a > 0)  # whole frames
