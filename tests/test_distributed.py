"""Localization on a Dask cluster: identical to the serial run, survives a dying worker,
batch analysis goes on past failing files.

One LocalCluster of real worker processes serves the module; it is scaled to 1, 2 and 4
workers (one numba thread each, the machine has few cores).
"""

import os
import shutil
import sys
import threading
import time
from pathlib import Path

import numba
import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
import cloudpickle  # noqa: E402  (installed with distributed)

from napari_picasso.cli import main  # noqa: E402
from napari_picasso.db import open_database, query_rows  # noqa: E402
from napari_picasso.distributed import (  # noqa: E402
    BatchItem,
    ComputeChoice,
    ComputeSession,
    compute_client,
    default_block_frames,
    find_movies,
    localize_file_distributed,
    numba_threads_per_worker,
    output_path_for,
    plan_blocks,
    run_batch,
    start_local_cluster,
    status_table,
)
from napari_picasso.distributed.blocks import close_open_movies, limit_numba_threads, localize_block  # noqa: E402
from napari_picasso.distributed.cluster import close_cluster  # noqa: E402
from napari_picasso.io.errors import ParameterError  # noqa: E402
from napari_picasso.io.locs import load_locs  # noqa: E402
from napari_picasso.io.movie import ArrayMovie  # noqa: E402
from napari_picasso.pipeline import LocalizationCancelled, LocalizeParameters, localize_file  # noqa: E402

# The worker plugin below is defined here; workers cannot import this test module, so
# it travels by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def parameters(camera):
    peak_counts = 1500 / (2 * np.pi) * camera.em_gain / camera.sensitivity
    return LocalizeParameters(
        min_net_gradient=0.25 * peak_counts * 8,
        baseline=camera.baseline,
        sensitivity=camera.sensitivity,
        em_gain=camera.em_gain,
    )


@pytest.fixture(scope="module")
def serial(blinking_movie, parameters, tmp_path_factory):
    """The plain in-process run: (rows, yaml documents)."""
    path, _, _ = blinking_movie
    result = localize_file(path, parameters, tmp_path_factory.mktemp("serial") / "serial_locs.hdf5")
    locs, info = load_locs(result.locs_path)
    assert len(locs) > 200  # the movie has spots: the comparison below is not of two empty tables
    return locs, info


@pytest.fixture(scope="module")
def client():
    cluster = start_local_cluster(workers=1, threads_per_worker=1)
    try:
        with distributed.Client(cluster) as dask_client:
            dask_client.cluster_ref = cluster
            yield dask_client
    finally:
        close_cluster(cluster)


def scale(client, n_workers):
    client.cluster_ref.scale(n_workers)
    client.wait_for_workers(n_workers, timeout=60)
    deadline = time.monotonic() + 60
    while len(client.nthreads()) > n_workers and time.monotonic() < deadline:  # scaling down
        time.sleep(0.1)
    assert len(client.nthreads()) == n_workers


def assert_same_output(result, serial):
    locs, info = load_locs(result.locs_path)
    serial_locs, serial_info = serial
    assert locs.dtype == serial_locs.dtype
    assert len(locs) == len(serial_locs)
    # Same rows, same order, same bits (NaN-safe).
    assert locs.tobytes() == serial_locs.tobytes()
    assert info == serial_info
    assert not list(Path(result.locs_path).parent.glob("*.part"))


# -- blocks -----------------------------------------------------------------------------
def test_blocks_cover_frames_once_and_clip_overlap():
    blocks = plan_blocks(10, 105, 20, overlap=3)
    assert [(b.start, b.stop) for b in blocks] == [(10, 30), (30, 50), (50, 70), (70, 90), (90, 105)]
    assert (blocks[0].read_start, blocks[0].read_stop) == (10, 33)
    assert (blocks[2].read_start, blocks[2].read_stop) == (47, 73)
    assert (blocks[-1].read_start, blocks[-1].read_stop) == (87, 105)
    with pytest.raises(ValueError):
        plan_blocks(0, 10, 0)


