"""The watcher with real files appearing in a folder while it runs."""

import contextlib
import gc
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import tifffile
import yaml

from napari_picasso.groups import load_groups, parameters_from_mapping
from napari_picasso.io.errors import InputFileError
from napari_picasso.io.locs import load_info, load_locs
from napari_picasso.io.raw import write_raw_info
from napari_picasso.pipeline import LocalizeParameters, localize_file
from napari_picasso.simulate import simulate_movie
from napari_picasso.watcher import Watcher, WatcherStore, classify, command_arguments, read_events, scan
from napari_picasso.watcher.candidates import Candidate

SRC = Path(__file__).resolve().parents[1] / "src"
SETTLE_S = 0.5


@pytest.fixture(scope="module")
def frames(camera):
    """40 frames of 32x32 blinking spots (uint16 camera counts)."""
    movie, _ = simulate_movie(
        40,
        32,
        32,
        camera=camera,
        seed=3,
        n_sites=6,
        photons=1500,
        mean_on_frames=4,
        mean_off_frames=6,
        min_distance_px=8,
    )
    return movie.astype(np.uint16)


@pytest.fixture(scope="module")
def params(camera):
    return LocalizeParameters(
        box=7, min_net_gradient=1500.0, baseline=camera.baseline, sensitivity=camera.sensitivity, em_gain=camera.em_gain
    )


def write_raw(path, frames):
    """A complete .raw + .yaml, written elsewhere and moved in (as a finished copy would be)."""
    path = Path(path)
    staged = path.with_name("." + path.name)  # hidden: watchers ignore it until it is renamed
    frames.astype("<u2").tofile(staged)
    n, h, w = frames.shape
    write_raw_info(path, w, h, n, "uint16", "<")
    os.replace(staged, path)
    return path


def write_tif(path, frames):
    path = Path(path)
    staged = path.with_name("." + path.name)
    tifffile.imwrite(staged, frames, photometric="minisblack", contiguous=True)
    os.replace(staged, path)
    return path


