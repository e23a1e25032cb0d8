"""The experiment database on real SQLite files: schema, migrations, import, missing files, queries."""

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from napari_picasso.core.quality import quality_metrics
from napari_picasso.db import (
    SCHEMA_VERSION,
    add_paths,
    default_database_path,
    families,
    family_of,
    family_rows,
    groups,
    mark_missing,
    numeric_columns,
    open_database,
    query_rows,
    record_failure,
    record_localization,
    schema_version,
    set_group,
    summary,
)
from napari_picasso.db.compare import field_histograms, locs_per_frame, preview_data
from napari_picasso.io.errors import InputFileError
from napari_picasso.io.locs import load_locs, save_locs
from napari_picasso.pipeline import LocalizeParameters, localize_file


def test_default_path_is_in_home_and_env_var_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("NAPARI_PICASSO_DB", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_database_path() == tmp_path / ".picasso" / "napari_picasso.db"
    monkeypatch.setenv("NAPARI_PICASSO_DB", str(tmp_path / "lab.db"))
    assert default_database_path() == tmp_path / "lab.db"
    db = open_database()
    assert db.path == tmp_path / "lab.db" and (tmp_path / "lab.db").is_file()
    assert db.journal_mode == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    db.close()


def test_picasso_file_row_holds_parameters_and_metrics(db, picasso_locs):
    row_id = record_localization(db, picasso_locs, metrics={"nena_px": 0.12, "frames": 7.0}, group="tuesday")
    (row,) = query_rows(db, columns=None)
    assert row["id"] == row_id
    assert row["locs_path"] == str(picasso_locs) and row["filename"] == "testdata_locs.hdf5"
    assert row["n_locs"] == len(load_locs(picasso_locs, with_info=False)) == 564
    assert (row["width"], row["height"], row["frames"]) == (32, 32, 1000)
    # Every key of Picasso's localization document became a column.
    assert row["box_size"] == 7 and row["min_net_gradient"] == 5000 and row["fit_method"] == "mle"
    assert row["pixelsize"] == 130 and row["generated_by"] == "Picasso Localize"
    assert row["nena_px"] == 0.12
    # "frames" is a file column: the metric of that name got the metric prefix.
    assert row["frames"] == 1000 and row["m_frames"] == 7.0
    assert row["group_name"] == "tuesday" and row["status"] == "ok"
    assert row["family"] == str(picasso_locs.parent / "testdata") and row["parameter_group"] is None
    kinds = dict(db.execute("SELECT name, kind FROM columns").fetchall())
    assert kinds["box_size"] == "parameter" and kinds["nena_px"] == kinds["m_frames"] == "metric"
    # Recording again updates the same row and keeps the group.
    assert record_localization(db, picasso_locs, metrics={"nena_px": 0.2}) == row_id
    (row,) = query_rows(db)
    assert row["nena_px"] == 0.2 and row["group_name"] == "tuesday"
    info = json.loads(db.execute("SELECT info_json FROM localizations").fetchone()[0])
    assert info[0]["Width"] == 32 and info[1]["Box Size"] == 7


def test_without_a_pixel_size_nm_figures_are_left_empty(db, tmp_path, picasso_locs):
    locs, info = load_locs(picasso_locs)
    assert info[1]["Pixelsize"] == 130
    unknown = [info[0], {k: v for k, v in info[1].items() if k != "Pixelsize"}, *info[2:]]
    known = save_locs(tmp_path / "known_locs.hdf5", locs, info)
    bare = save_locs(tmp_path / "bare_locs.hdf5", locs, unknown)
    record_localization(db, known)
    record_localization(db, bare)  # read from the file
    copy = save_locs(tmp_path / "given" / "bare_locs.hdf5", locs, unknown)
    record_localization(db, copy, locs=locs, info=unknown)  # the table in hand (the localize dock)
    rows = {(Path(r["locs_path"]).parent.name, r["filename"]): r for r in query_rows(db, columns=None)}
    with_size = rows[(tmp_path.name, "known_locs.hdf5")]
    assert with_size["pixelsize_nm"] == 130 and np.isfinite(with_size["nena_px"])
    assert with_size["nena_nm"] == pytest.approx(with_size["nena_px"] * 130)
    for key in ((tmp_path.name, "bare_locs.hdf5"), ("given", "bare_locs.hdf5")):
        row = rows[key]
        # The px figures are those of the same localizations; no pixel size is invented for nm.
        assert row["nena_px"] == pytest.approx(with_size["nena_px"]), key
        assert row["pixelsize_nm"] is None and row["nena_nm"] is None, key
        assert all(row[c] is None for c in row if c.endswith("_nm")), key


def test_family_of_names():
    assert family_of("/d/movie_locs.hdf5") == ("/d/movie", None)
    assert family_of("/d/movie_pg_3_locs.hdf5") == ("/d/movie", 3)
    assert family_of("/d/movie_pg_3_locs_undrift.hdf5") == ("/d/movie", 3)
    assert family_of("/d/movie_locs_render_link.hdf5") == ("/d/movie", None)
    assert family_of("/d/plain.hdf5") == ("/d/plain", None)


def test_migration_from_version_1(tmp_path, copy_locs):
    """A file written by schema version 1 (built here with plain sqlite3) is migrated on open."""
    path = tmp_path / "old.db"
    pg_file = copy_locs(tmp_path / "data" / "movie_pg_2_locs.hdf5")
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
            INSERT INTO meta VALUES ('schema_version', '1'), ('created', '2025-01-01T00:00:00+00:00');
            CREATE TABLE localizations (
                id INTEGER PRIMARY KEY, locs_path TEXT NOT NULL UNIQUE, movie_path TEXT,
                file_created TEXT, entered TEXT NOT NULL, group_name TEXT,
                status TEXT NOT NULL DEFAULT 'ok', reason TEXT, n_locs INTEGER, width INTEGER,
                height INTEGER, frames INTEGER, info_json TEXT);
            """
        )
        conn.execute(
            "INSERT INTO localizations (locs_path, entered, group_name, n_locs) VALUES (?, ?, ?, ?)",
            [str(pg_file), "2025-01-02T10:00:00+00:00", "old", 564],
        )
    db = open_database(path)
    assert schema_version(db) == SCHEMA_VERSION == 2
    (row,) = query_rows(db)
    assert row["family"] == str(tmp_path / "data" / "movie") and row["parameter_group"] == 2
    assert row["filename"] == "movie_pg_2_locs.hdf5" and row["group_name"] == "old" and row["n_locs"] == 564
    assert {"columns"} <= set(db.table_names())
    assert db.execute("SELECT value FROM meta WHERE key = 'created'").fetchone()[0].startswith("2025")
    # The migrated database takes new rows with dynamic columns.
    record_localization(db, pg_file, metrics={"nena_px": 0.1})
    (row,) = query_rows(db)
    assert row["nena_px"] == 0.1 and row["group_name"] == "old" and row["box_size"] == 7
    db.close()
    # Reopening does not migrate again.
    db = open_database(path)
    assert summary(db)["rows"] == 1 and schema_version(db) == 2
    db.close()


def test_newer_or_foreign_file_is_refused_with_a_clear_error(tmp_path):
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    with pytest.raises(InputFileError, match="schema version 99.*upgrade"):
        open_database(newer)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(InputFileError, match="garbage.db.*not a usable SQLite database"):
        open_database(garbage)
    with pytest.raises(InputFileError, match="no such database"):
        open_database(tmp_path / "absent.db", readonly=True)


def test_moved_files_are_marked_missing_never_crash(db, tmp_path, copy_locs):
    path = copy_locs(tmp_path / "run" / "a_locs.hdf5")
    other = copy_locs(tmp_path / "run" / "b_locs.hdf5")
    record_localization(db, path, metrics={"nena_px": 0.1})
    record_localization(db, other, metrics={"nena_px": 0.1})
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.move(path, moved / path.name)
    result = mark_missing(db)
    assert len(result["missing"]) == 1 and result["found"] == []
    rows = {r["filename"]: r for r in query_rows(db)}
    assert rows["a_locs.hdf5"]["status"] == "missing" and "moved or deleted" in rows["a_locs.hdf5"]["reason"]
    assert rows["b_locs.hdf5"]["status"] == "ok"
    assert [r["filename"] for r in query_rows(db, status="missing")] == ["a_locs.hdf5"]
    # Reading the moved file for Compare/Preview names it instead of crashing somewhere deep.
    with pytest.raises(InputFileError, match="a_locs.hdf5.*moved or deleted"):
        locs_per_frame(path)
    with pytest.raises(InputFileError, match="a_locs.hdf5"):
        preview_data(path)
    # A folder whose whole drive vanished is missing too; mark_missing twice changes nothing.
    assert mark_missing(db) == {"missing": [], "found": []}
    shutil.move(moved / path.name, path)
    assert len(mark_missing(db)["found"]) == 1
    assert {r["status"] for r in query_rows(db)} == {"ok"}


def test_failure_is_recorded_then_replaced_by_success(db, tmp_path, copy_locs):
    movie = tmp_path / "night" / "movie.raw"
    record_failure(
        db,
        movie,
        "movie.raw: file is truncated",
        locs_path=tmp_path / "night" / "movie_pg_1_locs.hdf5",
        parameters={"Box Size": 9},
    )
    (row,) = query_rows(db, status="failed")
    assert row["reason"] == "movie.raw: file is truncated" and row["box_size"] == 9
    assert row["parameter_group"] == 1 and row["family"] == str(tmp_path / "night" / "movie")
    path = copy_locs(tmp_path / "night" / "movie_pg_1_locs.hdf5")
    record_localization(db, path, metrics={"nena_px": 0.1})
    (row,) = query_rows(db)
    assert row["status"] == "ok" and row["reason"] is None and row["box_size"] == 7


def _write_our_file(folder, movie_path, camera, name):
    parameters = LocalizeParameters(
        box=7,
        min_net_gradient=1500,
        baseline=camera.baseline,
        sensitivity=camera.sensitivity,
        em_gain=camera.em_gain,
        pixelsize_nm=130,
    )
    return localize_file(movie_path, parameters, folder / name).locs_path


def test_add_folder_with_ours_and_picassos(db, tmp_path, blinking_movie, picasso_locs, copy_locs):
    movie, truth, camera = blinking_movie
    folder = tmp_path / "experiments"
    ours = _write_our_file(folder / "day1", movie, camera, "blinking_locs.hdf5")
    ours_pg = _write_our_file(folder / "day1", movie, camera, "blinking_pg_2_locs.hdf5")
    theirs = copy_locs(folder / "day2" / "deeper" / "testdata_locs.hdf5")
    # Not localization files: a ground-truth table (has a 'locs' dataset but no _locs name)
    # and an unrelated HDF5; a corrupt file with a localization name is skipped with its reason.
    shutil.copyfile(movie.with_name("blinking_truth.hdf5"), folder / "day1" / "blinking_truth.hdf5")
    (folder / "day2" / "broken_locs.hdf5").write_bytes(b"\x89HDF\r\n garbage")

    result = add_paths(db, [folder], group="imported")
    assert len(result.added) == 3 and result.unchanged == []
    assert [p for p, _ in result.skipped] == [str(folder / "day2" / "broken_locs.hdf5")]
    assert "not a readable HDF5 file" in result.skipped[0][1]
    rows = {r["filename"]: r for r in query_rows(db)}
    assert set(rows) == {"blinking_locs.hdf5", "blinking_pg_2_locs.hdf5", "testdata_locs.hdf5"}
    assert rows["testdata_locs.hdf5"]["generated_by"] == "Picasso Localize"
    assert rows["blinking_locs.hdf5"]["generated_by"].startswith("napari-picasso")
    assert rows["blinking_locs.hdf5"]["movie_path"] == str(movie)
    assert rows["blinking_locs.hdf5"]["n_locs"] == len(load_locs(ours, with_info=False)) > 100
    assert all(r["group_name"] == "imported" for r in rows.values())
    # Quality metrics were computed on import and stored as columns.
    metric_columns = [n for (n,) in db.execute("SELECT name FROM columns WHERE kind = 'metric'").fetchall()]
    assert metric_columns, "no metric columns"
    assert all(isinstance(rows["blinking_locs.hdf5"][c], (float, int, type(None))) for c in metric_columns)
    assert sum(rows["blinking_locs.hdf5"][c] is not None for c in metric_columns) >= len(metric_columns) // 2
    locs, info = load_locs(ours)
    expected = quality_metrics(locs, 64, 64, 130.0, 300)
    assert rows["blinking_locs.hdf5"]["nena_nm"] == pytest.approx(expected["nena_nm"])
    assert rows["blinking_locs.hdf5"]["mean_photons"] == pytest.approx(expected["mean_photons"])
    assert rows["blinking_locs.hdf5"]["m_n_locs"] == len(locs)  # the metric's n_locs, beside the file's
    # Our two outputs of one movie are one family (Compare shows them together).
    family = str(folder / "day1" / "blinking")
    assert (family, 2) in families(db)
    assert [r["filename"] for r in family_rows(db, family)] == ["blinking_locs.hdf5", "blinking_pg_2_locs.hdf5"]
    # Adding again: unchanged files are not re-read; a single file path works too.
    again = add_paths(db, [folder, ours_pg, tmp_path / "nope"])
    assert len(again.unchanged) == 4 and again.added == []
    assert (str(tmp_path / "nope"), "no such file or folder") in again.skipped
    assert summary(db)["rows"] == 3 and theirs.exists()


def test_queries_filter_rows(db, tmp_path, copy_locs):
    for name, group in [
        ("alpha_locs.hdf5", "g1"),
        ("beta_locs.hdf5", "g1"),
        ("alpha_2_locs.hdf5", "g2"),
        ("gamma_locs.hdf5", None),
        ("under_score_locs.hdf5", None),
    ]:
        record_localization(db, copy_locs(tmp_path / name), metrics={"nena_px": len(name) / 100}, group=group)
    names = lambda rows: sorted(r["filename"] for r in rows)  # noqa: E731
    assert names(query_rows(db, text="ALPHA")) == ["alpha_2_locs.hdf5", "alpha_locs.hdf5"]
    assert names(query_rows(db, group="g1")) == ["alpha_locs.hdf5", "beta_locs.hdf5"]
    assert names(query_rows(db, text="alpha", group="g1")) == ["alpha_locs.hdf5"]
    assert names(query_rows(db, group="")) == ["gamma_locs.hdf5", "under_score_locs.hdf5"]
    # LIKE wildcards typed by a user are literal.
    assert names(query_rows(db, text="r_s")) == ["under_score_locs.hdf5"]
    assert query_rows(db, text="%") == []
    assert groups(db) == ["g1", "g2"]
    ordered = query_rows(db, order_by="nena_px", descending=False, columns=["filename", "nena_px"])
    assert [r["nena_px"] for r in ordered] == sorted(r["nena_px"] for r in ordered)
    assert numeric_columns(db)[0] == "nena_px"
    set_group(db, [query_rows(db, text="gamma")[0]["id"]], "g3")
    assert groups(db) == ["g1", "g2", "g3"]
    with pytest.raises(ValueError, match="unknown column"):
        query_rows(db, order_by="nena_px; DROP TABLE localizations")


def test_compare_families_and_their_files_follow_the_filters(db, tmp_path, copy_locs):
    # One movie localized twice, the outputs tagged with different groups; a second movie
    # without a group; names with LIKE wildcards.
    for name, group in [
        ("cell_pg_1_locs.hdf5", "g1"),
        ("cell_pg_2_locs.hdf5", "g2"),
        ("plain_locs.hdf5", None),
        ("a_b_locs.hdf5", None),
        ("axb_locs.hdf5", None),
        ("p%q_locs.hdf5", None),
        ("pxq_locs.hdf5", None),
    ]:
        record_localization(db, copy_locs(tmp_path / name), metrics={"nena_px": 0.1}, group=group)
    cell = str(tmp_path / "cell")
    names = lambda rows: [r["filename"] for r in rows]  # noqa: E731
    stems = lambda found: sorted(Path(f).name for f, _ in found)  # noqa: E731

    assert (cell, 2) in families(db)
    assert families(db, group="g1") == [(cell, 1)]
    assert names(family_rows(db, cell)) == ["cell_pg_1_locs.hdf5", "cell_pg_2_locs.hdf5"]
    assert names(family_rows(db, cell, group="g1")) == ["cell_pg_1_locs.hdf5"]
    assert names(family_rows(db, cell, text="pg_2")) == ["cell_pg_2_locs.hdf5"]
    # "" is "(no group)", as for the table, not "all groups".
    assert stems(families(db, group="")) == ["a_b", "axb", "p%q", "plain", "pxq"]
    assert family_rows(db, cell, group="") == []
    # Wildcards typed by a user are literal.
    assert stems(families(db, text="a_b")) == ["a_b"]
    assert stems(families(db, text="p%q")) == ["p%q"]
    # The families offered are exactly those of the rows the table shows.
    for filters in ({"group": "g2"}, {"group": ""}, {"text": "_b"}, {"text": "cell", "group": "g1"}):
        shown = query_rows(db, status="ok", columns=["family", "filename"], **filters)
        assert {r["family"] for r in shown} == {f for f, _ in families(db, **filters)}, filters
        for family, n in families(db, **filters):
            assert sorted(names(family_rows(db, family, **filters))) == sorted(
                r["filename"] for r in shown if r["family"] == family
            ), filters
            assert n == len(family_rows(db, family, **filters))


def test_compare_and_preview_data_from_a_file(picasso_locs, tmp_path):
    locs, info = load_locs(picasso_locs)
    series = locs_per_frame(picasso_locs, bin_frames=10)
    assert len(series["frame"]) == 100  # 1000 frames of the movie in bins of 10
    assert np.isclose(series["locs_per_frame"].sum() * 10, len(locs))
    # A second file of the family with every other localization: half the counts.
    half = save_locs(tmp_path / "half_locs.hdf5", locs[::2], info)
    hist = field_histograms([picasso_locs, half], "photons", bins=20)
    assert len(hist["edges"]) == 21 and hist["counts"][0].sum() >= hist["counts"][1].sum() * 1.9
    preview = preview_data(picasso_locs, oversampling=4)
    assert preview["image"].shape == (128, 128) and preview["points_yx"].shape == (564, 2)
    assert np.isclose(preview["image"].sum(), len(locs), rtol=0.05)
    assert preview["pixelsize_nm"] == 130


def test_preview_of_a_large_camera_frame_is_capped(picasso_locs, tmp_path):
    locs, info = load_locs(picasso_locs)
    info[0] = {**info[0], "Width": 2048, "Height": 64}  # a wide camera frame, 2048 px
    wide = save_locs(tmp_path / "wide_locs.hdf5", locs, info)
    # 16 output px per camera px would be 32768 x 1024 px: reduced to 4096 px a side.
    preview = preview_data(wide, oversampling=16)
    assert preview["image"].shape == (128, 4096)
    assert preview["oversampling"] == 2.0 and preview["requested_oversampling"] == 16.0
    assert preview["image_scale"] == (0.5, 0.5) and preview["image_translate"] == (-0.25, -0.25)
    assert np.isclose(preview["image"].sum(), len(locs), rtol=0.05)  # every localization is in it
    # A small frame keeps what was asked for.
    small = preview_data(picasso_locs, oversampling=16)
    assert small["image"].shape == (512, 512) and small["oversampling"] == 16.0
    # The image alone (the browser): no subset of points is drawn.
    alone = preview_data(picasso_locs, oversampling=4, with_points=False)
    assert "points_yx" not in alone and np.array_equal(alone["image"], preview_data(picasso_locs, 4)["image"])


def test_views_shape_rows_for_plots(tmp_path):
    from napari_picasso.db import views

    rows = [
        {
            "id": i,
            "a": float(i),
            "b": 2.0 * i + 1.0,
            "t": None,
            "s": "text",
            "file_created": f"2024-05-0{1 + i % 3}T12:00:00+00:00",
        }
        for i in range(6)
    ]
    rows.append({"id": 99, "a": None, "b": 5.0, "s": None, "file_created": None})
    data = views.scatter_with_trend(rows, "a", "b")
    assert len(data["x"]) == 6 and data["slope"] == pytest.approx(2.0) and data["intercept"] == pytest.approx(1.0)
    assert data["r"] == pytest.approx(1.0)
    assert views.scatter_with_trend(rows, "a", "t")["slope"] is None
    over_time = views.scatter_with_trend(rows, "file_created", "a")
    assert len(over_time["x"]) == 6 and over_time["x"].min() == views.posix_seconds("2024-05-01T12:00:00+00:00")
    daily = views.daily_values(rows, "b")
    assert [len(v) for _, v in daily] == [2, 2, 2] and daily[0][0] < daily[1][0] < daily[2][0]
    assert views.column_maxima(rows, ["a", "b", "s"]) == {"a": 5.0, "b": 11.0}
    assert views.bar_fraction(5.5, 11.0) == 0.5 and views.bar_fraction("x", 11.0) == 0.0
    text = views.rows_to_csv(rows, ["id", "a", "s"])
    assert text.splitlines()[0] == "id,a,s" and text.splitlines()[-1] == "99,,"