def test_block_task_reopens_a_movie_that_changed(blinking_movie, parameters, serial, tmp_path):
    """Workers keep movies open between blocks, but never read a stale file."""
    path, _, _ = blinking_movie
    copy = tmp_path / "m.raw"
    shutil.copy(path, copy)
    shutil.copy(path.with_suffix(".yaml"), copy.with_suffix(".yaml"))
    block = plan_blocks(0, 300, 100)[1]
    try:
        first = localize_block(str(copy), {}, block, parameters)
        in_block = (serial[0]["frame"] >= 100) & (serial[0]["frame"] < 200)
        assert first.tobytes() == serial[0][in_block].tobytes()
        assert localize_block(str(copy), {}, block, parameters).tobytes() == first.tobytes()  # from the open reader
        # Same size, new content (a flat background): must be read again.
        np.full(300 * 64 * 64, 100, dtype="<u2").tofile(copy)
        stat = copy.stat()
        os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        assert len(localize_block(str(copy), {}, block, parameters)) == 0
    finally:
        close_open_movies()


def test_default_blocks_balance_workers_and_spare_the_scheduler():
    shape = (20000, 128, 128)
    assert default_block_frames(shape, 20000, 2) == 1024  # one 64 MB chunk at most
    assert default_block_frames(shape, 2000, 2) == 250  # four blocks per worker
    assert default_block_frames(shape, 300, 2) == 64  # not smaller than this
    assert default_block_frames(shape, 20000, 100) == 640  # <= 500 tasks/s on 100 cores


def test_numba_threads_fill_cores_once():
    assert numba_threads_per_worker(1, cores=8) == 8
    assert numba_threads_per_worker(3, cores=8) == 2
    assert numba_threads_per_worker(16, cores=8) == 1


def test_local_workers_get_their_numba_thread_count(client):
    scale(client, 1)
    assert client.submit(limit_numba_threads, pure=False).result() == 1


def test_numba_limit_applies_when_numba_was_imported_first(monkeypatch):
    """A worker whose numba started with every core still runs tasks on its share."""
    pool = numba.config.NUMBA_NUM_THREADS
    before = numba.get_num_threads()
    try:
        monkeypatch.setenv("NUMBA_NUM_THREADS", "1")
        assert limit_numba_threads() == 1
        monkeypatch.setenv("NUMBA_NUM_THREADS", str(pool + 5))  # cannot grow beyond the pool
        assert limit_numba_threads() == pool
    finally:
        numba.set_num_threads(before)


# -- identical output -------------------------------------------------------------------
@pytest.mark.parametrize("n_workers", [1, 2, 4])
def test_identical_to_serial_run(client, n_workers, blinking_movie, parameters, serial, tmp_path):
    scale(client, n_workers)
    path, _, _ = blinking_movie
    done = []
    with distributed.get_task_stream(client) as stream:
        result = localize_file_distributed(
            path,
            parameters,
            tmp_path / "d_locs.hdf5",
            client=client,
            block_frames=23,
            progress=lambda d, t: done.append((d, t)),
        )
    assert_same_output(result, serial)
    # Progress per block, in frame order, ending at all frames.
    assert done[0] == (0, 300) and done[-1] == (300, 300) and len(done) == 1 + 14
    assert [d for d, _ in done] == sorted(d for d, _ in done)
    # The blocks really ran on every worker.
    workers = {task["worker"] for task in stream.data if "napari-picasso-block" in str(task["key"])}
    assert len(workers) == n_workers


def test_tiff_movie_identical_to_serial_run(client, isolated_movie, parameters, tmp_path):
    scale(client, 2)
    path, _, _ = isolated_movie
    serial_result = localize_file(path, parameters, tmp_path / "s_locs.hdf5")
    result = localize_file_distributed(path, parameters, tmp_path / "d_locs.hdf5", client=client, block_frames=7)
    assert serial_result.n_locs > 100
    assert_same_output(result, load_locs(serial_result.locs_path))


