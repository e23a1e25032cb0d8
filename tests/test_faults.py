"""Faults (issue 18): full disks, bad descriptions, loops, deep trees, kills, misleading errors.

Each test reproduces a fault the way a user meets it: through ``napari-picasso localize``,
``watch`` or ``db``, or a watcher in a thread, on real files and a real SQLite database.
The full disk is a write wrapper that fails with ENOSPC after a chosen number of bytes,
and, where this process may mount one (root), a real small tmpfs.
"""

import contextlib
import errno
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from napari_picasso import cli
from napari_picasso.io import locs as locs_io
from napari_picasso.io.locs import GuardedFile, load_locs
from napari_picasso.io.raw import write_raw_info
from napari_picasso.pipeline import LocalizeParameters
from napari_picasso.simulate import simulate_movie
from napari_picasso.watcher import Watcher, WatcherStore, read_events
from napari_picasso.watcher import runner as watcher_runner

SRC = Path(__file__).resolve().parents[1] / "src"
SETTLE_S = 0.3


@pytest.fixture(scope="module")
def frames(camera):
    movie, _ = simulate_movie(
        30, 32, 32, camera=camera, seed=3, n_sites=6, photons=1500, mean_on_frames=4, mean_off_frames=6
    )
    return movie.astype(np.uint16)


@pytest.fixture(scope="module")
def params(camera):
    return LocalizeParameters(
        box=7, min_net_gradient=1500.0, baseline=camera.baseline, sensitivity=camera.sensitivity, em_gain=camera.em_gain
    )


def cli_options(camera):
    return ["--gradient", "1500", "--baseline", str(camera.baseline), "--sensitivity", str(camera.sensitivity)]


def write_raw(path, frames):
    path = Path(path)
    staged = path.with_name("." + path.name)
    frames.astype("<u2").tofile(staged)
    n, h, w = frames.shape
    write_raw_info(path, w, h, n, "uint16", "<")
    os.replace(staged, path)
    return path


