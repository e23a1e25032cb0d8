"""Watcher processes that outlive whoever started them (the browser app's Watchers page).

:func:`start_watcher_process` runs ``napari-picasso watch`` in a session of its own (POSIX:
a new session, so the terminal's Ctrl+C and a stopping server do not reach it; Windows: a
new process group without a console): closing the browser, stopping or restarting the
server leave it running. What finds it again is its log, written into a folder the caller
chooses: the ``watching`` event names its process and host (:mod:`.status`). Beside the log
``watcher-<time>.groups.yaml`` keeps its parameter groups as typed and ``watcher-<time>.err``
what the process printed to stderr (warnings, or why it could not start).

:func:`stop_watcher_process` asks a running watcher to stop (SIGTERM: the movie in progress
is cancelled, nothing half-written is kept, ``stopped`` is logged), after checking that the
process its log names is still that watcher on this computer.
"""

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..groups import parse_groups
from .followup import check_command
from .log import default_log_path, read_events
from .status import host_name, log_time, process_alive

STDERR_SUFFIX = ".err"
GROUPS_SUFFIX = ".groups.yaml"
START_WAIT_S = 60.0
STOP_WAIT_S = 30.0

# Popen objects of the watchers this process started: polled so that an ended one is reaped
# (a zombie would count as running for os.kill(pid, 0)).
_children = []


class WatcherNotStoppable(ValueError):
    """A watcher that cannot be stopped from here; the message says why and where to stop it."""


@dataclasses.dataclass
class StartedWatcher:
    """A watcher process just started.

    ``watching``: its log says it is watching. ``problem``: why it is not running (it
    ended at once: its exit code and the end of what it printed), else None.
    """

    pid: int
    log: Path
    stderr: Path
    groups: Path = None
    watching: bool = False
    problem: str = None


def stderr_path(log_path):
    """Where a detached watcher's stderr goes: ``watcher-<time>.err`` beside its log."""
    return Path(log_path).with_suffix(STDERR_SUFFIX)


def watch_arguments(folders, *, db_path, log_path, groups_path=None, commands=(), settle_seconds=5.0, recursive=False):
    """The ``napari-picasso watch`` command line (this Python, its package) for a detached watcher."""
    arguments = [sys.executable, "-m", "napari_picasso", "watch", *(str(f) for f in folders)]
    arguments += ["--db", str(db_path), "--log", str(log_path), "--quiet"]
    arguments.append(f"--settle-seconds={float(settle_seconds)!r}")
    if groups_path is not None:
        arguments += ["--groups", str(groups_path)]
    if recursive:
        arguments.append("--recursive")
    # "--command=..." keeps a command that starts with "-" one value.
    arguments += [f"--command={command}" for command in commands]
    return arguments


def check_groups(groups_text, *, source="parameter groups", check_path=None, folder=None):
    """The parameter groups of ``groups.yaml`` text, checked; None for blank text (the defaults).

    ``check_path(path)`` sees every file a group names before it is read and raises
    ValueError to refuse it; relative paths are taken from ``folder``.

    Raises
    ------
    InputFileError
        Naming ``source``, the group and what is wrong.
    """
    if groups_text is None or not groups_text.strip():
        return None
    return parse_groups(groups_text, source=source, folder=folder, check_path=check_path)


def check_watcher_settings(
    folders, *, groups_text=None, commands=(), settle_seconds=5.0, check_path=None, groups_folder=None
):
    """Check what a watcher would be started with; the parameter groups (None: the defaults).

    ``groups_folder``: where relative paths in the groups lead (the groups file's folder).

    Raises
    ------
    InputFileError
        For parameter groups that cannot be used (``groups.yaml`` layout, see :mod:`napari_picasso.groups`).
    ValueError
        For a folder that is not one, a command that cannot be split, a negative settle time.
    """
    if not folders:
        raise ValueError("give at least one folder to watch.")
    for folder in folders:
        if not Path(folder).is_dir():
            raise ValueError(f"{folder}: not a folder; give an existing folder to watch.")
    for command in commands:
        check_command(command)
    if not float(settle_seconds) >= 0:
        raise ValueError(f"settle seconds {settle_seconds!r}: give a number of seconds >= 0.")
    return check_groups(groups_text, check_path=check_path, folder=groups_folder)


def _reserve_log(folder):
    """A new log path in ``folder`` (``watcher-<UTC time>[-n].log``), its stderr file created."""
    base = default_log_path(folder)
    for n in range(1, 1000):
        log = base if n == 1 else base.with_name(f"{base.stem}-{n}{base.suffix}")
        if log.exists() or log.with_suffix(GROUPS_SUFFIX).exists():
            continue
        try:
            with open(stderr_path(log), "x"):
                pass
        except FileExistsError:
            continue
        return log
    raise OSError(f"{folder}: no free watcher log name")


def _detached():
    if os.name == "nt":
        flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) | getattr(subprocess, "DETACHED_PROCESS", 0)
        return {"creationflags": flags}
    return {"start_new_session": True}