def scmos_movie_and_sensor_maps(folder, n_frames=14):
    """A 48x48 .tif whose Micro-Manager metadata puts it at (16, 24) of 80x96 sensor maps.

    Returns ``(movie path, maps path)``; the maps are full-sensor, so every block cuts them.
    """
    import dataclasses
    import json

    import tifffile

    from napari_picasso.io.camera_maps import save_camera_maps
    from napari_picasso.simulate import isolated_spots, render_movie, scmos_camera

    chip = scmos_camera(80, 96, hot_fraction=0.03, seed=9)
    window = (slice(16, 64), slice(24, 72))
    camera = dataclasses.replace(
        chip, offset_map=chip.offset_map[window], variance_map=chip.variance_map[window], gain_map=chip.gain_map[window]
    )
    truth = isolated_spots(n_frames, 48, 48, spacing_px=12, photons=800, sigma_px=1.0, seed=9)
    frames = render_movie(truth, n_frames, 48, 48, bg_photons=5.0, camera=camera, seed=9)
    path = Path(folder) / "roi.tif"
    with tifffile.TiffWriter(path) as tif:
        for frame in frames:  # Micro-Manager's per-frame metadata with the camera ROI (x-y-w-h)
            tif.write(
                frame,
                photometric="minisblack",
                metadata=None,
                extratags=[(51123, "s", 0, json.dumps({"ROI": "24-16-48-48"}), True)],
            )
    maps = save_camera_maps(Path(folder) / "sensor.hdf5", chip.offset_map, chip.variance_map, chip.gain_map)
    return path, Path(maps)


def test_full_sensor_maps_cut_identically_on_workers(client, tmp_path):
    """Workers cut full-sensor maps at the run's ROI origin, as the serial run does."""
    scale(client, 2)
    path, maps = scmos_movie_and_sensor_maps(tmp_path)
    parameters = LocalizeParameters(detector="snr", camera_maps=str(maps))
    serial_result = localize_file(path, parameters, tmp_path / "s_locs.hdf5")
    serial = load_locs(serial_result.locs_path)
    assert serial_result.n_locs > 20 and serial[1][1]["Camera maps origin"] == [16, 24]
    result = localize_file_distributed(path, parameters, tmp_path / "d_locs.hdf5", client=client, block_frames=5)
    assert_same_output(result, serial)


def test_relative_camera_maps_path_reaches_workers_in_another_folder(client, tmp_path, monkeypatch):
    """``--camera-maps sensor.hdf5`` given in the movie's folder; the workers run elsewhere."""
    scale(client, 2)
    path, maps = scmos_movie_and_sensor_maps(tmp_path)
    monkeypatch.chdir(tmp_path)
    # The workers were started from pytest's folder: a relative name means nothing there.
    assert str(tmp_path) not in set(client.run(os.getcwd).values())
    code = main(
        [
            "localize",
            path.name,
            "--scheduler",
            client.scheduler.address,
            "--camera-maps",
            maps.name,
            "--detector",
            "snr",
            "--block-frames",
            "5",
            "--out",
            "out",
            "--no-db",
            "--quiet",
        ]
    )
    assert code == 0
    serial = localize_file(path, LocalizeParameters(detector="snr", camera_maps=str(maps)), tmp_path / "s_locs.hdf5")
    assert serial.n_locs > 20
    locs, info = load_locs(tmp_path / "out" / "roi_locs.hdf5")
    assert locs.tobytes() == load_locs(serial.locs_path, with_info=False).tobytes()
    assert info[1]["Camera maps"] == str(maps)  # recorded absolute: the file can be found again from anywhere


def count_camera_map_reads():
    """On a worker: from now on, note the path of every camera-map file read."""
    import napari_picasso.io.camera_maps as camera_maps

    real = getattr(camera_maps._read, "real", camera_maps._read)
    reads = []

    def counted(path):
        reads.append(str(path))
        return real(path)

    counted.real, counted.reads = real, reads
    camera_maps._read = counted


