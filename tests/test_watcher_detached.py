"""Watcher processes of their own (watcher.detached): started, found by their log, stopped; refusals."""

import datetime
import os
import sys
from pathlib import Path

import pytest

from napari_picasso.io.errors import InputFileError
from napari_picasso.watcher import detached
from napari_picasso.watcher.log import read_events
from napari_picasso.watcher.status import host_name, process_alive, watcher_state

SRC = Path(__file__).resolve().parents[1] / "src"


def environment():
    return {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def test_command_line_of_a_detached_watcher(tmp_path):
    arguments = detached.watch_arguments(
        [tmp_path / "a", tmp_path / "b c"],
        db_path=tmp_path / "lab.db",
        log_path=tmp_path / "w.log",
        groups_path=tmp_path / "w.groups.yaml",
        commands=["-starts-with-a-dash $FILENAME", "napari-picasso undrift $FILENAME"],
        settle_seconds=2.5,
        recursive=True,
    )
    assert arguments[:5] == [sys.executable, "-m", "napari_picasso", "watch", str(tmp_path / "a")]
    from napari_picasso.cli import build_parser

    args = build_parser().parse_args(arguments[3:])
    assert args.folders == [tmp_path / "a", tmp_path / "b c"]
    assert args.commands == ["-starts-with-a-dash $FILENAME", "napari-picasso undrift $FILENAME"]
    assert (args.settle_seconds, args.recursive, args.quiet) == (2.5, True, True)
    assert (args.db, args.log, args.groups) == (tmp_path / "lab.db", tmp_path / "w.log", tmp_path / "w.groups.yaml")


def test_nothing_is_written_or_started_for_settings_that_cannot_work(tmp_path):
    logs = tmp_path / "logs"
    folder = tmp_path / "data"
    folder.mkdir()
    start = dict(db_path=tmp_path / "lab.db", log_folder=logs, environ=environment())
    with pytest.raises(InputFileError, match="parameter groups: group 1: unknown option 'boxsize'"):
        detached.start_watcher_process([folder], groups_text="- {boxsize: 9}", **start)
    with pytest.raises(ValueError, match="not a folder"):
        detached.start_watcher_process([tmp_path / "nowhere"], **start)
    with pytest.raises(ValueError, match="closing quotation"):
        detached.start_watcher_process([folder], commands=["echo 'x"], **start)
    with pytest.raises(ValueError, match="settle seconds"):
        detached.start_watcher_process([folder], settle_seconds=-1, **start)
    assert not logs.exists() and not (tmp_path / "lab.db").exists()


@pytest.mark.skipif(os.name == "nt", reason="POSIX sessions and SIGTERM")
def test_started_in_its_own_session_found_by_its_log_and_stopped(tmp_path):
    folder, logs = tmp_path / "data", tmp_path / "db" / "lab-watchers"
    folder.mkdir()
    started = detached.start_watcher_process(
        [folder],
        db_path=tmp_path / "db" / "lab.db",
        log_folder=logs,
        groups_text="- {box: 7, gradient: 900}\n- {box: 9, gradient: 1200}",
        commands=["true $FILENAME"],
        settle_seconds=1,
        recursive=True,
        environ=environment(),
    )
    try:
        assert started.watching and started.problem is None, detached.stderr_tail(started.log)
        assert started.log.parent == logs and started.log.name.startswith("watcher-")
        assert started.groups.read_text() == "- {box: 7, gradient: 900}\n- {box: 9, gradient: 1200}\n"
        assert started.stderr == started.log.with_suffix(".err")
        # Its own session: a terminal's Ctrl+C or a stopping server (their process groups) do not reach it.
        assert os.getsid(started.pid) == started.pid != os.getsid(0)
        state = watcher_state(started.log)
        assert (state["running"], state["pid"], state["host"], state["name"]) == (
            True,
            started.pid,
            host_name(),
            str(folder),
        )
        message = read_events(started.log)[0][3]
        assert "2 parameter group(s), 1 command(s)" in message and "settle 1 s, recursive" in message
        assert detached.is_watcher_process(started.pid)

        # A second one in the same second gets a log of its own.
        second = detached.start_watcher_process(
            [folder], db_path=tmp_path / "db" / "lab.db", log_folder=logs, environ=environment()
        )
        assert second.watching and second.log != started.log
        assert detached.stop_watcher_process(watcher_state(second.log)) is True

        assert detached.stop_watcher_process(state) is True
        assert not process_alive(started.pid)
        events = read_events(started.log)
        assert events[-1][1] == "stopped"
        assert watcher_state(started.log)["state"] == "stopped"
        assert detached._children == []  # reaped: no zombie left
        assert detached.stop_watcher_process(state) is True  # already ended: nothing to do
    finally:
        for pid in (started.pid,):
            if process_alive(pid):
                os.kill(pid, 9)


def test_a_watcher_that_cannot_start_says_why(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    not_sqlite = tmp_path / "lab.db"
    not_sqlite.write_bytes(b"this is not SQLite" * 100)
    started = detached.start_watcher_process(
        [folder], db_path=not_sqlite, log_folder=tmp_path / "logs", environ=environment()
    )
    assert not started.watching
    assert started.problem.startswith("it ended at once (exit code 2): ")
    assert "lab.db" in started.problem and "SQLite" in started.problem


def test_stop_refuses_what_it_cannot_check(tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    me = {"pid": os.getpid(), "host": host_name(), "started": now, "running": True}
    # This very process is alive but is not a watcher: never signalled.
    with pytest.raises(detached.WatcherNotStoppable, match="is not a 'napari-picasso watch' process"):
        detached.stop_watcher_process(me)
    with pytest.raises(detached.WatcherNotStoppable, match="runs on microscope-pc: stop it there"):
        detached.stop_watcher_process({**me, "host": "microscope-pc"})
    with pytest.raises(detached.WatcherNotStoppable, match="does not name its process"):
        detached.stop_watcher_process({**me, "pid": None})