def wait_for(predicate, timeout_s=30.0, interval_s=0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def events(log_path, kind=None):
    if not Path(log_path).exists():
        return []
    return [e for e in read_events(log_path) if kind is None or e[1] == kind]


def db_rows(db_path):
    store = WatcherStore(db_path)
    try:
        return store.rows()
    finally:
        store.close()


@contextlib.contextmanager
def running(folder, groups, tmp_path, **options):
    options.setdefault("settle_seconds", SETTLE_S)
    options.setdefault("rescan_seconds", 2.0)
    watcher = Watcher([folder], groups, db_path=tmp_path / "db.sqlite", log_path=tmp_path / "watcher.log", **options)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop(timeout=30)
    assert not watcher.running


def run_cli(*argv):
    """``napari-picasso ARGV`` in a fresh process: (exit code, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-m", "napari_picasso", *map(str, argv)], env=env, capture_output=True, text=True, timeout=300
    )
    return done.returncode, done.stdout, done.stderr


# -- 2. a full disk ---------------------------------------------------------------------
class _DiskFillsAt:
    """``io.locs.output_file`` whose writes fail with ENOSPC once ``limit`` bytes are written."""

    def __init__(self, limit, files=1):
        self.limit, self.files_left, self.written = limit, files, 0

    def __call__(self, path, mode):
        fills = self

        class Filling(GuardedFile):
            def write(self, data):
                if self.failed is None and fills.files_left > 0:
                    fills.written += memoryview(data).nbytes
                    if fills.written > fills.limit:
                        fills.files_left -= 1
                        fills.written = 0
                        self.failed = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return super().write(data)

        return Filling(path, mode)


def assert_no_partials(folder):
    assert not [p for p in Path(folder).iterdir() if p.name.endswith(".part") or "_locs" in p.name]


def test_localize_on_a_full_disk_fails_cleanly_with_a_failed_row(tmp_path, frames, camera, monkeypatch, capsys):
    movie = write_raw(tmp_path / "m.raw", frames)
    monkeypatch.setattr(locs_io, "output_file", _DiskFillsAt(limit=3000))
    code = cli.main(["localize", str(movie), "--db", str(tmp_path / "db.sqlite"), "--quiet", *cli_options(camera)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"no space left on {tmp_path}" in err and "Traceback" not in err
    assert_no_partials(tmp_path)
    (row,) = db_rows(tmp_path / "db.sqlite")
    assert row["status"] == "failed" and f"no space left on {tmp_path}" in row["reason"]


def test_yaml_on_a_full_disk_leaves_no_half_output(tmp_path, frames, camera, monkeypatch, capsys):
    movie = write_raw(tmp_path / "m.raw", frames)
    fills = _DiskFillsAt(limit=10**9)

    def yaml_fails(path, mode):  # the .hdf5 is written, its .yaml finds the disk full
        if str(path).endswith(".yaml.part"):
            fills.limit = 10
        return fills(path, mode)

    monkeypatch.setattr(locs_io, "output_file", yaml_fails)
    code = cli.main(["localize", str(movie), "--no-db", "--quiet", *cli_options(camera)])
    assert code == 1 and "no space left on" in capsys.readouterr().err
    assert_no_partials(tmp_path)


def test_watcher_pauses_on_a_full_disk_and_retries_when_space_returns(tmp_path, frames, params, monkeypatch):
    folder = tmp_path / "acq"
    folder.mkdir()
    monkeypatch.setattr(locs_io, "output_file", _DiskFillsAt(limit=3000, files=1))
    free = {"bytes": 1000}
    monkeypatch.setattr(watcher_runner, "free_bytes", lambda _folder: free["bytes"])
    write_raw(folder / "a.raw", frames)
    write_raw(folder / "b.raw", frames)
    with running(folder, [params], tmp_path) as watcher:
        assert wait_for(lambda: events(tmp_path / "watcher.log", "paused"))
        time.sleep(4 * SETTLE_S)  # paused: b.raw writes to the same disk and waits too
        assert not events(tmp_path / "watcher.log", "finished")
        assert watcher.counts["failed"] == 1
        (row,) = db_rows(tmp_path / "db.sqlite")
        assert row["status"] == "failed" and f"no space left on {folder}" in row["reason"]
        free["bytes"] = 10 * 2**20  # space freed
        assert wait_for(lambda: len(events(tmp_path / "watcher.log", "finished")) == 2)
    rows = db_rows(tmp_path / "db.sqlite")
    assert sorted((Path(r["locs_path"]).name, r["status"]) for r in rows) == [
        ("a_locs.hdf5", "ok"),
        ("b_locs.hdf5", "ok"),
    ]
    assert len(events(tmp_path / "watcher.log", "started")) == 3  # a, a again, b


def test_restarted_watcher_retries_a_movie_failed_on_a_full_disk(tmp_path, frames, params, monkeypatch):
    folder = tmp_path / "acq"
    folder.mkdir()
    write_raw(folder / "a.raw", frames)
    with monkeypatch.context() as patch:
        patch.setattr(locs_io, "output_file", _DiskFillsAt(limit=3000, files=1))
        with running(folder, [params], tmp_path):
            assert wait_for(lambda: events(tmp_path / "watcher.log", "paused"))
    assert db_rows(tmp_path / "db.sqlite")[0]["status"] == "failed"
    with running(folder, [params], tmp_path):  # killed or stopped, then started again: space is back
        assert wait_for(lambda: events(tmp_path / "watcher.log", "finished"))
    (row,) = db_rows(tmp_path / "db.sqlite")
    assert row["status"] == "ok"


def _can_mount():
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount") is not None


@contextlib.contextmanager
def small_tmpfs(path, size_kb):
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.skipif(not _can_mount(), reason="mounting a small tmpfs needs root")
def test_real_full_tmpfs_localize_and_watch(tmp_path, camera):
    big, _ = simulate_movie(
        200, 64, 64, camera=camera, seed=4, n_sites=60, photons=1500, mean_on_frames=4, mean_off_frames=4
    )
    movie = write_raw(tmp_path / "big.raw", big.astype(np.uint16))
    with small_tmpfs(tmp_path / "disk", 64) as disk:
        code, _, err = run_cli("localize", movie, "--out", disk, "--db", tmp_path / "db.sqlite", *cli_options(camera))
        assert code == 1, err  # was 139: a segfault
        assert f"no space left on {disk}" in err and "Traceback" not in err
        assert list(disk.iterdir()) == []
        (row,) = db_rows(tmp_path / "db.sqlite")
        assert row["status"] == "failed" and "no space left on" in row["reason"]


@pytest.mark.skipif(not _can_mount(), reason="mounting a small tmpfs needs root")
def test_real_full_tmpfs_watcher_waits_for_space(tmp_path, frames, params):
    # An output takes at least one 1 MiB chunk: freeing the ballast makes room for it.
    with small_tmpfs(tmp_path / "disk", 4096) as disk:
        ballast = disk / "ballast.bin"
        with open(ballast, "wb") as f:  # fill the disk but for a little
            f.write(b"\0" * (4096 * 1024 - 128 * 1024))
        write_raw(disk / "a.raw", frames)
        with contextlib.suppress(OSError), open(disk / "ballast2.bin", "wb") as f:
            f.write(b"\0" * (4096 * 1024))
        with running(disk, [params], tmp_path):
            assert wait_for(lambda: events(tmp_path / "watcher.log", "paused"), timeout_s=60)
            (row,) = db_rows(tmp_path / "db.sqlite")
            assert row["status"] == "failed" and f"no space left on {disk}" in row["reason"]
            ballast.unlink()
            assert wait_for(lambda: events(tmp_path / "watcher.log", "finished"), timeout_s=60)
        (row,) = db_rows(tmp_path / "db.sqlite")
        assert row["status"] == "ok"
        assert len(load_locs(disk / "a_locs.hdf5", with_info=False)) == row["n_locs"]


def test_guarded_file_keeps_the_first_error(tmp_path):
    handle = _DiskFillsAt(limit=4)(tmp_path / "x", "wb")
    assert handle.write(b"12345678") == 8
    handle.close()
    assert handle.failed.errno == errno.ENOSPC
    assert isinstance(handle, io.FileIO)


# -- 6. a .raw larger than its .yaml says -------------------------------------------------
@pytest.mark.parametrize(
    ("described", "problem"),
    [
        ((32, 32, 10), "holds 61440 bytes but m.yaml describes 10 frames of 32x32 uint16 (20480 bytes)"),
        ((30, 32, 30), "describes 30 frames of 30x32 uint16 (57600 bytes)"),
    ],
)
def test_raw_larger_than_described_is_refused(tmp_path, frames, camera, described, problem, capsys):
    movie = tmp_path / "m.raw"
    frames.astype("<u2").tofile(movie)  # 30 frames of 32x32
    write_raw_info(movie, *described, "uint16", "<")
    code = cli.main(["localize", str(movie), "--no-db", "--quiet", *cli_options(camera)])
    err = capsys.readouterr().err
    assert code == 1 and problem in err and "larger than described" in err
    assert not list(tmp_path.glob("*_locs*"))


# -- 7. silent nonsense ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--gradient", "nan"], "--gradient"),
        (["--baseline", "nan"], "--baseline"),
        (["--pixelsize", "0"], "--pixelsize"),
    ],
)
def test_nonsense_values_are_refused_by_the_command_line(tmp_path, frames, options, words, capsys):
    movie = write_raw(tmp_path / "m.raw", frames)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["localize", str(movie), "--no-db", *options])
    assert stopped.value.code == 2 and words in capsys.readouterr().err
    assert not list(tmp_path.glob("*_locs*"))


def test_box_larger_than_the_frame_and_zero_frames_are_refused(tmp_path, frames, camera, capsys):
    movie = write_raw(tmp_path / "m.raw", frames)
    tiny = write_raw(tmp_path / "tiny.raw", frames[:, :5, :5])
    empty = tmp_path / "empty.raw"
    empty.write_bytes(b"")
    write_raw_info(empty, 32, 32, 0, "uint16", "<")
    for movie_path, options, problem in [
        (movie, ["--box", "51"], "box (51 px) is larger than the m.raw's 32x32 frame"),
        (tiny, ["--box", "7"], "box (7 px) is larger than the tiny.raw's 5x5 frame"),
        (empty, [], "holds no frames"),
    ]:
        code = cli.main(["localize", str(movie_path), "--db", str(tmp_path / "db.sqlite"), "-q", *options])
        assert code == 1 and problem in capsys.readouterr().err
    assert not list(tmp_path.glob("*_locs*"))
    rows = db_rows(tmp_path / "db.sqlite")
    assert [r["status"] for r in rows] == ["failed"] * 3


def test_zero_frame_raw_fails_the_same_in_the_watcher(tmp_path, params):
    folder = tmp_path / "acq"
    folder.mkdir()
    (folder / "empty.raw").write_bytes(b"")
    write_raw_info(folder / "empty.raw", 32, 32, 0, "uint16", "<")
    with running(folder, [params], tmp_path):
        assert wait_for(lambda: events(tmp_path / "watcher.log", "failed"))
    (row,) = db_rows(tmp_path / "db.sqlite")
    assert row["status"] == "failed" and "holds no frames" in row["reason"]


def test_too_many_spots_per_frame_warn(tmp_path, camera, capsys):
    noise, _ = simulate_movie(10, 64, 64, camera=camera, seed=1, n_sites=0, photons=1500)
    movie = write_raw(tmp_path / "noise.raw", noise.astype(np.uint16))
    code = cli.main(["localize", str(movie), "--no-db", "-q", "--gradient", "0", "--baseline", "100"])
    err = capsys.readouterr().err
    assert code == 0 and "localizations per frame" in err and "--gradient 0" in err


def test_localize_exit_code_says_the_row_was_not_written(tmp_path, frames, camera, capsys):
    movie = write_raw(tmp_path / "m.raw", frames)
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("not a database\n" * 100)
    code = cli.main(["localize", str(movie), "--db", str(not_a_db), "-q", *cli_options(camera)])
    err = capsys.readouterr().err
    assert code == 3 and "warning:" in err and "not recorded" in err
    assert (tmp_path / "m_locs.hdf5").exists()


# -- 8. errors that mislead ------------------------------------------------------------------
def test_out_pointing_at_a_file_is_a_clear_error(tmp_path, frames, capsys):
    movie = write_raw(tmp_path / "m.raw", frames)
    (tmp_path / "results").write_text("a file")
    code = cli.main(["localize", str(movie), "--no-db", "--out", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert code == 2 and "is a file, not a folder" in err and "FileExistsError" not in err


@contextlib.contextmanager
def read_only_folder(path):
    """``path`` made read-only: chmod, or (root ignores modes) a tmpfs remounted read-only."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        if not _can_mount():
            pytest.skip("root ignores file modes and cannot mount here")
        with small_tmpfs(path, 4096) as disk:
            yield disk, lambda: subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        return
    path.mkdir()
    try:
        yield path, lambda: (os.chmod(path / "db.sqlite", 0o444), os.chmod(path, 0o555))
    finally:
        os.chmod(path, 0o755)


def test_read_only_database_is_named_read_only(tmp_path, frames, camera, capsys):
    movie = write_raw(tmp_path / "m.raw", frames)
    with read_only_folder(tmp_path / "ro") as (folder, make_read_only):
        db_path = folder / "db.sqlite"
        assert cli.main(["db", "add", str(tmp_path), "--db", str(db_path)]) == 0
        make_read_only()
        capsys.readouterr()
        code = cli.main(["localize", str(movie), "--db", str(db_path), "-q", *cli_options(camera)])
        err = capsys.readouterr().err
        assert code == 3 and "read-only" in err and "move this one away" not in err
        code = cli.main(["db", "add", str(tmp_path), "--db", str(db_path)])
        err = capsys.readouterr().err
        assert code != 0 and "read-only" in err and "Traceback" not in err and "OperationalError" not in err


def test_database_on_a_full_disk_is_named_full(tmp_path, frames, camera, capsys):
    if not _can_mount():
        pytest.skip("a full disk for SQLite needs a small tmpfs (root)")
    movie = write_raw(tmp_path / "m.raw", frames)
    with small_tmpfs(tmp_path / "disk", 256) as disk:
        with contextlib.suppress(OSError), open(disk / "ballast", "wb") as f:
            f.write(b"\0" * (1024 * 1024))
        code = cli.main(["localize", str(movie), "--db", str(disk / "db.sqlite"), "-q", *cli_options(camera)])
        err = capsys.readouterr().err
        assert code == 3 and "disk is full" in err and "move this one away" not in err


def test_locked_database_is_named_locked(tmp_path, monkeypatch):
    from napari_picasso.db import schema

    monkeypatch.setattr(schema, "BUSY_TIMEOUT_S", 0.2)
    db_path = tmp_path / "db.sqlite"
    schema.open_database(db_path).close()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(schema.DatabaseUnusable, match="is locked by another program"):
            schema.open_database(db_path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# -- 3. symbolic link loops, 4. deep trees ----------------------------------------------------
def remove_tree(root):
    """Remove a tree without recursion (shutil.rmtree and pytest's cleanup recurse)."""
    from napari_picasso.io.walk import walk_folders

    folders = []
    for folder, entries in walk_folders(root):
        folders.append(folder)
        for entry in entries:
            if entry.is_symlink() or not entry.is_dir(follow_symlinks=False):
                os.unlink(entry.path)
    for folder in reversed(folders):
        os.rmdir(folder)


@pytest.fixture
def deep_tree(tmp_path, frames):
    """``tmp_path/deep/d/d/.../d/m.raw``: a movie 1,000 folders down (removed iteratively)."""
    root = tmp_path / "deep"
    bottom = str(root)
    os.mkdir(bottom)
    for _ in range(1000):  # os.makedirs and Path.mkdir(parents=True) recurse
        bottom = os.path.join(bottom, "d")
        os.mkdir(bottom)
    bottom = Path(bottom)
    write_raw(bottom / "m.raw", frames)
    yield root, bottom
    remove_tree(root)


@pytest.fixture
def looped_tree(tmp_path, frames):
    """``tmp_path/loop/m.raw`` with ``sub/up -> ..`` and ``sub/again -> ../sub``."""
    root = tmp_path / "loop"
    (root / "sub").mkdir(parents=True)
    write_raw(root / "m.raw", frames)
    (root / "sub" / "up").symlink_to("..")
    (root / "sub" / "again").symlink_to("../sub")
    return root


def test_localize_folder_with_a_link_loop_finds_each_movie_once(looped_tree, camera, capsys):
    code = cli.main(["localize", str(looped_tree), "--no-db", "-q", *cli_options(camera)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "1 of 1 movies localized" in captured.out and "Too many levels" not in captured.err
    assert sorted(p.name for p in looped_tree.iterdir()) == ["m.raw", "m.yaml", "m_locs.hdf5", "m_locs.yaml", "sub"]


def test_recursive_watch_with_a_link_loop_records_one_row(looped_tree, tmp_path, params):
    with running(looped_tree, [params], tmp_path, recursive=True):
        assert wait_for(lambda: events(tmp_path / "watcher.log", "finished"))
        time.sleep(5 * SETTLE_S)
    rows = db_rows(tmp_path / "db.sqlite")
    assert [Path(r["locs_path"]).name for r in rows] == ["m_locs.hdf5"]
    assert len(events(tmp_path / "watcher.log", "found")) == 1


def test_deep_tree_localize_db_add_and_watch(deep_tree, tmp_path, camera, params, capsys):
    root, bottom = deep_tree
    code = cli.main(["localize", str(root), "--no-db", "-q", *cli_options(camera)])
    assert code == 0, capsys.readouterr().err
    assert (bottom / "m_locs.hdf5").exists()
    assert cli.main(["db", "add", str(root), "--db", str(tmp_path / "db.sqlite")]) == 0
    assert "RecursionError" not in capsys.readouterr().err
    (row,) = db_rows(tmp_path / "db.sqlite")
    assert row["status"] == "ok"
    (bottom / "m_locs.hdf5").unlink()
    (bottom / "m_locs.yaml").unlink()
    os.unlink(tmp_path / "db.sqlite")
    with running(root, [params], tmp_path, recursive=True) as watcher:
        assert wait_for(lambda: events(tmp_path / "watcher.log", "finished"), timeout_s=60)
    assert watcher.error is None and (bottom / "m_locs.hdf5").exists()


# -- 1. a done movie that grows, 5. a lost row, 10. a command left running ------------------------
RECORDER = """
import os, sys, time
record, tag, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
with open(record, "a") as f:
    f.write(f"{tag} start {os.getpid()}\\n")
time.sleep(seconds)
with open(record, "a") as f:
    f.write(f"{tag} end\\n")
"""


def recorder_command(tmp_path, tag="X", seconds=0.0):
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    return f"{sys.executable} {script} {tmp_path / 'record.txt'} {tag} {seconds} $FILENAME"


def recorded(tmp_path):
    record = tmp_path / "record.txt"
    return record.read_text().splitlines() if record.exists() else []


def grow(movie, frames):
    """Rewrite a .raw with more frames as an acquisition that went on would (.yaml first)."""
    n, h, w = frames.shape
    write_raw_info(movie, w, h, n, "uint16", "<")
    with open(movie, "ab") as f:
        f.write(frames[movie.stat().st_size // (h * w * 2) :].astype("<u2").tobytes())


def test_done_movie_that_grows_is_redone_also_after_a_restart(tmp_path, frames, params):
    folder = tmp_path / "acq"
    folder.mkdir()
    movie = write_raw(folder / "m.raw", frames[:10])
    locs = folder / "m_locs.hdf5"
    command = recorder_command(tmp_path)
    with running(folder, [params], tmp_path, commands=[command]):
        assert wait_for(lambda: len(recorded(tmp_path)) == 2)
        assert db_rows(tmp_path / "db.sqlite")[0]["frames"] == 10
        grow(movie, frames[:20])  # the acquisition goes on after a long pause
        assert wait_for(lambda: len(recorded(tmp_path)) == 4)
        assert events(tmp_path / "watcher.log", "changed")
    (row,) = db_rows(tmp_path / "db.sqlite")
    assert row["status"] == "ok" and row["frames"] == 20
    assert load_locs(locs)[1][0]["Frames"] == 20
    grow(movie, frames[:30])  # while no watcher runs
    with running(folder, [params], tmp_path, commands=[command]):
        assert wait_for(lambda: len(recorded(tmp_path)) == 6)
    (row,) = db_rows(tmp_path / "db.sqlite")
    assert row["frames"] == 30 and load_locs(locs)[1][0]["Frames"] == 30
    assert not list(folder.glob("*.part"))
    with running(folder, [params], tmp_path, commands=[command]):  # unchanged: nothing redone
        time.sleep(6 * SETTLE_S)
    assert len(recorded(tmp_path)) == 6


def test_output_without_its_row_gets_its_commands_run(tmp_path, frames, camera, params):
    """The state a watcher killed between the output's rename and its row leaves."""
    folder = tmp_path / "acq"
    folder.mkdir()
    movie = write_raw(folder / "m.raw", frames)
    assert cli.main(["localize", str(movie), "--no-db", "-q", *cli_options(camera)]) == 0
    with running(folder, [params], tmp_path, commands=[recorder_command(tmp_path)]):
        assert wait_for(lambda: len(recorded(tmp_path)) == 2)
    (row,) = db_rows(tmp_path / "db.sqlite")
    assert row["status"] == "ok" and not events(tmp_path / "watcher.log", "started")
    assert events(tmp_path / "watcher.log", "resumed")


def _watch_process(folder, tmp_path, camera, *options):
    import yaml

    groups = tmp_path / "groups.yaml"
    groups.write_text(yaml.safe_dump([{"gradient": 1500, "baseline": camera.baseline, "sensitivity": 0.5}]))
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [sys.executable, "-m", "napari_picasso", "watch", str(folder), "--groups", str(groups)]
        + ["--settle-seconds", "0.3", "--db", str(tmp_path / "db.sqlite"), "--log", str(tmp_path / "watcher.log")]
        + ["--quiet", *options],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(process, signal_number=None):
    if process.poll() is None:
        if signal_number is None:
            process.terminate()
        else:
            os.kill(process.pid, signal_number)
    try:
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_command_left_running_by_a_killed_watcher_is_not_started_again(tmp_path, frames, camera):
    import signal

    folder = tmp_path / "acq"
    folder.mkdir()
    write_raw(folder / "m.raw", frames)
    command = recorder_command(tmp_path, "X", 6.0)
    process = _watch_process(folder, tmp_path, camera, "--command", command)
    try:
        assert wait_for(lambda: len(recorded(tmp_path)) == 1, timeout_s=120), process.stderr.read1()
    finally:
        stop(process, signal.SIGKILL)  # the command goes on: its own process group
    process = _watch_process(folder, tmp_path, camera, "--command", command)
    try:
        assert wait_for(lambda: len(recorded(tmp_path)) == 2, timeout_s=60)  # the orphan ended
        time.sleep(2.0)  # would it start again?
    finally:
        stop(process)
    assert [line.split()[:2] for line in recorded(tmp_path)] == [["X", "start"], ["X", "end"]]
    assert any("still runs" in e[3] for e in events(tmp_path / "watcher.log", "waiting"))
    store = WatcherStore(tmp_path / "db.sqlite")
    try:
        assert store.pending_commands(folder / "m_locs.hdf5") == []
        assert store.running_command(folder / "m_locs.hdf5") is None
    finally:
        store.close()


# -- the soak, small ------------------------------------------------------------------------
def test_soak_small_with_random_kills(tmp_path):
    """12 movies of 6 kinds, 2 random SIGKILLs of ``watch``; benchmarks/soak_watcher.py runs 300."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("soak_watcher", SRC.parent / "benchmarks" / "soak_watcher.py")
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    result = soak.run_soak(tmp_path / "soak", n_movies=12, n_kills=2, seed=1, timeout_s=240)
    assert result["problems"] == [] and result["integrity"] == "ok"
    assert result["rows"] == 12 and result["good_equal_to_fresh"] == result["good"] == 4
