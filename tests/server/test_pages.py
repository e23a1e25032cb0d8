"""The browser app's pages in Streamlit's own headless harness (AppTest) on a real database."""

import hashlib
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from _server_helpers import copy_picasso, open_page, texts, wait_for  # noqa: E402

from napari_picasso.db import compare, open_database, query_rows  # noqa: E402
from napari_picasso.server import PAGES  # noqa: E402


def history_rows(at):
    return at.dataframe[0].value


def tree_state(folder, skip=()):
    """Every file below ``folder`` with its size and content hash (for "nothing was written")."""
    state = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and not any(part in skip for part in path.parts) and not path.name.endswith("-shm"):
            state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def test_every_page_renders_and_writes_nothing(lab, use_db):
    use_db(lab["db"])
    # The watcher's folder is excluded: the running watcher owns its log.
    before = tree_state(lab["root"], skip={"watched"})
    for name in PAGES:
        at = open_page(name)
        assert texts(at.title) == [name]
        assert not at.error, (name, texts(at.error))
    assert tree_state(lab["root"], skip={"watched"}) == before


def test_status_counts_and_schema(lab, use_db):
    use_db(lab["db"])
    at = open_page("Status")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Files"] == "6"  # two parameter groups, two imports, a failure, the watcher's output
    assert metrics["Failed"] == "1"
    assert metrics["Schema version"] == "2"
    assert str(lab["db"]) in " ".join(texts(at.markdown))
    # The deleted file is reported (the read-only database still says ok).
    assert any("moved_locs.hdf5" in w for w in texts(at.warning))


def test_history_filters_change_rows(lab, use_db):
    use_db(lab["db"])
    at = open_page("History")
    table = history_rows(at)
    assert len(table) == 6
    assert {"cell1_pg_1_locs.hdf5", "cell1_pg_2_locs.hdf5", "testdata_locs.hdf5", "w1_locs.hdf5"} <= set(
        table["filename"]
    )

    at.sidebar.text_input(key="filter_text").input("cell1").run()
    table = history_rows(at)
    assert sorted(table["filename"]) == ["cell1_pg_1_locs.hdf5", "cell1_pg_2_locs.hdf5"]

    at.sidebar.text_input(key="filter_text").input("2026-11-20").run()  # a folder's name
    assert sorted(history_rows(at)["filename"]) == ["broken_locs.hdf5", "cell1_pg_1_locs.hdf5", "cell1_pg_2_locs.hdf5"]

    at.sidebar.text_input(key="filter_text").input("").run()
    at.sidebar.selectbox(key="filter_group").select("picasso").run()
    table = history_rows(at)
    assert sorted(table["filename"]) == ["moved_locs.hdf5", "testdata_locs.hdf5"]

    at.sidebar.selectbox(key="filter_group").select("(no group)").run()
    assert list(history_rows(at)["filename"]) == ["w1_locs.hdf5"]  # the watcher sets no group

    at.sidebar.text_input(key="filter_text").input("no such file").run()
    assert len(history_rows(at)) == 0
    assert not at.exception


def test_history_bars_are_relative_to_each_columns_maximum(lab, use_db):
    use_db(lab["db"])
    at = open_page("History")
    table = history_rows(at)
    config = json.loads(at.dataframe[0].proto.columns)
    bars = {name: c for name, c in config.items() if c.get("type_config", {}).get("type") == "progress"}
    assert {"n_locs", "locs_per_frame", "nena_nm"} <= set(bars), sorted(config)
    for name in ("n_locs", "nena_nm"):
        assert bars[name]["type_config"]["max_value"] == pytest.approx(table[name].abs().max())
    # Sorting happens in the browser; the CSV holds the same rows as the table.
    assert "id" not in bars and "filename" not in bars


def test_missing_file_is_reported_not_fatal(lab, use_db):
    use_db(lab["db"])
    at = open_page("History")
    table = history_rows(at)
    moved = table[table["filename"] == "moved_locs.hdf5"]
    assert list(moved["status"]) == ["missing"]
    assert any("moved_locs.hdf5" in w for w in texts(at.warning))

    at = open_page("Preview")
    at.sidebar.text_input(key="filter_text").input("moved").run()
    assert not at.exception
    assert any("moved_locs.hdf5" in e and "missing" in e for e in texts(at.error))

    at = open_page("Compare")
    at.sidebar.text_input(key="filter_text").input("moved").run()
    assert not at.exception
    assert any("moved_locs.hdf5" in w and "missing" in w for w in texts(at.warning))


