"""Live localization (issue 24): ``localize --follow`` while a second process writes the movie.

Each test starts a writer process (``simulate.acquire_movie``: one frame at a time, flushed,
as a camera program writes) and ``napari-picasso localize MOVIE --follow`` as a user runs
it; the outputs must equal, bit for bit, those of localizing the finished file.
"""

import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from napari_picasso.cli import main
from napari_picasso.io.follow import follow_movie
from napari_picasso.io.locs import load_locs, yaml_path_for
from napari_picasso.pipeline import LocalizeParameters, localize
from napari_picasso.simulate import acquire_movie, acquired_movie_path, simulate_movie

N_FRAMES, SIZE, SEED = 120, 40, 3
IDLE_S = 1.5
OPTIONS = ["--baseline", "100", "--sensitivity", "1", "--gain", "1", "--gradient", "1000"]

# The writer: first frame at once, then waits for the go file (the follower is running),
# then the rest at 40 frames/s, printing when each frame is on disk.
WRITER = """
import sys, time
from pathlib import Path
from napari_picasso.simulate import acquire_movie, simulate_movie
folder, fmt, n, size, seed, stop = sys.argv[1:]
frames = simulate_movie(int(n), int(size), int(size), seed=int(seed))[0]
go = Path(folder) / "go"
def on_frame(i, seconds):
    print(i, repr(seconds), flush=True)
    if i == 0:
        while not go.exists():
            time.sleep(0.01)
acquire_movie(folder, fmt, frames, frames_per_second=40, frames_per_file=50,
              stop_inside_frame=None if stop == "-" else int(stop), on_frame=on_frame)
print("END", flush=True)
if stop != "-":
    time.sleep(120)  # a crashed writer never writes again
"""


def frames():
    return simulate_movie(N_FRAMES, SIZE, SIZE, seed=SEED)[0]


@pytest.fixture(scope="module", autouse=True)
def compiled_kernels():
    """numba's kernels compiled into its cache first: the timed runs load them."""
    localize(frames()[:4], LocalizeParameters(baseline=100, sensitivity=1, em_gain=1, min_net_gradient=1000))