def camera_map_reads():
    """On a worker: stop counting; the paths read since :func:`count_camera_map_reads`."""
    import napari_picasso.io.camera_maps as camera_maps

    reads = camera_maps._read.reads
    camera_maps._read = camera_maps._read.real
    return reads


def test_workers_read_the_camera_maps_once_and_again_when_the_file_changes(client, tmp_path):
    from napari_picasso.io.camera_maps import load_camera_maps, save_camera_maps

    scale(client, 2)
    path, maps = scmos_movie_and_sensor_maps(tmp_path, n_frames=40)
    parameters = LocalizeParameters(detector="snr", camera_maps=str(maps))
    client.run(count_camera_map_reads)
    try:
        # 10 blocks on 2 workers
        first = localize_file_distributed(path, parameters, tmp_path / "d1_locs.hdf5", client=client, block_frames=4)
        # A new calibration saved over the old file (a rename: new inode, new time).
        old = load_camera_maps(maps)
        save_camera_maps(maps, old.offset + 3.0, old.variance, old.gain)
        second = localize_file_distributed(path, parameters, tmp_path / "d2_locs.hdf5", client=client, block_frames=4)
    finally:
        reads = client.run(camera_map_reads)
    reads_per_worker = [r.count(str(maps)) for r in reads.values()]
    assert sum(reads_per_worker) >= 2  # the count sees the workers' reads
    assert max(reads_per_worker) <= 2, reads_per_worker  # once per worker and file version, not per block
    serial = localize_file(path, parameters, tmp_path / "s_locs.hdf5")  # with the new maps
    assert_same_output(second, load_locs(serial.locs_path))
    # The new maps changed the result: the workers did not keep using the old ones.
    assert (
        load_locs(first.locs_path, with_info=False).tobytes() != load_locs(serial.locs_path, with_info=False).tobytes()
    )


def test_workers_joining_mid_run_get_blocks(client, blinking_movie, parameters, serial, tmp_path):
    """A batch system's workers arrive after the run started: they take part, output unchanged."""
    scale(client, 1)
    path, _, _ = blinking_movie
    joined = []

    def progress(done, total):
        if done > 0 and not joined:
            joined.append(done)
            client.cluster_ref.scale(3)
            client.wait_for_workers(3, timeout=60)

    with distributed.get_task_stream(client) as stream:
        result = localize_file_distributed(
            path, parameters, tmp_path / "j_locs.hdf5", client=client, block_frames=5, progress=progress
        )
    assert_same_output(result, serial)
    workers = {task["worker"] for task in stream.data if "napari-picasso-block" in str(task["key"])}
    assert len(workers) == 3


def test_default_blocks_and_overlap_keep_the_output(client, blinking_movie, parameters, serial, tmp_path):
    """The background-overlap hook reads extra frames but keeps each block's own rows."""
    scale(client, 2)
    path, _, _ = blinking_movie
    result = localize_file_distributed(path, parameters, tmp_path / "a_locs.hdf5", client=client)
    assert_same_output(result, serial)
    result = localize_file_distributed(
        path, parameters, tmp_path / "b_locs.hdf5", client=client, block_frames=40, overlap=5
    )
    assert_same_output(result, serial)


def test_frame_range_and_roi(client, blinking_movie, parameters, tmp_path):
    scale(client, 2)
    path, _, _ = blinking_movie
    subset = parameters.replace(frame_range=(37, 251), roi=(5, 8, 60, 58))
    serial = localize_file(path, subset, tmp_path / "s_locs.hdf5")
    result = localize_file_distributed(path, subset, tmp_path / "d_locs.hdf5", client=client, block_frames=30)
    assert_same_output(result, load_locs(serial.locs_path))
    locs = load_locs(result.locs_path, with_info=False)
    assert locs["frame"].min() >= 37 and locs["frame"].max() < 251


