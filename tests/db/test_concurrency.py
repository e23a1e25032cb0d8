"""Two processes writing at once, and a writer killed inside its transaction."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from napari_picasso.db import open_database, query_rows, record_localization, summary

N_EACH = 40

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from napari_picasso.db import open_database, record_localization
    db_path, folder, go = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.005)
    db = open_database(db_path)
    for i, path in enumerate(sorted(folder.glob("*_locs.hdf5"))):
        record_localization(db, path, metrics={"shared_metric": float(i), "only_watcher": 1.0},
                            group="watcher")
    db.close()
    print("done", flush=True)
    """
)

KILLED = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from napari_picasso.db import open_database, record_localization, transaction
    db = open_database(Path(sys.argv[1]))
    with transaction(db):
        for path in sorted(Path(sys.argv[2]).glob("*_locs.hdf5")):
            record_localization(db, path, metrics={"nena_px": 0.1, "new_metric": 2.0})
        db.execute("UPDATE localizations SET group_name = 'clobbered'")
        print("inside", flush=True)
        time.sleep(120)
    """
)


def _python(code, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_processes_write_at_once_and_lose_no_row(tmp_path, db_path, copy_locs):
    """A watcher-like process and this (viewer) process write 40 rows each, interleaved.

    Both open the database file for the first time at the same moment (creation,
    WAL switch and migration race too) and both add new metric columns on the fly.
    """
    for who in ("watcher", "viewer"):
        for i in range(N_EACH):
            copy_locs(tmp_path / who / f"{who}_{i:03d}_locs.hdf5")
    go = tmp_path / "go"
    child = _python(WRITER, db_path, tmp_path / "watcher", go)
    time.sleep(1.0)  # let the child import and start polling for the go file
    go.touch()
    db = open_database(db_path)
    written_while_child_ran = 0
    for i, path in enumerate(sorted((tmp_path / "viewer").glob("*_locs.hdf5"))):
        record_localization(db, path, metrics={"shared_metric": float(i), "only_viewer": 1.0}, group="viewer")
        written_while_child_ran += child.poll() is None
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert "done" in out
    assert written_while_child_ran > 0, "the two writers did not overlap"

    rows = query_rows(db, columns=["locs_path", "group_name", "shared_metric", "only_viewer", "only_watcher"])
    assert len(rows) == 2 * N_EACH
    assert len({r["locs_path"] for r in rows}) == 2 * N_EACH
    by_group = {g: [r for r in rows if r["group_name"] == g] for g in ("watcher", "viewer")}
    assert len(by_group["watcher"]) == len(by_group["viewer"]) == N_EACH
    assert all(r["only_watcher"] == 1.0 and r["only_viewer"] is None for r in by_group["watcher"])
    assert all(r["only_viewer"] == 1.0 and r["only_watcher"] is None for r in by_group["viewer"])
    # The column both added exists once.
    names = [n for (n,) in db.execute("SELECT name FROM columns WHERE source = 'shared_metric'").fetchall()]
    assert names == ["shared_metric"]
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_writer_killed_inside_transaction_leaves_consistent_database(tmp_path, db_path, copy_locs):
    db = open_database(db_path)
    for i in range(3):
        record_localization(
            db, copy_locs(tmp_path / "before" / f"kept_{i}_locs.hdf5"), metrics={"nena_px": 0.1}, group="kept"
        )
    db.close()
    for i in range(5):
        copy_locs(tmp_path / "crash" / f"lost_{i}_locs.hdf5")

    child = _python(KILLED, db_path, tmp_path / "crash")
    line = child.stdout.readline()
    assert line.strip() == "inside", child.stderr.read()
    # While the writer holds its open transaction, a reader sees the committed state only.
    reader = open_database(db_path, readonly=True)
    assert summary(reader)["rows"] == 3
    reader.close()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert (db_path.parent / (db_path.name + "-wal")).exists()

    db = open_database(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = query_rows(db)
    assert sorted(r["filename"] for r in rows) == [f"kept_{i}_locs.hdf5" for i in range(3)]
    assert {r["group_name"] for r in rows} == {"kept"}
    # The columns the killed transaction added are gone with it, from table and registry alike.
    assert "new_metric" not in db["localizations"].columns_dict
    assert db.execute("SELECT COUNT(*) FROM columns WHERE source = 'new_metric'").fetchone()[0] == 0
    # And the database takes new writes.
    record_localization(db, tmp_path / "crash" / "lost_0_locs.hdf5", metrics={"nena_px": 0.2, "new_metric": 1.0})
    assert summary(db)["rows"] == 4
    db.close()
    # A plain sqlite3 connection agrees (nothing hidden in our layer).
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM localizations").fetchone()[0] == 4


def test_a_real_watch_process_and_the_viewer_write_at_once(tmp_path, db_path, copy_locs, camera):
    """``napari-picasso watch`` localizes movies dropped into a folder while this process
    (the viewer's explorer: ``add_paths``, one file a transaction) imports 30 files into
    the same database: every row of both arrives."""

    from napari_picasso.db import add_paths
    from napari_picasso.simulate import blinking_sites, write_movie

    folder = tmp_path / "acquisitions"
    folder.mkdir()
    n_movies = 12
    groups = tmp_path / "groups.yaml"
    groups.write_text("- {gradient: 1500, baseline: 100, sensitivity: 0.5}\n")
    src = Path(__file__).resolve().parents[2] / "src"
    env = {
        **os.environ,
        "NAPARI_PICASSO_DB": str(db_path),
        "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "napari_picasso",
            "watch",
            str(folder),
            "--db",
            str(db_path),
            "--settle-seconds",
            "0.3",
            "--rescan-seconds",
            "0.5",
            "--quiet",
            "--groups",
            str(groups),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def drop(i):
        truth = blinking_sites(60, 32, 32, n_sites=8, photons=1500, seed=i)
        write_movie(tmp_path / f"m{i:02d}.raw", truth, 60, 32, 32, bg_photons=50, camera=camera, seed=i)
        for name in (f"m{i:02d}.raw", f"m{i:02d}.yaml"):  # appear complete, as a finished acquisition
            os.replace(tmp_path / name, folder / name)

    try:
        drop(0)
        db = open_database(db_path)

        def watched_rows():
            return sum(r["group_name"] != "viewer" for r in query_rows(db, columns=["group_name"]))

        # the viewer imports, one file a transaction, from the watcher's first row until its
        # last (and at least 30 files); the next movie arrives after each import, so the two
        # keep writing at once however fast either is
        deadline = time.monotonic() + 180
        while watched_rows() == 0 and time.monotonic() < deadline:
            assert watcher.poll() is None, watcher.stderr.read()
            time.sleep(0.05)
        imported, overlapped, dropped = 0, 0, 1
        while (imported < 30 or watched_rows() < n_movies) and time.monotonic() < deadline:
            assert watcher.poll() is None, watcher.stderr.read()
            path = copy_locs(tmp_path / "viewer" / f"viewer_{imported:03d}_locs.hdf5")
            assert len(add_paths(db, [path], group="viewer").added) == 1
            imported += 1
            overlapped += watched_rows() < n_movies
            if dropped < n_movies:
                drop(dropped)
                dropped += 1
    finally:
        watcher.send_signal(signal.SIGTERM)
        try:
            watcher.wait(60)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()
    rows = query_rows(db, columns=["locs_path", "group_name", "status"])
    db.close()
    watched = sorted(Path(r["locs_path"]).name for r in rows if r["group_name"] != "viewer")
    assert watched == [f"m{i:02d}_locs.hdf5" for i in range(n_movies)]
    assert all(r["status"] == "ok" for r in rows)
    assert sum(r["group_name"] == "viewer" for r in rows) == imported >= 30
    assert overlapped > 0, "the viewer's writes did not overlap the watcher's"