def test_compare_shows_one_family(lab, use_db):
    use_db(lab["db"])
    at = open_page("Compare")
    at.sidebar.text_input(key="filter_text").input("cell1").run()
    assert not at.exception and not at.error
    family = at.selectbox(key="compare_family").value
    assert Path(family).name == "cell1"
    files = [m for m in at.multiselect if m.key.startswith("compare_files")][0]
    assert sorted(files.value) == ["cell1_pg_1_locs.hdf5", "cell1_pg_2_locs.hdf5"]
    at.selectbox(key="compare_field").select("lpx").run()
    assert not at.exception and not at.error


def test_compare_offers_only_what_the_filters_select(lab, use_db):
    use_db(lab["db"])
    at = open_page("Compare")
    at.sidebar.selectbox(key="filter_group").select("(no group)").run()
    assert not at.exception
    # Only the watcher's output has no group: its movie is the one family offered.
    options = at.selectbox(key="compare_family").options
    assert len(options) == 1 and options[0].startswith("w1  ("), options

    at.sidebar.selectbox(key="filter_group").select("All groups").run()
    at.sidebar.text_input(key="filter_text").input("pg_2").run()
    assert not at.exception
    assert Path(at.selectbox(key="compare_family").value).name == "cell1"
    files = [m for m in at.multiselect if m.key.startswith("compare_files")][0]
    assert files.options == ["cell1_pg_2_locs.hdf5"] and files.value == ["cell1_pg_2_locs.hdf5"]


def test_preview_renders_server_side(lab, use_db):
    use_db(lab["db"])
    at = open_page("Preview")
    at.sidebar.text_input(key="filter_text").input("testdata").run()
    assert not at.exception and not at.error
    images = at.get("image")
    assert len(images) == 1
    caption = images[0].proto.imgs[0].caption
    # Picasso's test movie is 32x32 camera px; 5 output px per camera px by default.
    assert caption.startswith("564 localizations, Gaussian render, 160×160 px"), caption
    assert images[0].proto.imgs[0].url.endswith(".png")


def test_preview_of_a_large_camera_frame_is_reduced_and_said(tmp_path, use_db, picasso_locs):
    from napari_picasso.db import record_localization
    from napari_picasso.io.locs import load_locs, save_locs

    locs, info = load_locs(picasso_locs)
    info[0] = {**info[0], "Width": 2048, "Height": 64}  # a wide camera frame, 2048 px
    wide = save_locs(tmp_path / "data" / "wide_locs.hdf5", locs, info)
    db = open_database(use_db(tmp_path / "wide.db"))
    try:
        record_localization(db, wide, metrics={"nena_px": 0.1})
    finally:
        db.close()
    at = open_page("Preview")
    at.select_slider(key="preview_oversampling").set_value(16).run()
    assert not at.exception and not at.error
    caption = at.get("image")[0].proto.imgs[0].caption
    # 2 output px per camera px (4096 px a side at most), 130 nm camera pixels.
    assert "Gaussian render, 4096×128 px, 65 nm per output pixel" in caption, caption
    warnings = " ".join(texts(at.warning))
    assert "Rendered with 2 instead of 16" in warnings and "32768×1024 px" in warnings, warnings


def test_watchers_page_shows_running_watcher_and_its_log(lab, use_db):
    use_db(lab["db"])
    at = open_page("Watchers")
    watchers = at.dataframe[0].value
    assert list(watchers["state"]) == ["running"]
    assert list(watchers["finished"]) == [1]
    assert Path(watchers["log"][0]).parent == lab["watched"]
    events = at.dataframe[1].value  # the log of its row
    assert {"watching", "found", "started", "finished"} <= set(events["event"])
    failed = at.dataframe[2].value
    assert list(failed["filename"]) == ["broken_locs.hdf5"]
    assert "truncated header" in failed["reason"][0]

    # This watcher is a thread of the test's process, not a 'napari-picasso watch': never signalled.
    (stop,) = [b for b in at.button if b.label == "Stop"]
    stop.click().run()
    assert not at.exception
    assert any("is not a 'napari-picasso watch' process" in e for e in texts(at.error)), texts(at.error)
    assert lab["watcher"].running

    lab["watcher"].stop(timeout=30)
    assert wait_for(lambda: not lab["watcher"].running)
    at = open_page("Watchers")
    assert list(at.dataframe[0].value["state"]) == ["stopped"]
    assert not [b for b in at.button if b.label == "Stop"]