@pytest.mark.parametrize("background", [("-15:0", False), ("-10:11:2", True)])
def test_background_windows_across_blocks(client, blinking_movie, parameters, tmp_path, background):
    """Each block reads its frames' background windows beyond its edges, as serial chunks do."""
    scale(client, 2)
    path, _, _ = blinking_movie
    frames, subtract = background
    subset = parameters.replace(
        background_frames=frames, subtract_background=subtract, start_frame=20, frame_range=(0, 280)
    )
    serial_result = localize_file(path, subset, tmp_path / "s_locs.hdf5")
    result = localize_file_distributed(path, subset, tmp_path / "d_locs.hdf5", client=client, block_frames=17)
    assert serial_result.n_locs > 100 and result.n_frames == serial_result.n_frames == 260
    assert_same_output(result, load_locs(serial_result.locs_path))


def test_in_process_threads_choice_is_the_plain_pipeline(blinking_movie, parameters, serial, tmp_path):
    path, _, _ = blinking_movie
    result = localize_file_distributed(path, parameters, tmp_path / "t_locs.hdf5", client=ComputeChoice("threads"))
    assert_same_output(result, serial)


def test_movie_in_memory_cannot_go_to_a_cluster(client, parameters, tmp_path):
    movie = ArrayMovie(np.full((10, 32, 32), 100, np.uint16))
    with pytest.raises(ParameterError, match="in memory"):
        localize_file_distributed(movie, parameters, tmp_path / "x_locs.hdf5", client=client)


# -- a worker dies mid-task -------------------------------------------------------------
class DieOnceWhileExecuting(distributed.WorkerPlugin):
    """Kill the worker process as it starts executing block ``index``, once per test."""

    def __init__(self, marker, index):
        self.marker = str(marker)
        self.index = index

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or not str(key).endswith(f"-{self.index}"):
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # the retry, on a new or another worker: let it run
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os._exit(1)


def test_worker_dies_mid_task_output_complete_and_identical(client, blinking_movie, parameters, serial, tmp_path):
    scale(client, 2)
    path, _, _ = blinking_movie
    pids_before = set(client.run(os.getpid).values())
    marker = tmp_path / "died"
    client.register_plugin(DieOnceWhileExecuting(marker, index=5), name="die-once")
    try:
        result = localize_file_distributed(path, parameters, tmp_path / "k_locs.hdf5", client=client, block_frames=23)
    finally:
        client.unregister_worker_plugin("die-once")
    assert marker.exists(), "no worker died: the test did not test anything"
    dead_pid = int(marker.read_text())
    assert dead_pid in pids_before
    assert_same_output(result, serial)
    client.wait_for_workers(2, timeout=60)
    assert dead_pid not in set(client.run(os.getpid).values())  # the nanny started a new process


class DieOnPoison(distributed.WorkerPlugin):
    """Kill the worker whenever it starts a block of a movie whose path holds 'poison'."""

    def setup(self, worker):
        self.worker = worker

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing":
            task = self.worker.state.tasks.get(key)
            if task is not None and "poison" in repr(getattr(task.run_spec, "args", task.run_spec)):
                os._exit(1)


def test_batch_goes_on_when_a_movie_kills_its_workers(blinking_movie, parameters, serial, tmp_path):
    """A task that kills every worker it runs on fails its file after allowed-failures; the rest is done."""
    path, _, _ = blinking_movie
    for name in ("ok1.raw", "poison.raw", "ok2.raw"):
        shutil.copy(path, tmp_path / name)
        shutil.copy(path.with_suffix(".yaml"), (tmp_path / name).with_suffix(".yaml"))
    cluster = start_local_cluster(workers=2, threads_per_worker=1, allowed_failures=1)
    try:
        with distributed.Client(cluster) as dask_client:
            dask_client.register_plugin(DieOnPoison(), name="die-on-poison")
            outcomes = run_batch(
                find_movies([tmp_path]), parameters, client=dask_client, block_frames=100, files_at_once=1
            )
    finally:
        close_cluster(cluster)
    status = {o.movie.name: o for o in outcomes}
    assert [status[n].status for n in ("ok1.raw", "ok2.raw", "poison.raw")] == ["done", "done", "failed"]
    assert "died" in status["poison.raw"].error and not (tmp_path / "poison_locs.hdf5").exists()
    for name in ("ok1", "ok2"):
        assert load_locs(tmp_path / f"{name}_locs.hdf5", with_info=False).tobytes() == serial[0].tobytes()


