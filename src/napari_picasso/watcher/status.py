"""Watchers seen from outside: find their log files and tell what each is doing.

A watcher writes one log per run (:mod:`.log`): a ``watching`` event first (its folders,
parameter groups and database), then one line per event, and ``stopped`` when it ends.
Reading those files is how another process (the browser app) lists the watchers of a
database without talking to them. The ``watching`` event starts with ``process <pid> on
<host>``: on the same host, a run without ``stopped`` whose process no longer exists was
killed (SIGKILL, power loss) and is reported as ``stopped (process gone)``.
"""

import datetime
import os
import re
import socket
from pathlib import Path

from .log import read_events

LOG_PATTERN = "watcher-*.log"
"""Name of the logs :func:`~.log.default_log_path` writes (one per watcher, in its first folder)."""

TAIL_EVENTS = 200


def find_logs(folders, pattern=LOG_PATTERN):
    """Watcher logs in ``folders`` (not recursive), newest first; unreadable folders are skipped."""
    found = set()
    for folder in folders:
        try:
            found.update(p for p in Path(folder).glob(pattern) if p.is_file())
        except OSError:
            continue
    return sorted(found, key=lambda p: (_mtime(p), str(p)), reverse=True)


def _mtime(path):
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _database_of(message):
    # The "watching" event ends with "database <path>[, compute on ...]" (Watcher._describe).
    marker = "database "
    cut = message.rfind(marker)
    if cut < 0:
        return None
    return message[cut + len(marker) :].split(", compute on ")[0].strip()


_PROCESS = re.compile(r"^process (\d+) on (\S+?)(?:,|$)")


def host_name():
    """This computer's name, as watchers write it into their logs."""
    return socket.gethostname()


def process_tag(pid=None, host=None):
    """``process <pid> on <host>``: how a watcher names its process in its ``watching`` event."""
    return f"process {pid if pid is not None else os.getpid()} on {host or host_name()}"


def process_of(message):
    """``(pid, host)`` from a ``watching`` message, or ``(None, None)`` (logs of older versions)."""
    match = _PROCESS.match(message or "")
    return (int(match[1]), match[2]) if match else (None, None)


def process_alive(pid, started=None):
    """Whether process ``pid`` exists on this computer (and, when it can be told, is the one
    that started at ``started``, a UTC ``datetime``, not a later process given the same pid)."""
    if pid is None or pid <= 0:
        return False
    try:  # psutil (when installed) also tells a reused pid by its start time
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:  # ended, not yet reaped by its parent
                return False
            created = process.create_time()
        except psutil.NoSuchProcess:
            return False
        except psutil.Error:  # e.g. access denied: it exists
            return True
        # The watcher wrote its first line after its process started; a process created
        # later holds a recycled pid. (2 s of slack for clock rounding.)
        return started is None or created <= started.timestamp() + 2.0
    if os.name == "nt":
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)  # signal 0: existence and permission check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return False
    try:  # Linux: an ended process its parent has not reaped yet is a zombie (state Z)
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _windows_process_alive(pid):
    # os.kill(pid, 0) would terminate the process on Windows: ask the kernel instead.
    import ctypes

    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.GetLastError() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def log_time(stamp):
    """The UTC ``datetime`` of a log line's time stamp, or None."""
    try:
        return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def watcher_state(log_path, tail=TAIL_EVENTS):
    """What one watcher log says: its run, whether it is still running, its counts.

    The last run in the file counts (a log given with ``--log`` may hold several). A run
    without a ``stopped`` event is ``running``, unless its process (recorded in the
    ``watching`` event) ran on this host and is gone: a watcher killed with SIGKILL cannot
    write ``stopped``, so that run is ``stopped (process gone)``. A watcher on another host
    cannot be checked from here (``state`` says so).

    Returns
    -------
    dict
        ``log`` (path), ``name`` (its folders), ``database``, ``started``, ``last_time``,
        ``last_event``, ``running`` (bool), ``state`` (``running``, ``stopped``,
        ``stopped (process gone)`` or ``running on <host> (not checked)``), ``pid``, ``host``
        (of the watcher's process, None in older logs), ``finished``, ``failed``, ``events`` (the last
        ``tail`` events as ``(time, event, path, message)``), ``error`` (why the log could
        not be read, else None).
    """
    log_path = Path(log_path)
    state = {
        "log": str(log_path),
        "name": None,
        "database": None,
        "started": None,
        "last_time": None,
        "last_event": None,
        "running": False,
        "state": "stopped",
        "pid": None,
        "host": None,
        "finished": 0,
        "failed": 0,
        "events": [],
        "error": None,
    }
    try:
        events = read_events(log_path)
    except (OSError, UnicodeDecodeError) as error:
        state["error"] = f"cannot read the log ({error})"
        return state
    starts = [i for i, event in enumerate(events) if event[1] == "watching"]
    run = events[starts[-1] :] if starts else events
    if starts:
        _, _, name, message = run[0]
        state.update(name=name, database=_database_of(message), started=run[0][0])
    if run:
        state.update(last_time=run[-1][0], last_event=run[-1][1])
    state["running"] = bool(starts) and not any(event[1] == "stopped" and event[2] == state["name"] for event in run)
    if starts:
        state["pid"], state["host"] = process_of(run[0][3])
    if state["running"] and state["pid"] is not None:
        if state["host"] != host_name():
            state["state"] = f"running on {state['host']} (not checked)"
        elif process_alive(state["pid"], log_time(state["started"])):
            state["state"] = "running"
        else:
            state["running"] = False
            state["state"] = "stopped (process gone)"
    elif state["running"]:
        state["state"] = "running"
    state["finished"] = sum(1 for event in run if event[1] == "finished")
    state["failed"] = sum(1 for event in run if event[1] == "failed")
    state["events"] = events[-tail:] if tail else events
    return state


MAX_LOG_FOLDERS = 2000


def log_folders(db=None, extra=()):
    """Where the watchers of a database may have written their logs.

    ``extra`` first, then the folders of the database's recorded movies and outputs with
    their parents (a watcher logs into the first folder it watches; with ``--recursive`` the
    movies sit below it). ``db`` is an open database (:func:`napari_picasso.db.open_database`).
    """
    folders = [Path(f) for f in extra]
    if db is not None:
        from .. import db as database

        seen = set()
        for row in database.query_rows(db, columns=["movie_path", "locs_path"]):
            for value in (row["movie_path"], row["locs_path"]):
                if value:
                    parent = Path(value).parent
                    seen.update((parent, parent.parent))
        folders += sorted(seen)[:MAX_LOG_FOLDERS]
    return list(dict.fromkeys(folders))


def watchers_of(db_path, folders, tail=TAIL_EVENTS):
    """``(own, others)``: states of the watcher logs in ``folders`` writing to ``db_path``, and the rest."""
    states = [watcher_state(log, tail=tail) for log in find_logs(folders)]
    own = [s for s in states if s["database"] and Path(s["database"]) == Path(db_path)]
    return own, [s for s in states if s not in own]