def test_add_folder_adds_rows(tmp_path, use_db, picasso_locs):
    db_path = use_db(tmp_path / "db" / "new.db")
    data = tmp_path / "data"
    copy_picasso(picasso_locs, data / "a" / "one_locs.hdf5")
    copy_picasso(picasso_locs, data / "b" / "two_locs.hdf5")
    (tmp_path / "link").symlink_to(data)

    at = open_page("Status")
    assert not db_path.exists()  # looking does not create it
    at.text_area(key="add_paths").input("relative/folder\n/no/such/folder")
    at.button[0].click().run()
    errors = " ".join(texts(at.error))
    assert "absolute path" in errors and "/no/such/folder" in errors
    assert not db_path.exists()  # nothing usable typed: nothing written

    at.text_area(key="add_paths").input(str(tmp_path / "link"))
    at.text_input(key="add_group").input("new")
    at.button[0].click().run()
    assert not at.exception
    assert any(s.startswith("2 file(s) added") for s in texts(at.success))
    assert {m.label: m.value for m in at.metric}["Files"] == "2"
    db = open_database(db_path, readonly=True)
    try:
        rows = query_rows(db, columns=["locs_path", "group_name"], order_by="locs_path", descending=False)
    finally:
        db.close()
    # Resolved: the rows name the real files, not the link typed.
    assert [r["locs_path"] for r in rows] == [
        str(data.resolve() / "a" / "one_locs.hdf5"),
        str(data.resolve() / "b" / "two_locs.hdf5"),
    ]
    assert {r["group_name"] for r in rows} == {"new"}
    assert sorted(os.listdir(data / "a")) == ["one_locs.hdf5", "one_locs.yaml"]  # nothing written beside them


def test_reads_stream_in_blocks_with_progress(picasso_locs, monkeypatch):
    """Compare and Preview read in blocks (few rows here, 2**20 by default) and report each."""
    monkeypatch.setattr(compare, "BLOCK_ROWS", 100)
    seen = []
    series = compare.locs_per_frame(picasso_locs, progress=lambda done, n: seen.append((done, n)))
    assert seen == [(d, 564) for d in (100, 200, 300, 400, 500, 564)]
    assert series["locs_per_frame"].sum() * series["bin_frames"] == pytest.approx(564, rel=0.05)
    seen.clear()
    compare.preview_data(picasso_locs, oversampling=2, progress=lambda done, n: seen.append(done))
    assert seen == [100, 200, 300, 400, 500, 564]


def test_unusable_or_old_database_is_explained(tmp_path, use_db):
    import sqlite3

    import sqlite_utils

    from napari_picasso.db.schema import MIGRATIONS, transaction

    use_db(tmp_path / "broken.db").write_bytes(b"this is not SQLite" * 100)
    for name in PAGES:
        open_page(name)  # asserts no exception
    assert any("not a usable SQLite database" in i for i in texts(open_page("History").info))

    # A version-1 file (as an older napari-picasso wrote it): read-only pages do not migrate it.
    old = use_db(tmp_path / "old.db")
    plain = sqlite_utils.Database(sqlite3.connect(old, isolation_level=None))
    with transaction(plain):
        MIGRATIONS[0](plain)
        plain.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    plain.close()
    assert any("schema version 1" in i for i in texts(open_page("Compare").info))
    open_page("Status")


def test_scatter_trend_and_daily_boxes(lab, use_db):
    from napari_picasso.db.views import scatter_with_trend

    use_db(lab["db"])
    at = open_page("History")
    at.selectbox(key="scatter_x").select("n_locs")
    at.selectbox(key="scatter_y").select("mean_photons").run()
    assert not at.exception
    db = open_database(lab["db"], readonly=True)
    try:
        expected = scatter_with_trend(query_rows(db), "n_locs", "mean_photons")
    finally:
        db.close()
    caption = [c for c in texts(at.caption) if "trend" in c]
    assert caption == [
        f"{len(expected['x'])} files · trend: slope {expected['slope']:.4g}, "
        f"intercept {expected['intercept']:.4g}, r = {expected['r']:.3f}"
    ]
    at.selectbox(key="box_metric").select("nena_nm").run()
    assert not at.exception and not at.error


