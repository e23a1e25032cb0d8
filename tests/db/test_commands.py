"""``napari-picasso db add/list/check`` and the database rows written by ``localize`` and ``demo``."""

import shutil

from napari_picasso.cli import main
from napari_picasso.db import open_database, query_rows


def test_db_add_and_list(tmp_path, picasso_locs, copy_locs, capsys):
    db_file = tmp_path / "lab.db"
    copy_locs(tmp_path / "data" / "run1" / "first_locs.hdf5")
    copy_locs(tmp_path / "data" / "run2" / "second_locs.hdf5")
    assert main(["db", "add", str(tmp_path / "data"), str(picasso_locs), "--group", "lab", "--db", str(db_file)]) == 0
    out = capsys.readouterr().out
    assert "3 rows written, 0 unchanged, 0 skipped" in out
    assert main(["db", "list", "--db", str(db_file)]) == 0
    out = capsys.readouterr().out
    for name in ("first_locs.hdf5", "second_locs.hdf5", "testdata_locs.hdf5", "nena_nm", "lab"):
        assert name in out
    assert "3 rows" in out
    assert (
        main(
            [
                "db",
                "list",
                "--db",
                str(db_file),
                "--filter",
                "second",
                "--columns",
                "filename",
                "nena_nm",
                "--csv",
                str(tmp_path / "rows.csv"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "second_locs.hdf5" in out and "first_locs.hdf5" not in out and "1 rows" in out
    assert (tmp_path / "rows.csv").read_text().splitlines()[0] == "filename,nena_nm"
    assert main(["db", "list", "--db", str(db_file), "--group", "other"]) == 0
    assert "0 rows" in capsys.readouterr().out
    # A moved file: check marks it, list shows it.
    shutil.rmtree(tmp_path / "data" / "run1")
    assert main(["db", "check", "--db", str(db_file)]) == 0
    assert "1 newly missing" in capsys.readouterr().out
    main(["db", "list", "--db", str(db_file), "--status", "missing", "--columns", "filename", "status"])
    out = capsys.readouterr().out
    assert "first_locs.hdf5" in out and "missing" in out and "1 rows" in out
    assert main(["db", "list", "--db", str(tmp_path / "absent.db")]) == 1
    assert "no such database file" in capsys.readouterr().err


def test_db_commands_explain_a_file_that_is_not_a_database(tmp_path, capsys):
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_bytes(b"lab notes, not a database\n" * 50)
    before = not_sqlite.read_bytes()
    # Each command says why, no traceback: add and list report it themselves (1), check
    # through the command line's own report (2).
    for action, code, prefix in (
        ("list", 1, "error: "),
        ("add", 1, "error: "),
        ("check", 2, "napari-picasso db check: "),
    ):
        argv = ["db", action, "--db", str(not_sqlite)] + ([str(tmp_path)] if action == "add" else [])
        assert main(argv) == code, action
        err = capsys.readouterr().err
        assert err.startswith(f"{prefix}{not_sqlite}: is not a usable SQLite database"), (action, err)
        assert "Fix: choose another file" in err, (action, err)
    assert not_sqlite.read_bytes() == before  # left as it was
    # A folder given as the database file.
    for action, code in (("check", 2), ("add", 1)):
        argv = ["db", action, "--db", str(tmp_path)] + ([str(tmp_path)] if action == "add" else [])
        assert main(argv) == code, action
        assert f"{tmp_path}: is a folder, not a database file" in capsys.readouterr().err, action


def test_localize_writes_a_row_unless_no_db(blinking_movie, tmp_path, capsys):
    movie, truth, camera = blinking_movie
    db_file = tmp_path / "rows.db"
    common = [
        "localize",
        str(movie),
        "--quiet",
        "--gradient",
        "1500",
        "--baseline",
        "100",
        "--sensitivity",
        "0.5",
        "--db",
        str(db_file),
    ]
    assert main(common + ["--out", str(tmp_path / "a"), "--group", "cli"]) == 0
    assert main(common + ["--out", str(tmp_path / "b"), "--no-db"]) == 0
    capsys.readouterr()
    with open_database(db_file) as db:
        (row,) = query_rows(db, columns=["locs_path", "group_name", "min_net_gradient", "nena_nm", "n_locs"])
    assert row["locs_path"] == str(tmp_path / "a" / "blinking_locs.hdf5")
    assert row["group_name"] == "cli" and row["min_net_gradient"] == 1500 and row["n_locs"] > 100
    assert 0 < row["nena_nm"] < 30


def test_demo_ends_with_the_database_row(tmp_path, capsys):
    db_file = tmp_path / "demo.db"
    assert (
        main(["demo", "--frames", "400", "--size", "48", "--folder", str(tmp_path / "demo"), "--db", str(db_file)]) == 0
    )
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].startswith("simulated")
    assert any(line.startswith("database row 1 (ok, group 'demo') in " + str(db_file)) for line in lines)
    assert "NeNA precision" in out and "localizations per frame" in out
    with open_database(db_file) as db:
        (row,) = query_rows(db, columns=["filename", "locs_per_frame", "nena_nm"])
    assert row["filename"] == "demo_locs.hdf5"
    assert f"{row['locs_per_frame']:.2f}" in out and f"{row['nena_nm']:.1f} nm" in out


def test_db_use_makes_a_file_every_front_ends_default(tmp_path, monkeypatch, capsys, blinking_movie):
    from napari_picasso.db import database_path_source, default_database_path
    from napari_picasso.db.schema import DEFAULT_DB_PATH

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("NAPARI_PICASSO_DB")
    assert default_database_path() == home / ".picasso" / "napari_picasso.db" == DEFAULT_DB_PATH.expanduser()
    chosen = tmp_path / "lab" / "shared.db"
    chosen.parent.mkdir()
    assert main(["db", "use", str(chosen)]) == 0
    assert "default database: " + str(chosen) in capsys.readouterr().out
    assert chosen.is_file()  # created as a database, with the schema
    assert database_path_source() == (chosen, "setting in ~/.picasso/settings.yaml")
    # a localization with no --db lands there
    movie, _, _ = blinking_movie
    assert (
        main(
            [
                "localize",
                str(movie),
                "--quiet",
                "--gradient",
                "1500",
                "--baseline",
                "100",
                "--sensitivity",
                "0.5",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    with open_database(chosen) as db:
        assert [r["filename"] for r in query_rows(db, columns=["filename"])] == ["blinking_locs.hdf5"]
    assert not (home / ".picasso" / "napari_picasso.db").exists()
    capsys.readouterr()
    main(["db", "path"])
    assert capsys.readouterr().out.strip() == f"{chosen}  (setting in ~/.picasso/settings.yaml)"
    # the environment variable wins over the setting
    monkeypatch.setenv("NAPARI_PICASSO_DB", str(tmp_path / "env.db"))
    assert default_database_path() == tmp_path / "env.db"
    monkeypatch.delenv("NAPARI_PICASSO_DB")
    # a file that is not a database is refused, the setting unchanged
    bad = tmp_path / "notes.db"
    bad.write_text("not sqlite")
    assert main(["db", "use", str(bad)]) == 2
    assert "notes.db: is not a usable SQLite database" in capsys.readouterr().err
    # every command says so without a traceback
    assert main(["db", "check", "--db", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("napari-picasso db check: ")
    assert default_database_path() == chosen
    assert main(["db", "use", "--reset"]) == 0
    assert default_database_path() == home / ".picasso" / "napari_picasso.db"
    assert main(["db", "use"]) == 2