def test_cancel_leaves_no_file(client, blinking_movie, parameters, tmp_path):
    scale(client, 2)
    path, _, _ = blinking_movie
    target = tmp_path / "c_locs.hdf5"
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(LocalizationCancelled):
        localize_file_distributed(path, parameters, target, client=client, block_frames=10, cancel=cancel)
    assert not list(tmp_path.iterdir())


# -- batch ------------------------------------------------------------------------------
@pytest.fixture()
def movie_tree(blinking_movie, tmp_path):
    """in/a.raw, in/day2/b.raw (good), in/day2/broken.raw (no yaml), in/late.raw (truncated later)."""
    path, _, _ = blinking_movie
    root = tmp_path / "in"
    (root / "day2").mkdir(parents=True)
    for target in (root / "a.raw", root / "day2" / "b.raw", root / "late.raw"):
        shutil.copy(path, target)
        shutil.copy(path.with_suffix(".yaml"), target.with_suffix(".yaml"))
    (root / "day2" / "broken.raw").write_bytes(b"\0" * 1000)
    (root / "notes.txt").write_text("not a movie")
    return root


def test_find_movies_and_mirrored_outputs(movie_tree, tmp_path):
    (movie_tree / "analysis").mkdir()
    shutil.copy(movie_tree / "a.raw", movie_tree / "analysis" / "old.raw")  # outputs are not inputs
    stack = movie_tree / "mm"
    stack.mkdir()
    for name in ("run_MMStack_Pos0.ome.tif", "run_MMStack_Pos0_1.ome.tif"):
        (stack / name).write_bytes(b"")
    items = find_movies([movie_tree])
    names = [item.movie.relative_to(movie_tree).as_posix() for item in items]
    assert names == ["a.raw", "day2/b.raw", "day2/broken.raw", "late.raw", "mm/run_MMStack_Pos0.ome.tif"]
    assert all(item.root == movie_tree for item in items)
    b = items[1]
    assert output_path_for(b) == movie_tree / "day2" / "b_locs.hdf5"
    assert output_path_for(b, analysis=True) == movie_tree / "analysis" / "day2" / "b_locs.hdf5"
    assert output_path_for(b, analysis=tmp_path / "out") == tmp_path / "out" / "day2" / "b_locs.hdf5"
    single = find_movies([movie_tree / "day2" / "b.raw", movie_tree / "day2" / "b.raw"])
    assert single == [BatchItem(movie_tree / "day2" / "b.raw", movie_tree / "day2")]


def test_batch_reports_failing_files_and_goes_on(client, movie_tree, parameters, serial):
    scale(client, 2)
    items = find_movies([movie_tree])
    late = movie_tree / "late.raw"

    def progress_for(item):
        if item.movie != late:
            return None

        def truncate_once_started(done, total):
            # The client has opened and checked the movie; the workers open it after
            # this: they find it truncated and raise.
            if done == 0:
                with open(late, "r+b") as f:
                    f.truncate(1000)

        return truncate_once_started

    recorded = []
    outcomes = run_batch(
        items,
        parameters,
        client=client,
        analysis=True,
        progress_for=progress_for,
        on_result=lambda outcome: recorded.append((outcome.movie, outcome.status)),
        block_frames=50,
    )
    status = {o.movie.name: o for o in outcomes}
    assert [o.movie.name for o in outcomes] == ["a.raw", "b.raw", "broken.raw", "late.raw"]
    assert status["a.raw"].status == status["b.raw"].status == "done"
    assert status["broken.raw"].status == "failed" and "broken.yaml" in status["broken.raw"].error
    assert status["late.raw"].status == "failed" and "late.raw" in status["late.raw"].error
    assert recorded == [
        (movie_tree / "a.raw", "done"),
        (movie_tree / "day2" / "b.raw", "done"),
        (movie_tree / "day2" / "broken.raw", "failed"),
        (movie_tree / "late.raw", "failed"),
    ]
    for name in ("a.raw", "b.raw"):
        assert load_locs(status[name].locs_path, with_info=False).tobytes() == serial[0].tobytes()
    assert status["b.raw"].locs_path == movie_tree / "analysis" / "day2" / "b_locs.hdf5"
    assert not (movie_tree / "analysis" / "late_locs.hdf5").exists()
    assert not list((movie_tree / "analysis").rglob("*.part"))
    table = status_table(outcomes)
    assert "2 of 4 movies localized, 2 failed" in table
    assert table.count("failed") == 3  # two rows and the total line