@pytest.fixture
def server_log():
    """The records the app logs (its tracebacks go there, never to the browser)."""
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("napari_picasso.server")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_add_of_a_deep_tree_never_shows_a_traceback(tmp_path, use_db, picasso_locs):
    """1,000 nested folders: added, or one line saying why (never a traceback with server paths)."""
    use_db(tmp_path / "db" / "lab.db")
    folder = deep = tmp_path / "deep"
    deep.mkdir()
    for _ in range(1000):  # one by one: Path.mkdir(parents=True) itself recurses
        folder = folder / "d"
        folder.mkdir()
    copy_picasso(picasso_locs, folder / "bottom_locs.hdf5")
    try:
        at = open_page("Status")
        at.text_area(key="add_paths").input(str(deep))
        at.button[0].click().run()
        assert not at.exception
        shown = texts(at.error) + texts(at.success)
        assert len(shown) == 1, shown
        assert "\n" not in shown[0] and "Traceback" not in shown[0] and ".py" not in shown[0]
        assert shown[0].startswith("1 file(s) added"), shown  # walked without recursion (io.walk)
    finally:  # bottom up: pytest's own clean-up (shutil.rmtree) recurses too
        for path in sorted(folder.iterdir()):
            path.unlink()
        while folder != tmp_path:
            folder.rmdir()
            folder = folder.parent


def test_failures_show_one_line_and_log_the_traceback(tmp_path, use_db, picasso_locs, monkeypatch, server_log):
    from napari_picasso import db as database

    db_path = use_db(tmp_path / "lab.db")
    copy_picasso(picasso_locs, tmp_path / "data" / "one_locs.hdf5")
    db = open_database(db_path)
    try:
        database.add_paths(db, [tmp_path / "data"])
    finally:
        db.close()

    def exploded(*args, **kwargs):
        raise RuntimeError("the engine exploded\n  File '/srv/napari_picasso/db/query.py', line 9")

    def too_deep(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(database, "query_rows", exploded)
    at = open_page("History")
    assert texts(at.error) == [
        "The History page failed: RuntimeError: the engine exploded (the details are in the server's log)."
    ]
    assert [r.getMessage() for r in server_log] == ["The History page failed"]
    assert server_log[0].exc_info[0] is RuntimeError  # the traceback goes to the server's log
    monkeypatch.undo()
    use_db(db_path)

    monkeypatch.setattr(database, "add_paths", too_deep)
    at = open_page("Status")
    at.text_area(key="add_paths").input(str(tmp_path / "data"))
    at.button[0].click().run()
    assert texts(at.error) == [
        "Adding failed: RecursionError: maximum recursion depth exceeded (the details are in the server's log)."
    ]
    assert server_log[-1].exc_info[0] is RecursionError


def test_add_keeps_to_the_data_folders(tmp_path, use_db, picasso_locs, monkeypatch):
    db_path = use_db(tmp_path / "db" / "lab.db")
    root, outside = tmp_path / "lab-data", tmp_path / "private"
    copy_picasso(picasso_locs, root / "day1" / "one_locs.hdf5")
    copy_picasso(picasso_locs, outside / "secret_locs.hdf5")
    (root / "out").symlink_to(outside)
    monkeypatch.setenv("NAPARI_PICASSO_DATA_ROOTS", str(root.resolve()))
    at = open_page("Status")
    assert f"Paths must lie in `{root.resolve()}`" in " ".join(texts(at.caption))
    at.text_area(key="add_paths").input(f"{outside}\n{root}/../private\n{root}/out/secret_locs.hdf5")
    at.button[0].click().run()
    errors = texts(at.error)
    assert len(errors) == 3 and all("outside the data folders of this server" in e for e in errors), errors
    assert not db_path.exists()
    at.text_area(key="add_paths").input(f"{root}/day1/../day1")
    at.button[0].click().run()
    assert any(s.startswith("1 file(s) added") for s in texts(at.success))
