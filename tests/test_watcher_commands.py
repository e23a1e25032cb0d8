"""Custom commands that hang: timeout, process-group kill, stop, next file still processed.

Real subprocesses throughout; the grandchild a command starts must not survive it (checked
with psutil by the pid the command prints).
"""

import re
import shlex
import subprocess
import sys
import threading
import time

import psutil
import pytest
from test_watcher import events, folder, frames, params, running, wait_for, write_raw  # noqa: F401  (fixtures below)  # noqa: F401

from napari_picasso.watcher import run_followup

# Starts a grandchild (in the same process group), prints both pids, then hangs.
HANG = (
    "import subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "print('pids', child.pid, flush=True); time.sleep(60)"
)


def hang_command(template_path="$FILENAME"):
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(HANG)} {template_path}"


def printed_pids(text):
    return [int(p) for p in re.findall(r"pids (\d+)", text)]


def gone(pid, timeout_s=10.0):
    """The process ended (zombies count as ended: they run nothing)."""

    def dead():
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    return wait_for(dead, timeout_s=timeout_s)


def test_hanging_command_is_killed_with_its_children_after_the_timeout(tmp_path):
    started = time.monotonic()
    result = run_followup(hang_command(), tmp_path / "a_locs.hdf5", tmp_path / "a.raw", timeout_s=1.5)
    elapsed = time.monotonic() - started
    assert result.timed_out and not result.cancelled and result.exit_code is None
    assert result.seconds == 1.5 and 1.5 <= elapsed < 30
    assert result.message().startswith("command timed out after 1.5 s; partial output: pids ")
    (grandchild,) = printed_pids(result.output)
    assert gone(grandchild)


def test_cancel_kills_a_running_command(tmp_path):
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    result = run_followup(hang_command(), "x", "y", timeout_s=None, cancel=cancel)
    assert result.cancelled and not result.timed_out and result.exit_code is None
    assert 0.9 <= result.seconds < 30
    (grandchild,) = printed_pids(result.output)
    assert gone(grandchild)


def test_quick_command_keeps_exit_code_and_output(tmp_path):
    code = "import sys; print('hello', sys.argv[1]); sys.exit(3)"
    result = run_followup(
        f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} $FILENAME", "my file.hdf5", "m", timeout_s=30
    )
    assert (result.exit_code, result.output.strip(), result.timed_out) == (3, "hello my file.hdf5", False)
    long = "print('x' * 100000, end=''); print('END')"
    result = run_followup(f"{shlex.quote(sys.executable)} -c {shlex.quote(long)}", "f", "m", timeout_s=30)
    assert result.exit_code == 0 and result.output.startswith("...") and result.output.endswith("END\n")
    assert len(result.output) <= 4003


def test_watcher_logs_the_timeout_and_goes_on_with_the_next_file(folder, tmp_path, frames, params):  # noqa: F811
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with running(folder, [params], tmp_path, commands=[hang_command(), "true"], command_timeout_s=1.5) as watcher:
        write_raw(folder / "first.raw", frames)
        assert wait_for(lambda: len(events(tmp_path / "watcher.log", "command")) >= 2, timeout_s=60)
        write_raw(folder / "second.raw", frames)
        assert wait_for(lambda: len(events(tmp_path / "watcher.log", "command")) >= 4, timeout_s=60)
        assert watcher.running
    log = tmp_path / "watcher.log"
    assert [e[2] for e in events(log, "finished")] == [str(folder / "first.raw"), str(folder / "second.raw")]
    commands = [e[3] for e in events(log, "command")]
    assert commands[0].startswith("command timed out after 1.5 s (killed): ")
    assert commands[1].startswith("exit 0: ['true']")  # the next command of the same file ran
    assert commands[2].startswith("command timed out after 1.5 s (killed): ")
    pids = printed_pids(commands[0]) + printed_pids(commands[2])
    assert len(pids) == 2 and all(gone(pid) for pid in pids)
    leftover = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not [pid for pid in leftover if not gone(pid, timeout_s=5)]


def test_stopping_the_watcher_stops_its_command(folder, tmp_path, frames, params):  # noqa: F811
    with running(folder, [params], tmp_path, commands=[hang_command()]) as watcher:  # default 1 h
        write_raw(folder / "movie.raw", frames)
        # the command and the child it starts (not other children of this test process)
        assert wait_for(lambda: len(_hung()) == 2, timeout_s=60)
        hung = [p.pid for p in _hung()]
        started = time.monotonic()
        watcher.stop(timeout=30)
        assert not watcher.running and time.monotonic() - started < 15
    (line,) = [e[3] for e in events(tmp_path / "watcher.log", "command")]
    assert line.startswith("command stopped with the watcher after ")
    assert all(gone(pid) for pid in hung)
    assert events(tmp_path / "watcher.log", "stopped")


def _hung():
    """The running HANG command and its children."""
    for process in psutil.Process().children(recursive=True):
        try:
            if HANG in process.cmdline():
                return [process] + process.children(recursive=True)
        except psutil.Error:
            continue
    return []


def test_command_timeout_option_reaches_the_watcher(tmp_path):
    from napari_picasso.cli import main

    watched = tmp_path / "w"
    watched.mkdir()
    with pytest.raises(SystemExit) as refused:  # refused while parsing, with the valid range
        main(["watch", str(watched), "--command-timeout", "-1", "--db", str(tmp_path / "d.db"), "-q"])
    assert refused.value.code == 2
    log = tmp_path / "w.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "napari_picasso",
            "watch",
            str(watched),
            "--command-timeout",
            "7",
            "--command",
            "true",
            "--db",
            str(tmp_path / "d.db"),
            "--log",
            str(log),
            "-q",
        ]
    )
    try:
        assert wait_for(lambda: events(log, "watching"), timeout_s=60)
        assert "1 command(s) (timeout 7 s)" in events(log, "watching")[0][3]
        process.terminate()
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
