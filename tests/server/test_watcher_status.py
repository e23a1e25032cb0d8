"""Watcher state read from log files written by the watcher's own WatcherLog."""

import os
import time

from napari_picasso.watcher.log import WatcherLog
from napari_picasso.watcher.status import find_logs, watcher_state


def write_run(log, folder, db, outputs=(), failures=(), stop=True):
    log.event("watching", folder, f"1 parameter group(s), 0 command(s), settle 5 s, not recursive, database {db}")
    for movie in outputs:
        log.event("started", movie, "localizing")
        log.event("finished", movie, "done")
    for movie in failures:
        log.event("failed", movie, "not a TIFF file")
    if stop:
        log.event("stopped", folder, "done")


def test_last_run_decides_running_and_counts(tmp_path):
    path = tmp_path / "watcher-20261122-010000.log"
    log = WatcherLog(path)
    write_run(log, tmp_path, tmp_path / "a.db", outputs=["m1.raw", "m2.raw"], failures=["bad.tif"])
    state = watcher_state(path)
    assert (state["running"], state["finished"], state["failed"], state["last_event"]) == (False, 2, 1, "stopped")
    assert state["database"] == str(tmp_path / "a.db") and state["name"] == str(tmp_path)
    # A second run in the same log (--log given twice), killed before it could write "stopped".
    write_run(log, tmp_path, tmp_path / "a.db", outputs=["m3.raw"], stop=False)
    log.close()
    state = watcher_state(path)
    assert (state["running"], state["finished"], state["failed"]) == (True, 1, 0)
    assert len(watcher_state(path, tail=3)["events"]) == 3


def test_find_logs_newest_first_and_unreadable(tmp_path):
    older, newer = tmp_path / "watcher-1.log", tmp_path / "watcher-2.log"
    for path in (older, newer):
        log = WatcherLog(path)
        write_run(log, tmp_path, tmp_path / "a.db")
        log.close()
    os.utime(older, (time.time() - 100, time.time() - 100))
    (tmp_path / "other.log").write_text("not a watcher log\n")
    assert find_logs([tmp_path, tmp_path / "gone"]) == [newer, older]
    (tmp_path / "watcher-3.log").write_bytes(b"\xff\xfe\x00bad")
    assert watcher_state(tmp_path / "watcher-3.log")["error"].startswith("cannot read the log")
