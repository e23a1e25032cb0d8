"""A watcher killed with SIGKILL is reported as stopped (its process is gone), not running."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _server_helpers import wait_for

from napari_picasso.watcher.log import WatcherLog, read_events
from napari_picasso.watcher.status import find_logs, process_alive, process_of, process_tag, watcher_state

SRC = Path(__file__).resolve().parents[2] / "src"


def open_watchers_page():
    from streamlit.testing.v1 import AppTest

    from napari_picasso.server import APP_PATH

    at = AppTest.from_file(str(APP_PATH), default_timeout=120)
    at.query_params["page"] = "Watchers"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_watcher_killed_with_sigkill_shows_as_stopped_process_gone(tmp_path, monkeypatch):
    pytest.importorskip("streamlit")
    folder, db_path = tmp_path / "acquisitions", tmp_path / "db" / "lab.db"
    folder.mkdir()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "napari_picasso", "watch", str(folder), "--db", str(db_path), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for(lambda: find_logs([folder]) and read_events(find_logs([folder])[0])), process.stderr
        (log,) = find_logs([folder])
        monkeypatch.setenv("NAPARI_PICASSO_DB", str(db_path))
        monkeypatch.setenv("NAPARI_PICASSO_WATCHER_LOGS", str(folder))

        state = watcher_state(log)
        assert (state["running"], state["state"], state["pid"]) == (True, "running", process.pid)
        table = open_watchers_page().dataframe[0].value
        assert list(table["state"]) == ["running"] and list(table["log"]) == [str(log)]
        assert table["process"][0].startswith(f"{process.pid} on ")

        process.send_signal(signal.SIGKILL)
        process.wait(30)  # reaped, as a shell would
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert read_events(log)[-1][1] != "stopped"  # killed: it could not say so
    state = watcher_state(log)
    assert (state["running"], state["state"]) == (False, "stopped (process gone)")
    at = open_watchers_page()
    assert list(at.dataframe[0].value["state"]) == ["stopped (process gone)"]
    assert "0 running, 1 stopped (1 killed: process gone)" in " ".join(c.value for c in at.caption)


def write_watching(path, tag, stop=False):
    log = WatcherLog(path)
    log.event(
        "watching",
        "/data",
        f"{tag}, 1 parameter group(s), 0 command(s), settle 5 s, not recursive, "
        f"database /db/a.db, compute on 2 local workers",
    )
    if stop:
        log.event("stopped", "/data", "0 outputs finished, 0 failed")
    log.close()


def test_state_from_the_recorded_process(tmp_path, monkeypatch):
    alive = tmp_path / "watcher-1.log"
    write_watching(alive, process_tag())
    state = watcher_state(alive)
    assert (state["running"], state["state"], state["pid"]) == (True, "running", os.getpid())
    assert state["database"] == "/db/a.db"

    # A process that ended: its pid is known not to be running.
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead_pid = int(ended.stdout)
    dead = tmp_path / "watcher-2.log"
    write_watching(dead, process_tag(pid=dead_pid))
    assert not process_alive(dead_pid)
    assert (watcher_state(dead)["running"], watcher_state(dead)["state"]) == (False, "stopped (process gone)")

    # The same without psutil (the package does not depend on it): os.kill(pid, 0) and /proc.
    monkeypatch.setitem(sys.modules, "psutil", None)
    assert process_alive(os.getpid()) and not process_alive(dead_pid)
    assert watcher_state(dead)["state"] == "stopped (process gone)"
    assert watcher_state(alive)["state"] == "running"
    monkeypatch.undo()

    # Another host cannot be checked; a clean stop is plain "stopped"; older logs have no pid.
    other = tmp_path / "watcher-3.log"
    write_watching(other, process_tag(pid=dead_pid, host="microscope-pc"))
    assert watcher_state(other)["state"] == "running on microscope-pc (not checked)"
    clean = tmp_path / "watcher-4.log"
    write_watching(clean, process_tag(), stop=True)
    assert (watcher_state(clean)["running"], watcher_state(clean)["state"]) == (False, "stopped")
    old = tmp_path / "watcher-5.log"
    write_watching(old, "1 parameter group(s)")
    assert process_of(read_events(old)[0][3]) == (None, None)
    assert (watcher_state(old)["running"], watcher_state(old)["state"]) == (True, "running")