def wait_for(predicate, timeout_s=30.0, interval_s=0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def events(log_path, kind=None, path=None):
    if not Path(log_path).exists():
        return []
    found = read_events(log_path)
    return [e for e in found if (kind is None or e[1] == kind) and (path is None or e[2] == str(path))]


@contextlib.contextmanager
def running(folder, groups, tmp_path, **options):
    options.setdefault("settle_seconds", SETTLE_S)
    options.setdefault("rescan_seconds", 5.0)
    watcher = Watcher([folder], groups, db_path=tmp_path / "db.sqlite", log_path=tmp_path / "watcher.log", **options)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop(timeout=30)
    assert not watcher.running


def rows(tmp_path):
    """``(ok rows, failed rows)`` of the test's database."""
    store = WatcherStore(tmp_path / "db.sqlite")
    try:
        everything = store.rows()
    finally:
        store.close()
    return ([r for r in everything if r["status"] == "ok"], [r for r in everything if r["status"] == "failed"])


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "acquisitions"
    path.mkdir()
    return path


# -- behaviour -------------------------------------------------------------------------
def test_raw_written_slowly_is_processed_once_after_completion(folder, tmp_path, frames, params):
    movie = folder / "slow.raw"
    n, h, w = frames.shape
    write_raw_info(movie, w, h, n, "uint16", "<")
    pieces = np.array_split(frames.astype("<u2"), 5)
    with running(folder, [params], tmp_path) as watcher:
        with open(movie, "wb") as f:
            for piece in pieces:
                f.write(piece.tobytes())
                f.flush()
                time.sleep(SETTLE_S * 0.6)  # shorter pauses than the settle time
                assert not (folder / "slow_locs.hdf5").exists()
        completed = time.time()
        assert wait_for(lambda: events(tmp_path / "watcher.log", "finished", movie))
        time.sleep(3 * SETTLE_S)  # would a second run start?
        assert watcher.error is None
    log = events(tmp_path / "watcher.log", path=movie)
    kinds = [e[1] for e in log]
    assert kinds.count("started") == 1 and kinds.count("finished") == 1
    assert "waiting" in kinds and "failed" not in kinds
    started = next(e for e in log if e[1] == "started")
    started_s = time.mktime(time.strptime(started[0][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert started_s >= int(completed)  # not before the last piece was written
    localizations, failures = rows(tmp_path)
    assert failures == []
    assert [r["locs_path"] for r in localizations] == [str(folder / "slow_locs.hdf5")]
    assert localizations[0]["frames"] == n
    locs = load_locs(folder / "slow_locs.hdf5", with_info=False)
    assert len(locs) == localizations[0]["n_locs"] > 0
    assert locs["frame"].max() >= n - 10  # the last pieces were localized too


def test_file_failed_mid_write_is_retried_when_it_changes(folder, tmp_path, frames, params):
    movie = folder / "paused.raw"
    n, h, w = frames.shape
    write_raw_info(movie, w, h, n, "uint16", "<")
    data = frames.astype("<u2").tobytes()
    with running(folder, [params], tmp_path):
        with open(movie, "wb") as f:
            f.write(data[: len(data) // 2])
        # The acquisition pauses far longer than the settle time: truncated, so it fails.
        assert wait_for(lambda: events(tmp_path / "watcher.log", "failed", movie))
        assert rows(tmp_path)[1][0]["status"] == "failed"
        with open(movie, "ab") as f:
            f.write(data[len(data) // 2 :])
        assert wait_for(lambda: events(tmp_path / "watcher.log", "finished", movie))
    assert "truncated" in events(tmp_path / "watcher.log", "failed", movie)[0][3]
    localizations, failures = rows(tmp_path)
    assert failures == [] and len(localizations) == 1 and localizations[0]["frames"] == n


def _write_mmstack_series(folder, stem, parts, pause_s):
    """A Micro-Manager style rollover series (OME-TIFF over several files), file by file."""
    names = [f"{stem}.ome.tif"] + [f"{stem}_{i}.ome.tif" for i in range(1, len(parts))]
    n_total = sum(len(p) for p in parts)
    _, h, w = parts[0].shape
    uuids = [f"urn:uuid:00000000-0000-4000-8000-{i:012d}" for i in range(len(names))]
    blocks, first = [], 0
    for name, uuid, part in zip(names, uuids, parts):
        blocks.append(
            f'<TiffData FirstT="{first}" FirstZ="0" FirstC="0" IFD="0" PlaneCount="{len(part)}">'
            f'<UUID FileName="{name}">{uuid}</UUID></TiffData>'
        )
        first += len(part)
    for name, uuid, part in zip(names, uuids, parts):
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="{uuid}">'
            '<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" '
            f'SizeX="{w}" SizeY="{h}" SizeC="1" SizeZ="1" SizeT="{n_total}" BigEndian="false">'
            + "".join(blocks)
            + "</Pixels></Image></OME>"
        )
        tifffile.imwrite(folder / name, part, description=xml, metadata=None, contiguous=True)
        time.sleep(pause_s)
    return [folder / n for n in names]


def test_rollover_series_is_processed_once_as_one_movie(folder, tmp_path, frames, params):
    parts = np.array_split(frames, 3)
    with running(folder, [params], tmp_path) as watcher:
        files = _write_mmstack_series(folder, "cells_MMStack_Pos0", parts, pause_s=SETTLE_S * 0.5)
        assert wait_for(lambda: events(tmp_path / "watcher.log", "finished"))
        time.sleep(3 * SETTLE_S)
        assert watcher.error is None
    assert [p.name for p in files] == [
        "cells_MMStack_Pos0.ome.tif",
        "cells_MMStack_Pos0_1.ome.tif",
        "cells_MMStack_Pos0_2.ome.tif",
    ]
    outputs = sorted(p.name for p in folder.glob("*_locs.hdf5"))
    assert outputs == ["cells_MMStack_Pos0_locs.hdf5"]
    started = events(tmp_path / "watcher.log", "started")
    assert [e[2] for e in started] == [str(files[0])]
    localizations, failures = rows(tmp_path)
    assert failures == [] and len(localizations) == 1
    assert localizations[0]["frames"] == len(frames)  # all three files, one movie
    assert load_info(folder / "cells_MMStack_Pos0_locs.hdf5")[0]["Frames"] == len(frames)


def test_ndtiff_dataset_written_by_ndstorage_is_one_movie(folder, tmp_path, frames, params):
    ndstorage = pytest.importorskip("ndstorage")
    with running(folder, [params], tmp_path) as watcher:
        dataset = ndstorage.NDTiffDataset(str(folder), name="paint", writable=True)
        dataset.initialize({"Core-Camera": "Simulation"})
        with contextlib.redirect_stdout(io.StringIO()):
            for i, frame in enumerate(frames):
                dataset.put_image({"time": i}, np.ascontiguousarray(frame), {"Camera": "Simulation"})
                if i % 10 == 9:
                    time.sleep(SETTLE_S * 0.4)
            dataset.finish()
        assert wait_for(lambda: events(tmp_path / "watcher.log", "finished"))
        time.sleep(3 * SETTLE_S)
        assert watcher.error is None
    dataset_folder = folder / "paint_1"
    assert [e[2] for e in events(tmp_path / "watcher.log", "started")] == [str(dataset_folder)]
    assert sorted(p.name for p in folder.glob("*_locs.hdf5")) == ["paint_1_locs.hdf5"]
    localizations, failures = rows(tmp_path)
    assert failures == [] and len(localizations) == 1 and localizations[0]["frames"] == len(frames)
    assert localizations[0]["n_locs"] > 0


def test_reader_choices_pick_one_movie_of_a_multichannel_file(folder, tmp_path, frames, params):
    two_channels = np.stack([np.full_like(frames, 100), frames], axis=1)  # (T, C, Y, X)
    staged = folder / ".two_channels.ome.tif"
    tifffile.imwrite(staged, two_channels, metadata={"axes": "TCYX"}, ome=True)
    os.replace(staged, folder / "two_channels.ome.tif")
    with running(folder, [params], tmp_path):
        assert wait_for(lambda: events(tmp_path / "watcher.log", "failed"))
    assert "channel=" in events(tmp_path / "watcher.log", "failed")[0][3]  # says what to choose
    with running(folder, [params], tmp_path, choices={"channel": "1"}, retry_failed=True):
        assert wait_for(lambda: events(tmp_path / "watcher.log", "finished"))
    localizations, failures = rows(tmp_path)
    assert localizations[0]["frames"] == len(frames) and localizations[0]["n_locs"] > 0
    # named by the rule of every front end: the choice is in the name, so the row of the run
    # without a choice (it failed: which channel?) stays as it was, under its own name
    assert [p.name for p in folder.glob("*_locs.hdf5")] == ["two_channels_channel-1_locs.hdf5"]
    assert Path(localizations[0]["locs_path"]).name == "two_channels_channel-1_locs.hdf5"
    assert [Path(r["locs_path"]).name for r in failures] == ["two_channels_locs.hdf5"]


def test_two_parameter_groups_give_two_outputs_and_rows(folder, tmp_path, frames, camera):
    groups_file = tmp_path / "groups.yaml"
    groups_file.write_text(
        yaml.safe_dump(
            [
                {
                    "box": 7,
                    "gradient": 1500,
                    "fit": "mle",
                    "baseline": camera.baseline,
                    "sensitivity": camera.sensitivity,
                },
                {
                    "box": 9,
                    "gradient": 1500,
                    "fit": "lq",
                    "baseline": camera.baseline,
                    "sensitivity": camera.sensitivity,
                },
            ]
        )
    )
    groups = load_groups(groups_file)
    assert [(g.box, g.fit_method) for g in groups] == [(7, "mle"), (9, "lq")]
    with running(folder, groups, tmp_path):
        write_raw(folder / "two.raw", frames)
        assert wait_for(lambda: len(events(tmp_path / "watcher.log", "finished")) == 2)
    assert sorted(p.name for p in folder.glob("*_locs.hdf5")) == ["two_pg_1_locs.hdf5", "two_pg_2_locs.hdf5"]
    localizations, _ = rows(tmp_path)
    assert sorted((r["parameter_group"], Path(r["locs_path"]).name) for r in localizations) == [
        (1, "two_pg_1_locs.hdf5"),
        (2, "two_pg_2_locs.hdf5"),
    ]
    assert sorted((r["parameter_group"], r["box_size"], r["fit_method"]) for r in localizations) == [
        (1, 7, "mle"),
        (2, 9, "lq"),
    ]
    # Each output was made with its own group.
    assert load_info(folder / "two_pg_1_locs.hdf5")[1]["Box Size"] == 7
    assert load_info(folder / "two_pg_2_locs.hdf5")[1]["Box Size"] == 9
    assert load_info(folder / "two_pg_2_locs.hdf5")[1]["Fit method"] == "lq"


def test_corrupt_file_is_logged_skipped_and_the_next_is_processed(folder, tmp_path, frames, params):
    with running(folder, [params], tmp_path) as watcher:
        bad = folder / "broken.tif"
        staged = tmp_path / "broken.tif"
        staged.write_bytes(b"II*\x00" + bytes(range(256)) * 12)  # a TIFF signature, then garbage
        os.replace(staged, bad)
        assert wait_for(lambda: events(tmp_path / "watcher.log", "failed", bad))
        good = write_tif(folder / "good.tif", frames)
        assert wait_for(lambda: events(tmp_path / "watcher.log", "finished", good))
        assert watcher.running and watcher.error is None
    failed = events(tmp_path / "watcher.log", "failed", bad)
    assert len(failed) == 1 and failed[0][3].startswith(f"{bad}: ")  # names the file and the problem
    localizations, failures = rows(tmp_path)
    assert [r["movie_path"] for r in failures] == [str(bad)]
    assert failures[0]["reason"] == failed[0][3]
    assert [r["movie_path"] for r in localizations] == [str(good)]
    assert not list(folder.glob("broken*_locs*"))


def test_restarted_watcher_skips_recorded_files_and_failures(folder, tmp_path, frames, params):
    write_raw(folder / "first.raw", frames)
    (folder / "junk.tif").write_bytes(b"not a tiff at all")
    with running(folder, [params], tmp_path):
        assert wait_for(
            lambda: events(tmp_path / "watcher.log", "finished") and events(tmp_path / "watcher.log", "failed")
        )
    with running(folder, [params], tmp_path):
        write_tif(folder / "second.tif", frames)
        assert wait_for(lambda: len(events(tmp_path / "watcher.log", "finished")) == 2)
        time.sleep(2 * SETTLE_S)
    assert len(events(tmp_path / "watcher.log", "started")) == 2
    localizations, failures = rows(tmp_path)
    assert sorted(Path(r["movie_path"]).name for r in localizations) == ["first.raw", "second.tif"]
    assert len(failures) == 1
    assert len(events(tmp_path / "watcher.log", "failed")) == 1
    # Asked to, a watcher retries the recorded failure (which fails again: still one row).
    with running(folder, [params], tmp_path, retry_failed=True):
        assert wait_for(lambda: len(events(tmp_path / "watcher.log", "failed")) == 2)
    assert len(events(tmp_path / "watcher.log", "started")) == 2
    assert len(rows(tmp_path)[1]) == 1


def test_existing_output_is_recorded_not_overwritten(folder, tmp_path, frames, params):
    from napari_picasso.pipeline import localize_file

    movie = write_raw(folder / "earlier.raw", frames)
    done = localize_file(movie, params.replace(box=9))  # e.g. a run before the watcher existed
    before = (done.locs_path.stat().st_mtime_ns, done.locs_path.read_bytes())
    with running(folder, [params], tmp_path):
        assert wait_for(lambda: events(tmp_path / "watcher.log", "skipped", movie))
    assert not events(tmp_path / "watcher.log", "started")
    assert (done.locs_path.stat().st_mtime_ns, done.locs_path.read_bytes()) == before
    localizations, _ = rows(tmp_path)
    assert [(r["locs_path"], r["n_locs"], r["box_size"]) for r in localizations] == [
        (str(done.locs_path), done.n_locs, 9)
    ]


EVIL_NAME = """run 1 "double" 'single'; touch SENTINEL; echo $(touch SENTINEL2) $MOVIE.raw"""

RECORDER = """\
import json, sys
record, tag = sys.argv[1], sys.argv[2]
with open(record, "a") as f:
    f.write(json.dumps([tag] + sys.argv[3:]) + "\\n")
print("recorded", tag)
"""


def test_command_receives_exactly_the_file_name_and_nothing_else_runs(folder, tmp_path, frames, params):
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    record = tmp_path / "record.jsonl"
    prefix = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(record))}"
    commands = [
        f"{prefix} first $FILENAME",
        f"{prefix} second $MOVIE --out=$FILENAME",
        "false",
        "no-such-program-xyz $FILENAME",
    ]
    with running(folder, [params], tmp_path, commands=commands):
        movie = write_raw(folder / EVIL_NAME, frames)
        assert wait_for(lambda: len(events(tmp_path / "watcher.log", "command")) == 4)
    locs = folder / (EVIL_NAME[: -len(".raw")] + "_locs.hdf5")
    assert locs.exists()
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert calls == [["first", str(locs)], ["second", str(movie), f"--out={locs}"]]
    # No shell ever saw the name: nothing it spells out ran, anywhere.
    for where in (folder, tmp_path, Path.cwd()):
        assert not (where / "SENTINEL").exists() and not (where / "SENTINEL2").exists()
    logged = events(tmp_path / "watcher.log", "command")
    assert logged[0][3].startswith("exit 0:") and "recorded first" in logged[0][3]
    assert logged[2][3].startswith("exit 1:")
    assert "program not found: no-such-program-xyz" in logged[3][3]


def _watch_process(folder, tmp_path, groups_file, *options):
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "napari_picasso",
            "watch",
            str(folder),
            "--groups",
            str(groups_file),
            "--settle-seconds",
            "0.3",
            "--db",
            str(tmp_path / "db.sqlite"),
            "--log",
            str(tmp_path / "watcher.log"),
            "--quiet",
            *options,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_kill_mid_file_then_restart_leaves_no_partial_output_nor_duplicate_rows(folder, tmp_path, frames, camera):
    groups_file = tmp_path / "groups.yaml"
    groups_file.write_text(
        yaml.safe_dump([{"gradient": 1500, "baseline": camera.baseline, "sensitivity": camera.sensitivity}])
    )
    write_raw(folder / "a_small.raw", frames)
    # A bigger movie: long enough to be caught mid-localization.
    big, _ = simulate_movie(
        100,
        128,
        128,
        camera=camera,
        seed=4,
        n_sites=60,
        photons=1500,
        mean_on_frames=4,
        mean_off_frames=4,
        min_distance_px=8,
    )
    write_raw(folder / "b_big.raw", np.tile(big.astype(np.uint16), (12, 1, 1)))
    part = folder / "b_big_locs.hdf5.part"

    process = _watch_process(folder, tmp_path, groups_file)
    try:
        assert wait_for(part.exists, timeout_s=60, interval_s=0.005), process.stderr.read1().decode()
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert part.exists() and not (folder / "b_big_locs.hdf5").exists()  # killed mid-file
    localizations, _ = rows(tmp_path)
    assert [Path(r["locs_path"]).name for r in localizations] == ["a_small_locs.hdf5"]

    process = _watch_process(folder, tmp_path, groups_file)
    try:
        assert wait_for(lambda: len(events(tmp_path / "watcher.log", "finished")) == 2, timeout_s=120)
        process.send_signal(signal.SIGTERM)  # ends cleanly
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert events(tmp_path / "watcher.log", "cleaned", part)
    assert len(events(tmp_path / "watcher.log", "started", folder / "a_small.raw")) == 1
    assert len(events(tmp_path / "watcher.log", "started", folder / "b_big.raw")) == 2  # killed, redone
    assert events(tmp_path / "watcher.log", "stopped")[-1][2] == str(folder)
    localizations, failures = rows(tmp_path)
    names = sorted(Path(r["locs_path"]).name for r in localizations)
    assert names == ["a_small_locs.hdf5", "b_big_locs.hdf5"] and failures == []
    assert not list(folder.glob("*.part"))
    assert len(load_locs(folder / "b_big_locs.hdf5", with_info=False)) == next(
        r["n_locs"] for r in localizations if r["locs_path"].endswith("b_big_locs.hdf5")
    )


def test_watch_localizes_on_a_local_cluster_of_two_workers(folder, tmp_path, frames, camera):
    pytest.importorskip("distributed")
    group = {"gradient": 1500, "baseline": camera.baseline, "sensitivity": camera.sensitivity}
    groups_file = tmp_path / "groups.yaml"
    groups_file.write_text(yaml.safe_dump([group]))
    movie = write_raw(folder / "a.raw", np.tile(frames, (5, 1, 1)))  # 200 frames: 4 blocks
    log = tmp_path / "watcher.log"
    process = _watch_process(folder, tmp_path, groups_file, "--workers", "2", "--threads-per-worker", "1")
    try:
        assert wait_for(lambda: events(log, "finished"), timeout_s=120), process.stderr.read1().decode()
        # The cluster stays up while the watcher runs: two worker processes, its children.
        workers = [
            c for c in psutil.Process(process.pid).children(recursive=True) if "spawn_main" in " ".join(c.cmdline())
        ]
        assert len(workers) == 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert psutil.wait_procs(workers, timeout=30)[1] == []  # shut down with the watcher
    assert "compute on local cluster, 2 worker processes x 1 numba threads" in events(log, "watching")[0][3]
    assert events(log, "failed") == []
    serial = load_locs(localize_file(movie, parameters_from_mapping(group), tmp_path / "serial_locs.hdf5").locs_path)
    output = load_locs(folder / "a_locs.hdf5")
    assert len(serial[0]) > 20 and output[0].tobytes() == serial[0].tobytes()
    assert output[1] == serial[1]
    localizations, failures = rows(tmp_path)
    assert failures == [] and [r["n_locs"] for r in localizations] == [len(serial[0])]


# Localizes a movie and dies (os._exit: nothing cleans up, as with SIGKILL) right after
# the writer's first rename.
DIE_BETWEEN_RENAMES = """
import json, os, sys
from napari_picasso.pipeline import LocalizeParameters, localize_file
real_replace = os.replace
def replace_then_die(source, target):
    real_replace(source, target)
    os._exit(9)
os.replace = replace_then_die
localize_file(sys.argv[1], LocalizeParameters(**json.loads(sys.argv[2])))
"""


def test_restart_after_a_kill_between_the_renames_redoes_the_output(folder, tmp_path, frames, params):

    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    now = write_raw(folder / "now.raw", frames)
    killed = subprocess.run(
        [sys.executable, "-c", DIE_BETWEEN_RENAMES, str(now), json.dumps(params.as_dict())],
        env=env,
        capture_output=True,
        text=True,
    )
    assert killed.returncode == 9, killed.stderr
    assert sorted(p.name for p in folder.glob("now_locs*")) == ["now_locs.hdf5.part", "now_locs.yaml"]
    # What versions that renamed the .hdf5 first left: the .hdf5 in place, its .yaml not.
    from napari_picasso.pipeline import localize_file

    before = write_raw(folder / "before.raw", frames)
    localize_file(before, params)
    os.replace(folder / "before_locs.yaml", folder / "before_locs.yaml.part")

    with running(folder, [params], tmp_path):
        assert wait_for(lambda: len(events(tmp_path / "watcher.log", "finished")) == 2, timeout_s=60)
    log = tmp_path / "watcher.log"
    cleaned = {Path(e[2]).name for e in events(log, "cleaned")}
    assert cleaned == {"now_locs.hdf5.part", "now_locs.yaml", "before_locs.yaml.part", "before_locs.hdf5"}
    assert not events(log, "skipped") and not events(log, "error")
    assert sorted(Path(e[2]).name for e in events(log, "started")) == ["before.raw", "now.raw"]
    localizations, failures = rows(tmp_path)
    assert failures == [] and sorted(Path(r["locs_path"]).name for r in localizations) == [
        "before_locs.hdf5",
        "now_locs.hdf5",
    ]
    for row in localizations:  # whole pairs, recorded as they are
        locs, info = load_locs(row["locs_path"])
        assert len(locs) == row["n_locs"] > 0 and info[0]["Frames"] == len(frames)
    assert not list(folder.glob("*.part"))


# A follow-up command that records its start (with its pid), then waits while the gate
# file exists, then records that it ended.
GATED = """\
import json, os, sys, time
record, gate, tag = sys.argv[1], sys.argv[2], sys.argv[3]
with open(record, "a") as f:
    f.write(json.dumps([tag + " started", os.getpid()] + sys.argv[4:]) + "\\n")
deadline = time.monotonic() + 120
while os.path.exists(gate) and time.monotonic() < deadline:
    time.sleep(0.02)
with open(record, "a") as f:
    f.write(json.dumps([tag] + sys.argv[4:]) + "\\n")
"""


def test_commands_a_killed_watcher_did_not_run_run_after_the_restart(folder, tmp_path, frames, camera):
    from napari_picasso import db as database

    groups_file = tmp_path / "groups.yaml"
    groups_file.write_text(
        yaml.safe_dump([{"gradient": 1500, "baseline": camera.baseline, "sensitivity": camera.sensitivity}])
    )
    recorder, gated = tmp_path / "recorder.py", tmp_path / "gated.py"
    recorder.write_text(RECORDER)
    gated.write_text(GATED)
    record, gate = tmp_path / "record.jsonl", tmp_path / "gate"
    gate.touch()
    python = shlex.quote(sys.executable)
    commands = [
        f"{python} {shlex.quote(str(recorder))} {shlex.quote(str(record))} A $FILENAME",
        f"{python} {shlex.quote(str(gated))} {shlex.quote(str(record))} {shlex.quote(str(gate))} B $FILENAME",
        f"{python} {shlex.quote(str(recorder))} {shlex.quote(str(record))} C $FILENAME",
    ]
    options = [arg for command in commands for arg in ("--command", command)]
    movie = write_raw(folder / "movie.raw", frames)
    locs = folder / "movie_locs.hdf5"

    def calls():
        return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []

    process = _watch_process(folder, tmp_path, groups_file, *options)
    try:
        assert wait_for(lambda: any(c[0] == "B started" for c in calls()), timeout_s=60), process.stderr.read1()
        os.kill(process.pid, signal.SIGKILL)  # mid-commands: A has run, B is running, C has not
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    orphan = psutil.Process(next(c[1] for c in calls() if c[0] == "B started"))
    orphan.kill()  # the killed watcher's command would otherwise go on (its own process group)
    orphan.wait(10)
    assert [c[0] for c in calls()] == ["A", "B started"]
    db = database.open_database(tmp_path / "db.sqlite")
    try:  # the row is recorded; B and C are what is left
        assert database.pending_commands(db, locs) == commands[1:]
    finally:
        db.close()

    gate.unlink()
    process = _watch_process(folder, tmp_path, groups_file, *options)
    try:
        assert wait_for(lambda: [c[0] for c in calls()][-1:] == ["C"], timeout_s=60), process.stderr.read1()
        time.sleep(1.0)  # would anything run again?
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert [c[0] for c in calls()] == ["A", "B started", "B started", "B", "C"]
    assert all(c[-1] == str(locs) for c in calls())
    log = tmp_path / "watcher.log"
    assert len(events(log, "started", movie)) == 1  # localized once; only the commands were redone
    (resumed,) = events(log, "resumed", locs)
    assert resumed[3].startswith("2 command(s) not run to the end")
    localizations, failures = rows(tmp_path)
    assert failures == [] and [r["locs_path"] for r in localizations] == [str(locs)]
    db = database.open_database(tmp_path / "db.sqlite")
    try:
        assert database.pending_commands(db, locs) == []
    finally:
        db.close()


def test_stop_mid_file_writes_nothing_and_the_next_watcher_resumes(folder, tmp_path, frames, params, camera):
    big, _ = simulate_movie(
        100,
        128,
        128,
        camera=camera,
        seed=5,
        n_sites=60,
        photons=1500,
        mean_on_frames=4,
        mean_off_frames=4,
        min_distance_px=8,
    )
    write_raw(folder / "big.raw", np.tile(big.astype(np.uint16), (30, 1, 1)))
    with running(folder, [params], tmp_path) as watcher:
        assert wait_for(lambda: watcher.current is not None, interval_s=0.005)
    assert events(tmp_path / "watcher.log", "stopped", folder / "big.raw")
    assert not list(folder.glob("big_locs*"))
    assert rows(tmp_path) == ([], [])
    with running(folder, [params], tmp_path):
        assert wait_for(lambda: events(tmp_path / "watcher.log", "finished"), timeout_s=60)
    assert len(rows(tmp_path)[0]) == 1


def test_movie_appended_to_while_localized_is_discarded_and_redone(folder, tmp_path, params, camera):
    big, _ = simulate_movie(
        100,
        128,
        128,
        camera=camera,
        seed=6,
        n_sites=60,
        photons=1500,
        mean_on_frames=4,
        mean_off_frames=4,
        min_distance_px=8,
    )
    first = np.tile(big.astype("<u2"), (24, 1, 1))  # 2400 frames: about a second to localize
    more = big.astype("<u2")[:40]
    n, h, w = first.shape
    movie = write_raw(folder / "growing.raw", first)
    log = tmp_path / "watcher.log"
    with running(folder, [params], tmp_path) as watcher:
        # Opened (its first progress): a .raw larger than its .yaml says would not open.
        assert wait_for(lambda: watcher.progress is not None, interval_s=0.002)
        # The acquisition goes on (after a pause longer than the settle time): more frames.
        with open(movie, "ab") as f:
            f.write(more.tobytes())
        write_raw_info(movie, w, h, n + len(more), "uint16", "<")
        caught = watcher.current is not None
        assert wait_for(lambda: events(log, "finished", movie), timeout_s=60)
        time.sleep(3 * SETTLE_S)
        assert watcher.error is None
    assert caught  # the change came while the first localization ran
    assert len(events(log, "started", movie)) == 2 and len(events(log, "finished", movie)) == 1
    assert [e for e in events(log, "waiting", movie) if "changed while it was localized" in e[3]]
    assert [Path(e[2]).name for e in events(log, "cleaned")] == ["growing_locs.hdf5", "growing_locs.yaml"]
    localizations, failures = rows(tmp_path)
    assert failures == [] and len(localizations) == 1
    assert localizations[0]["frames"] == n + len(more)  # the output of the whole movie, recorded once
    locs, info = load_locs(folder / "growing_locs.hdf5")
    assert len(locs) == localizations[0]["n_locs"] and info[0]["Frames"] == n + len(more)
    assert locs["frame"].max() >= n


def test_soak_200_movies_processed_exactly_once_memory_flat(folder, tmp_path, frames, params):
    n_movies, groups = 200, [params, params.replace(box=5)]
    tiny = frames[:6, :24, :24]
    process = psutil.Process()
    rss_mb = {}
    with running(folder, groups, tmp_path, settle_seconds=0.2) as watcher:
        for i in range(n_movies):
            write_tif(folder / f"m{i:03d}.tif", tiny) if i % 2 else write_raw(folder / f"m{i:03d}.raw", tiny)
            if i == 49:
                assert wait_for(lambda: watcher.counts["finished"] == 100, timeout_s=60)
                gc.collect()
                rss_mb["after 50"] = process.memory_info().rss / 2**20
        assert wait_for(lambda: watcher.counts["finished"] == n_movies * len(groups), timeout_s=120)
        gc.collect()
        rss_mb["after 200"] = process.memory_info().rss / 2**20
        time.sleep(0.5)
    localizations, failures = rows(tmp_path)
    assert failures == []
    assert len(localizations) == n_movies * len(groups)
    assert len({r["locs_path"] for r in localizations}) == n_movies * len(groups)
    assert len(events(tmp_path / "watcher.log", "started")) == n_movies * len(groups)
    assert len(list(folder.glob("*_locs.hdf5"))) == n_movies * len(groups)
    growth = rss_mb["after 200"] - rss_mb["after 50"]
    print(f"soak: RSS {rss_mb}, growth over 150 movies {growth:.1f} MB")
    assert growth < 20, rss_mb


# -- pieces ------------------------------------------------------------------------------
def test_classify_series_ndtiff_and_outputs(tmp_path):
    (tmp_path / "x_MMStack_Pos0.ome.tif").write_bytes(b"")
    (tmp_path / "x_MMStack_Pos0_1.ome.tif").write_bytes(b"")
    (tmp_path / "x_MMStack_Pos0_2.ome.tif").write_bytes(b"")
    (tmp_path / "movie_locs.hdf5").write_bytes(b"")
    (tmp_path / "movie_locs_render.tif").write_bytes(b"")
    (tmp_path / "movie.raw").write_bytes(b"")
    (tmp_path / "movie.yaml").write_text("Width: 1")
    (tmp_path / "notes.txt").write_text("")
    dataset = tmp_path / "run_1"
    dataset.mkdir()
    (dataset / "NDTiff.index").write_bytes(b"")
    (dataset / "run_NDTiffStack.tif").write_bytes(b"")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "deep.nd2").write_bytes(b"")

    first = tmp_path / "x_MMStack_Pos0.ome.tif"
    assert classify(tmp_path / "x_MMStack_Pos0_2.ome.tif") == Candidate(first, "mmstack")
    assert Candidate(first, "mmstack").members() == [
        first,
        tmp_path / "x_MMStack_Pos0_1.ome.tif",
        tmp_path / "x_MMStack_Pos0_2.ome.tif",
    ]
    assert classify(dataset / "run_NDTiffStack.tif") == Candidate(dataset, "ndtiff")
    assert classify(tmp_path / "movie_locs_render.tif") is None
    assert Candidate(tmp_path / "movie.raw").members() == [tmp_path / "movie.raw", tmp_path / "movie.yaml"]
    flat = {(c.path.name, c.kind) for c in scan(tmp_path)}
    assert flat == {("x_MMStack_Pos0.ome.tif", "mmstack"), ("movie.raw", "file"), ("run_1", "ndtiff")}
    deep = {(c.path.name, c.kind) for c in scan(tmp_path, recursive=True)}
    assert deep == flat | {("deep.nd2", "file")}


def test_recursive_watch_finds_movies_in_new_subfolders(folder, tmp_path, frames, params):
    with running(folder, [params], tmp_path, recursive=True):
        (folder / "day1" / "cell2").mkdir(parents=True)
        movie = write_tif(folder / "day1" / "cell2" / "deep.tif", frames)
        assert wait_for(lambda: events(tmp_path / "watcher.log", "finished", movie))


def test_one_watcher_watches_several_folders(folder, tmp_path, frames, params):
    other = tmp_path / "microscope 2"
    other.mkdir()
    watcher = Watcher(
        [folder, other],
        [params],
        settle_seconds=SETTLE_S,
        db_path=tmp_path / "db.sqlite",
        log_path=tmp_path / "watcher.log",
    )
    watcher.start()
    try:
        movies = [write_tif(folder / "a.tif", frames), write_tif(other / "b.tif", frames)]
        assert wait_for(lambda: len(events(tmp_path / "watcher.log", "finished")) == 2)
    finally:
        watcher.stop()
    assert sorted(r["movie_path"] for r in rows(tmp_path)[0]) == sorted(str(m) for m in movies)


def test_watch_without_recursion_ignores_sub_folders(folder, tmp_path, frames, params):
    with running(folder, [params], tmp_path):
        (folder / "sub").mkdir()
        write_tif(folder / "sub" / "deep.tif", frames)
        top = write_tif(folder / "top.tif", frames)
        assert wait_for(lambda: events(tmp_path / "watcher.log", "finished", top))
        time.sleep(3 * SETTLE_S)
    assert [e[2] for e in events(tmp_path / "watcher.log", "found")] == [str(top)]


def test_groups_use_the_localize_option_names(tmp_path):
    parameters = parameters_from_mapping(
        {
            "box": 9,
            "gradient": 800,
            "fit": "lq",
            "shared-sigma": True,
            "gain": 100,
            "pixelsize": 108,
            "roi": [0, 0, 20, 30],
        }
    )
    assert parameters == LocalizeParameters(
        box=9,
        min_net_gradient=800.0,
        fit_method="lq",
        shared_sigma=True,
        em_gain=100.0,
        pixelsize_nm=108.0,
        roi=(0, 0, 20, 30),
    )
    bad = tmp_path / "groups.yaml"
    bad.write_text("- {box: 7}\n- {boxsize: 9}\n")
    with pytest.raises(InputFileError, match=r"groups.yaml: group 2: unknown option 'boxsize'"):
        load_groups(bad)
    bad.write_text("- {fit: gauss}\n")
    with pytest.raises(InputFileError, match=r"group 1: .*must be one of mle, .*got 'gauss'"):
        load_groups(bad)
    # what would fail on every movie is refused before any movie arrives
    bad.write_text("- {box: 7}\n- {fit: mle-3d}\n")
    with pytest.raises(InputFileError, match=r"group 2: .*needs a 3D calibration"):
        load_groups(bad)
    bad.write_text("- {sensitivity: 0}\n")
    with pytest.raises(InputFileError, match=r"group 1: .*sensitivity .*must be a number > 0"):
        load_groups(bad)
    bad.write_text(f"- {{camera-maps: '{tmp_path / 'no_such_maps.npz'}'}}\n")
    with pytest.raises(InputFileError, match=r"group 1: camera maps: .*no_such_maps.npz.*not found"):
        load_groups(bad)
    np.save(tmp_path / "maps.npy", np.stack([np.full((8, 8), np.nan), np.ones((8, 8))]))
    bad.write_text(f"- {{camera-maps: '{tmp_path / 'maps.npy'}'}}\n")
    with pytest.raises(InputFileError, match=r"group 1: camera maps: .*NaN"):
        load_groups(bad)
    # an ROI is checked against each movie when it arrives, not here
    bad.write_text("- {roi: [0, 0, 5000, 5000]}\n")
    assert load_groups(bad)[0].roi == (0, 0, 5000, 5000)


def test_command_arguments_keep_paths_whole():
    assert command_arguments("tool --in '$MOVIE' $FILENAME -v", "/d/a b;c_locs.hdf5", "/d/$FILENAME x.raw") == [
        "tool",
        "--in",
        "/d/$FILENAME x.raw",
        "/d/a b;c_locs.hdf5",
        "-v",
    ]


def test_watch_command_line(tmp_path, capsys):
    from napari_picasso.cli import build_parser, main

    args = build_parser().parse_args(
        [
            "watch",
            str(tmp_path),
            "--command",
            "first $FILENAME",
            "--command",
            "second $MOVIE",
            "--recursive",
            "--settle-seconds",
            "2",
            "--choose",
            "channel=1",
            "--retry-failed",
        ]
    )
    assert args.commands == ["first $FILENAME", "second $MOVIE"] and args.recursive and args.settle_seconds == 2
    assert args.choose == ["channel=1"] and args.retry_failed
    (tmp_path / "groups.yaml").write_text("- {box: 8}\n")
    assert main(["watch", str(tmp_path), "--groups", str(tmp_path / "groups.yaml")]) == 2
    assert "groups.yaml: group 1:" in capsys.readouterr().err
    assert main(["watch", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: not a folder" in capsys.readouterr().err
    assert main(["watch", str(tmp_path), "--scheduler", "tcp://127.0.0.1:1", "--threads-per-worker", "2"]) == 2
    assert "--threads-per-worker applies only to the local cluster" in capsys.readouterr().err
    (tmp_path / "not.db").write_text("not a database")
    assert main(["watch", str(tmp_path), "--db", str(tmp_path / "not.db"), "--log", str(tmp_path / "w.log"), "-q"]) == 2
    assert "not.db: is not a usable SQLite database" in capsys.readouterr().err