@pytest.mark.parametrize("files_at_once", [1, 3])
def test_batch_files_at_once_and_cancel(client, movie_tree, parameters, serial, files_at_once):
    scale(client, 2)
    items = [item for item in find_movies([movie_tree]) if item.movie.name != "broken.raw"]
    outcomes = run_batch(items, parameters, client=client, files_at_once=files_at_once, block_frames=40)
    assert [o.status for o in outcomes] == ["done"] * 3
    for outcome in outcomes:
        assert load_locs(outcome.locs_path, with_info=False).tobytes() == serial[0].tobytes()
    # A cancel during the second movie: nothing more is written, the rest does not run.
    stop = threading.Event()

    def progress_for(item):
        if item.movie.name == "b.raw":
            return lambda done, total: stop.set() if done > 0 else None
        return None

    for outcome in outcomes:
        outcome.locs_path.unlink()
    outcomes = run_batch(
        items, parameters, client=client, files_at_once=1, block_frames=40, cancel=stop, progress_for=progress_for
    )
    assert [o.status for o in outcomes] == ["done", "cancelled", "not run"]
    assert not (movie_tree / "day2" / "b_locs.hdf5").exists() and not (movie_tree / "late_locs.hdf5").exists()


def test_batch_refuses_two_movies_writing_one_file(client, movie_tree, parameters, tmp_path):
    scale(client, 2)
    shutil.copy(movie_tree / "a.raw", movie_tree / "day2" / "a.raw")
    shutil.copy(movie_tree / "a.yaml", movie_tree / "day2" / "a.yaml")
    items = find_movies([movie_tree / "a.raw", movie_tree / "day2" / "a.raw"])
    outcomes = run_batch(items, parameters, client=client, out_folder=tmp_path / "flat")
    assert [o.status for o in outcomes] == ["done", "failed"]
    assert "also the output of" in outcomes[1].error


