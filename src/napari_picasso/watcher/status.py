"""Watchers seen from outside: find their log files and tell what each is doing.

A watcher writes one log per run (:mod:`.log`): a ``watching`` event first (its folders,
parameter groups and database), then one line per event, and ``stopped`` when it ends.
Reading those files is how another process (the browser app) lists the watchers of a
database without talking to them.
"""

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
    # The "watching" event ends with "database <path>" (Watcher._describe).
    marker = "database "
    cut = message.rfind(marker)
    return message[cut + len(marker):].strip() if cut >= 0 else None


def watcher_state(log_path, tail=TAIL_EVENTS):
    """What one watcher log says: its run, whether it is still running, its counts.

    The last run in the file counts (a log given with ``--log`` may hold several). A run
    without a ``stopped`` event is ``running``; a watcher killed with SIGKILL cannot write
    one, so it also looks running until a new run starts in the same log.

    Returns
    -------
    dict
        ``log`` (path), ``name`` (its folders), ``database``, ``started``, ``last_time``,
        ``last_event``, ``running`` (bool), ``finished``, ``failed``, ``events`` (the last
        ``tail`` events as ``(time, event, path, message)``), ``error`` (why the log could
        not be read, else None).
    """
    log_path = Path(log_path)
    state = {"log": str(log_path), "name": None, "database": None, "started": None, "last_time": None,
             "last_event": None, "running": False, "finished": 0, "failed": 0, "events": [], "error": None}
    try:
        events = read_events(log_path)
    except (OSError, UnicodeDecodeError) as error:
        state["error"] = f"cannot read the log ({error})"
        return state
    starts = [i for i, event in enumerate(events) if event[1] == "watching"]
    run = events[starts[-1]:] if starts else events
    if starts:
        _, _, name, message = run[0]
        state.update(name=name, database=_database_of(message), started=run[0][0])
    if run:
        state.update(last_time=run[-1][0], last_event=run[-1][1])
    state["running"] = bool(starts) and not any(event[1] == "stopped" for event in run)
    state["finished"] = sum(1 for event in run if event[1] == "finished")
    state["failed"] = sum(1 for event in run if event[1] == "failed")
    state["events"] = events[-tail:] if tail else events
    return state