class Lines:
    """A process's output read line by line in a thread."""

    def __init__(self, stream):
        self.lines = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append((time.time(), line.rstrip("\n")))

    def wait_for(self, text, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if any(text in line for _, line in self.lines):
                return True
            time.sleep(0.02)
        return False


def run_live(tmp_path, fmt, stop="-"):
    """Writer + ``localize --follow``; returns (movie, follow's exit time, writer lines, follow stderr)."""
    folder = tmp_path / fmt
    folder.mkdir()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), fmt, str(N_FRAMES), str(SIZE), str(SEED), stop],
        stdout=subprocess.PIPE,
        text=True,
    )
    written = Lines(writer.stdout)
    follow = None
    try:
        assert written.wait_for("0 ", 120), "the writer did not start"
        movie = acquired_movie_path(folder, fmt)
        follow = subprocess.Popen(
            [sys.executable, "-m", "napari_picasso", "localize", str(movie), "--follow"]
            + ["--idle-seconds", str(IDLE_S), "--db", str(tmp_path / "live.sqlite"), *OPTIONS],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        said = Lines(follow.stderr)
        out = Lines(follow.stdout)
        assert said.wait_for("frames localized", 120), [line for _, line in said.lines]
        (folder / "go").touch()
        follow.wait(timeout=120)
        said.thread.join(5)
        out.thread.join(5)
        # the end: the outputs in place (the _locs.yaml is written, then renamed, at the end;
        # the database row and the summary line follow)
        ended = min(p.stat().st_mtime for p in folder.glob("*_locs.yaml"))
        assert follow.returncode == 0, [line for _, line in said.lines]
        if stop == "-":
            writer.wait(timeout=60)
        return movie, ended, written.lines, [line for _, line in said.lines + out.lines]
    finally:
        for process in (writer, follow):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def last_frame_time(lines):
    return max(float(line.split()[1]) for _, line in lines if line.split()[0].isdigit())


def assert_same_outputs(followed, finished):
    a, b = load_locs(followed, with_info=False), load_locs(finished, with_info=False)
    assert a.dtype == b.dtype and np.array_equal(a, b)
    assert yaml_path_for(followed).read_text() == yaml_path_for(finished).read_text()
    assert followed.read_bytes() == finished.read_bytes()  # the HDF5 files too, byte for byte


@pytest.mark.parametrize("fmt", ["tif", "mmstack", "ndtiff", "raw"])
def test_follow_equals_the_finished_file(tmp_path, fmt):
    movie, ended, written, said = run_live(tmp_path, fmt)
    # ended within idle + 2 s of the last frame (a .raw ends at its end marker at once)
    assert ended - last_frame_time(written) < IDLE_S + 2.0, said
    locs_path = movie.with_name(movie.name.split(".")[0] + "_locs.hdf5")
    assert locs_path.exists(), said
    kept = tmp_path / "followed_locs.hdf5"
    shutil.move(locs_path, kept)
    shutil.move(yaml_path_for(locs_path), yaml_path_for(kept))
    assert main(["localize", str(movie), "--no-db", "-q", *OPTIONS]) == 0
    assert_same_outputs(kept, locs_path)
    locs = load_locs(kept, with_info=False)
    assert len(locs) > 100 and locs["frame"].max() >= N_FRAMES - 5
    assert not any("error" in line.lower() or "Traceback" in line for line in said), said
    assert any(f"{N_FRAMES} frames localized, movie ended" in line for line in said), said
    if fmt == "mmstack":
        assert movie.with_name("live_MMStack_Pos0_2.ome.tif").exists()  # followed across rollovers
    from napari_picasso.db import open_database

    db = open_database(tmp_path / "live.sqlite")
    try:
        rows = db.execute("select count(*) from localizations").fetchone()[0]
    finally:
        db.close()
    assert rows == 1


@pytest.mark.parametrize("fmt", ["raw", "tif"])
def test_writer_stopped_inside_a_frame(tmp_path, fmt):
    stop = 70
    movie, ended, written, said = run_live(tmp_path, fmt, stop=str(stop))
    assert ended - last_frame_time(written) < IDLE_S + 2.0 + 1 / 40, said
    assert any("last frame was incomplete" in line for line in said), said
    locs_path = movie.with_name(movie.name.split(".")[0] + "_locs.hdf5")
    got = load_locs(locs_path, with_info=False)
    parameters = LocalizeParameters(baseline=100, sensitivity=1, em_gain=1, min_net_gradient=1000)
    expected = localize(frames()[:stop], parameters)
    assert np.array_equal(got, expected)


def test_follow_waits_for_background_windows(tmp_path):
    """Chunks wait for the frames of their background windows: equal to the finished movie."""
    folder = tmp_path / "bg"
    movie = frames()[:60]
    parameters = LocalizeParameters(
        baseline=100, sensitivity=1, em_gain=1, min_net_gradient=1000, background_frames="-5:6"
    )
    writer = threading.Thread(target=acquire_movie, args=(folder, "raw", movie), kwargs={"frames_per_second": 200})
    writer.start()
    with follow_movie(acquired_movie_path(folder, "raw"), idle_seconds=1.0) as growing:
        got = localize(growing, parameters, chunk_frames=4)
    writer.join()
    assert np.array_equal(got, localize(movie, parameters))


def test_follow_gives_up_on_a_movie_that_never_appears(tmp_path, capsys):
    code = main(["localize", str(tmp_path / "missing.tif"), "--follow", "--idle-seconds", "0.3", "--no-db", *OPTIONS])
    assert code == 1
    err = capsys.readouterr().err
    assert "missing.tif" in err and "did not appear within 0.3 s" in err and "Traceback" not in err


def test_follow_refuses_auto_baseline(tmp_path, capsys):
    folder = tmp_path / "a"
    acquire_movie(folder, "raw", frames()[:5], frames_per_second=1000)
    options = ["--sensitivity", "1", "--gain", "1", "--baseline", "auto"]
    code = main(["localize", str(acquired_movie_path(folder, "raw")), "--follow", "--no-db", "-q", *options])
    assert code == 1
    assert "--baseline auto" in capsys.readouterr().err


# -- the watcher's --live ---------------------------------------------------------------------
def _watcher_events(log_path, kind):
    from napari_picasso.watcher import read_events

    return [e for e in read_events(log_path) if e[1] == kind] if log_path.exists() else []


def _wait(predicate, timeout_s=60.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and not predicate():
        time.sleep(0.05)
    return predicate()


def test_watcher_live_starts_while_the_movie_is_written_and_restarts_safely(tmp_path):
    import datetime

    from napari_picasso.pipeline import localize_file
    from napari_picasso.watcher import Watcher, WatcherStore

    folder = tmp_path / "acq"
    folder.mkdir()
    movie = frames()
    parameters = LocalizeParameters(baseline=100, sensitivity=1, em_gain=1, min_net_gradient=1000)
    options = {"db_path": tmp_path / "db.sqlite", "settle_seconds": 1.0, "rescan_seconds": 0.5, "live": True}

    # stopped while following: nothing written, nothing recorded
    writer = threading.Thread(target=acquire_movie, args=(folder, "tif", movie), kwargs={"frames_per_second": 40})
    watcher = Watcher([folder], [parameters], log_path=tmp_path / "w1.log", **options)
    watcher.start()
    writer.start()
    assert _wait(lambda: watcher.current is not None)
    watcher.stop(timeout=30)
    assert not list(folder.glob("*_locs*")), "a stopped live run leaves no output"
    writer.join()

    # a new movie while a restarted watcher runs: started at once, the output of the finished file
    written = {}
    second = threading.Thread(
        target=acquire_movie,
        args=(folder / "b", "tif", movie),
        kwargs={"frames_per_second": 40, "on_frame": lambda i, t: written.__setitem__(i, t)},
    )
    watcher = Watcher([folder], [parameters], log_path=tmp_path / "w2.log", recursive=True, **options)
    watcher.start()
    try:
        second.start()
        assert _wait(lambda: len(_watcher_events(tmp_path / "w2.log", "finished")) == 2, 90)
    finally:
        watcher.stop(timeout=30)
    second.join()
    started = [e for e in _watcher_events(tmp_path / "w2.log", "started") if "/b/" in e[2]]
    when = datetime.datetime.strptime(started[0][0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC)
    assert when.timestamp() < max(written.values()), "the live watcher starts before the movie is finished"
    for path in (folder / "live.tif", folder / "b" / "live.tif"):
        reference = localize_file(path, parameters, tmp_path / "reference_locs.hdf5")
        assert np.array_equal(
            load_locs(path.with_name("live_locs.hdf5"), with_info=False),
            load_locs(reference.locs_path, with_info=False),
        )
    store = WatcherStore(tmp_path / "db.sqlite")
    try:
        assert sorted(r["status"] for r in store.rows()) == ["ok", "ok"]
    finally:
        store.close()


def test_idle_seconds_without_follow_is_an_error(tmp_path, capsys):
    assert main(["localize", str(tmp_path / "m.tif"), "--idle-seconds", "3", "--no-db", *OPTIONS]) == 2
    assert "--idle-seconds is the end rule of --follow" in capsys.readouterr().err