def test_cli_batch_on_local_cluster(movie_tree, parameters, serial, capsys, tmp_path):
    (movie_tree / "late.raw").unlink()
    database = tmp_path / "batch.db"
    code = main(
        [
            "localize",
            str(movie_tree),
            "--workers",
            "2",
            "--analysis-folder",
            "--quiet",
            "--db",
            str(database),
            "--group",
            "batch",
            "--gradient",
            str(parameters.min_net_gradient),
            "--baseline",
            str(parameters.baseline),
            "--sensitivity",
            str(parameters.sensitivity),
            "--gain",
            str(parameters.em_gain),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1  # one file failed
    assert "2 of 3 movies localized, 1 failed" in out
    assert "broken.raw" in out
    for name in ("a_locs.hdf5", "day2/b_locs.hdf5"):
        locs = load_locs(movie_tree / "analysis" / name, with_info=False)
        assert locs.tobytes() == serial[0].tobytes()
    # One database row per file, the failure with its reason.
    db = open_database(database)
    try:
        rows = {
            Path(r["locs_path"]).relative_to(movie_tree).as_posix(): r
            for r in query_rows(db, columns=["locs_path", "status", "n_locs", "reason", "group_name"])
        }
    finally:
        db.close()
    assert set(rows) == {"analysis/a_locs.hdf5", "analysis/day2/b_locs.hdf5", "analysis/day2/broken_locs.hdf5"}
    assert rows["analysis/a_locs.hdf5"]["status"] == "ok"
    assert rows["analysis/day2/b_locs.hdf5"]["n_locs"] == len(serial[0])
    assert rows["analysis/day2/broken_locs.hdf5"]["status"] == "failed"
    assert "broken.yaml" in rows["analysis/day2/broken_locs.hdf5"]["reason"]
    assert {r["group_name"] for r in rows.values()} == {"batch"}


def test_cli_on_a_running_scheduler(client, blinking_movie, parameters, serial, tmp_path, capsys):
    """--scheduler takes an address or a scheduler file (as `dask scheduler --scheduler-file` writes)."""
    scale(client, 2)
    path, _, _ = blinking_movie
    scheduler_file = tmp_path / "scheduler.json"
    client.write_scheduler_file(str(scheduler_file))
    options = [
        "--gradient",
        str(parameters.min_net_gradient),
        "--baseline",
        str(parameters.baseline),
        "--sensitivity",
        str(parameters.sensitivity),
        "--gain",
        str(parameters.em_gain),
        "--no-db",
        "--quiet",
    ]
    for name, where in (("by_address", client.scheduler.address), ("by_file", str(scheduler_file))):
        code = main(["localize", str(path), "--scheduler", where, "--out", str(tmp_path / name), *options])
        assert code == 0
        assert "1 of 1 movies localized, 0 failed" in capsys.readouterr().out
        assert load_locs(tmp_path / name / "blinking_locs.hdf5", with_info=False).tobytes() == serial[0].tobytes()
    assert len(client.nthreads()) == 2  # the CLI only disconnected from the cluster it did not start


def test_local_cluster_options_are_refused_where_they_would_be_ignored(client, blinking_movie, tmp_path, capsys):
    """--threads-per-worker / --allowed-failures size the cluster --workers starts, nothing else."""
    path, _, _ = blinking_movie
    address = client.scheduler.address
    for options, said in (
        (
            ["--scheduler", address, "--threads-per-worker", "2"],
            f"--threads-per-worker applies only to the local cluster that --workers N starts, not to the workers "
            f"of the scheduler {address}",
        ),
        (["--scheduler", address, "--allowed-failures", "1"], "--allowed-failures applies only to the local"),
        (
            ["--threads-per-worker", "2"],
            "--threads-per-worker applies only to the local cluster that --workers N starts; without --workers",
        ),
    ):
        code = main(["localize", str(path), *options, "--out", str(tmp_path), "--no-db", "--quiet"])
        assert code == 2, options
        assert said in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # refused before any work
    local = ComputeChoice.from_options(workers=2, threads_per_worker=3, allowed_failures=1)
    assert (local.threads_per_worker, local.allowed_failures) == (3, 1)
    assert ComputeChoice.from_options(scheduler=address).allowed_failures == 3  # the default


def test_compute_session_keeps_one_cluster_per_choice(blinking_movie, parameters, serial, tmp_path):
    """What the widget and the watcher hold: one cluster while the choice stays the same."""
    path, _, _ = blinking_movie
    local = ComputeChoice("local-cluster", workers=1, threads_per_worker=1)
    with ComputeSession() as session:
        assert session.client_for(ComputeChoice("threads")) is None
        first = session.client_for(local)
        assert session.client_for(ComputeChoice("local-cluster", workers=1, threads_per_worker=1)) is first
        done = []
        result = localize_file_distributed(
            path, parameters, tmp_path / "s_locs.hdf5", client=first, progress=lambda d, t: done.append(d)
        )
        assert load_locs(result.locs_path, with_info=False).tobytes() == serial[0].tobytes()
        assert done[-1] == 300 and len(done) > 2  # per block
        assert session.client_for(None) is None
        assert first.status == "closed"


def test_cluster_choice_validation():
    with pytest.raises(ValueError):
        ComputeChoice.from_options(workers=2, scheduler="tcp://x:1")
    with pytest.raises(ValueError):
        ComputeChoice("scheduler")
    assert ComputeChoice.from_options().mode == "threads"
    with compute_client(None) as nothing:
        assert nothing is None