def start_watcher_process(
    folders,
    *,
    db_path,
    log_folder,
    groups_text=None,
    commands=(),
    settle_seconds=5.0,
    recursive=False,
    check_path=None,
    environ=None,
    wait_s=START_WAIT_S,
):
    """Start ``napari-picasso watch`` as a process of its own that keeps running after this one ends.

    Everything is checked first (:func:`check_watcher_settings`): nothing is written or
    started for settings that cannot work.

    Parameters
    ----------
    folders : sequence of path-like
        Folders to watch (absolute; the caller has resolved and checked them).
    db_path : path-like
        The database the watcher records into.
    log_folder : path-like
        Where its log, ``.err`` and ``.groups.yaml`` go (created if needed).
    groups_text : str, optional
        Parameter groups as ``groups.yaml`` text (None or blank: the localize defaults).
    commands : sequence of str
        Follow-up commands (``$FILENAME``, ``$MOVIE``).
    settle_seconds : float
        As ``watch --settle-seconds``.
    recursive : bool
        Also watch sub-folders.
    check_path : callable, optional
        Checks the files the groups name before they are read (see :func:`check_groups`).
    environ : dict, optional
        The process's environment (default: this one's).
    wait_s : float
        How long to wait for its log to say ``watching`` (or for it to end).

    Returns
    -------
    StartedWatcher

    Examples
    --------
    >>> started = start_watcher_process(["/lab/data/today"], db_path="/lab/picasso.db",
    ...     log_folder="/lab/picasso-watchers", groups_text="- {box: 7, gradient: 5000}")  # doctest: +SKIP
    >>> started.watching, started.log  # doctest: +SKIP
    (True, PosixPath('/lab/picasso-watchers/watcher-20261122-093000.log'))
    """
    folders = [Path(f) for f in folders]
    commands = [c for c in commands if c.strip()]
    log_folder = Path(log_folder)
    check_watcher_settings(
        folders,
        groups_text=groups_text,
        commands=commands,
        settle_seconds=settle_seconds,
        check_path=check_path,
        groups_folder=log_folder,  # the groups file goes there
    )
    reap_finished()
    log_folder.mkdir(parents=True, exist_ok=True)
    log = _reserve_log(log_folder)
    groups_path = None
    if groups_text is not None and groups_text.strip():
        groups_path = log.with_suffix(GROUPS_SUFFIX)
        groups_path.write_text(groups_text if groups_text.endswith("\n") else groups_text + "\n", encoding="utf-8")
    arguments = watch_arguments(
        folders,
        db_path=db_path,
        log_path=log,
        groups_path=groups_path,
        commands=commands,
        settle_seconds=settle_seconds,
        recursive=recursive,
    )
    with open(stderr_path(log), "ab") as stderr:
        process = subprocess.Popen(
            arguments,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=log_folder,
            env=environ,
            **_detached(),
        )
    _children.append(process)
    started = StartedWatcher(pid=process.pid, log=log, stderr=stderr_path(log), groups=groups_path)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if _says_watching(log):
            started.watching = True
            break
        code = process.poll()
        if code is not None:
            started.problem = f"it ended at once (exit code {code}): {stderr_tail(log) or 'no message'}"
            break
        time.sleep(0.1)
    return started


def _says_watching(log):
    try:
        return any(event[1] == "watching" for event in read_events(log))
    except (OSError, UnicodeDecodeError):
        return False


def stderr_tail(log_path, lines=5):
    """The last lines a detached watcher printed to stderr ('' when none or no such file)."""
    try:
        text = stderr_path(log_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def reap_finished():
    """Collect the exit status of ended watchers this process started (no zombies are left)."""
    _children[:] = [process for process in _children if process.poll() is None]


def _command_line(pid):
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return psutil.Process(pid).cmdline()
        except psutil.Error:
            return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [part.decode(errors="replace") for part in f.read().split(b"\0") if part]
    except OSError:
        return None


def is_watcher_process(pid):
    """Whether process ``pid`` runs ``napari-picasso watch`` (True when that cannot be told here)."""
    arguments = _command_line(pid)
    if arguments is None:
        return True
    return "watch" in arguments and any("napari_picasso" in a or "napari-picasso" in a for a in arguments)


def stop_watcher_process(state, *, wait_s=STOP_WAIT_S):
    """Ask a running watcher to stop; True once its process has ended, False if it is still ending.

    Parameters
    ----------
    state : dict
        Its :func:`~.status.watcher_state` (its log names its process and host).
    wait_s : float
        How long to wait for it to end (a movie in progress is cancelled first).

    Raises
    ------
    WatcherNotStoppable
        It runs on another computer, its log names no process (older versions), or that
        process is not a ``napari-picasso watch`` (a watcher in napari's dock, a reused number).
    """
    pid, host = state.get("pid"), state.get("host")
    started = log_time(state.get("started"))
    if pid is None:
        raise WatcherNotStoppable("its log does not name its process (an older version): stop it where it runs.")
    if host != host_name():
        raise WatcherNotStoppable(f"it runs on {host}: stop it there.")
    if not process_alive(pid, started):
        return True
    if not is_watcher_process(pid):
        raise WatcherNotStoppable(
            f"process {pid} is not a 'napari-picasso watch' process (a watcher inside napari, or the "
            "number was reused): stop it where it runs."
        )
    try:
        os.kill(pid, signal.SIGTERM)  # Windows: terminates it (its log then says "process gone")
    except ProcessLookupError:
        return True
    except PermissionError:
        raise WatcherNotStoppable(f"process {pid} belongs to another user: stop it as that user.") from None
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not process_alive(pid, started):
            _reap(pid, deadline - time.monotonic())
            return True
        time.sleep(0.1)
    return False


def _reap(pid, timeout_s):
    # A process of ours reads as a zombie while its last threads still exit: wait for it.
    for process in _children:
        if process.pid == pid:
            try:
                process.wait(max(timeout_s, 1.0))
            except subprocess.TimeoutExpired:
                pass
    reap_finished()
