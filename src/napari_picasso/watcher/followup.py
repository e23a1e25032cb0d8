"""Custom commands run after each localized movie, without a shell.

A command template such as ``napari-picasso undrift $FILENAME`` is split into arguments
with :func:`shlex.split` first; only then is ``$FILENAME`` (the output ``_locs.hdf5``) or
``$MOVIE`` (the input movie) replaced inside each argument. The path therefore always
stays exactly one argument, whatever it contains (spaces, quotes, ``;``, ``$(...)``), and
no shell ever sees it.
"""

import collections
import dataclasses
import os
import re
import shlex
import signal
import subprocess
import threading
import time

PLACEHOLDERS = ("$FILENAME", "$MOVIE")
_PLACEHOLDER = re.compile(r"\$(FILENAME|MOVIE)")
MAX_OUTPUT_CHARS = 4000


def command_arguments(template, locs_path, movie_path):
    """The argument list of ``template`` for one output.

    Raises
    ------
    ValueError
        When the template cannot be split (e.g. an unclosed quote) or is empty.
    """
    arguments = shlex.split(template)
    if not arguments:
        raise ValueError(f"the command {template!r} is empty")
    values = {"FILENAME": str(locs_path), "MOVIE": str(movie_path)}
    # One pass, so a path that itself contains "$MOVIE" is not substituted again.
    return [_PLACEHOLDER.sub(lambda match: values[match[1]], arg) for arg in arguments]


def check_command(template):
    """Raise ValueError when ``template`` cannot be used (checked before a watcher starts)."""
    command_arguments(template, "x", "x")


def run_command(template, locs_path, movie_path, cwd=None, timeout_s=None, cancel=None):
    """Run one command; ``(arguments, exit_code, output)`` (stdout and stderr merged).

    ``exit_code`` is None when the program was not found, timed out or was stopped (the
    output says which); nothing is raised. See :func:`run_followup` for the details.
    """
    result = run_followup(template, locs_path, movie_path, cwd=cwd, timeout_s=timeout_s, cancel=cancel)
    return result.arguments, result.exit_code, result.message()


@dataclasses.dataclass
class CommandResult:
    """What became of one command: its arguments, exit code and (the end of) its output.

    ``exit_code`` is None when it did not run to completion: ``problem`` says why (not
    found, cannot be split...), or ``timed_out`` / ``cancelled`` is set (its whole process
    group was then killed after ``seconds``).
    """

    arguments: list
    exit_code: int = None
    output: str = ""
    seconds: float = 0.0
    timed_out: bool = False
    cancelled: bool = False
    problem: str = None

    def message(self):
        """The output, prefixed with why the command did not complete (for the log)."""
        if self.problem is not None:
            return self.problem
        if self.timed_out:
            return f"command timed out after {self.seconds:g} s; partial output: {self.output}"
        if self.cancelled:
            return f"command stopped with the watcher after {self.seconds:.1f} s; partial output: {self.output}"
        return self.output


def run_followup(template, locs_path, movie_path, cwd=None, timeout_s=None, cancel=None, poll_s=0.1, on_start=None):
    """Run one command without a shell, in its own process group; a :class:`CommandResult`.

    Parameters
    ----------
    timeout_s : float, optional
        After this long the command and every process it started (its process group;
        on Windows its process tree) are killed. None or 0: no limit.
    cancel : threading.Event, optional
        When set (the watcher is stopping), the command is killed the same way.
    on_start : callable, optional
        ``on_start(process)`` right after the command started (the watcher records its
        pid and process group, see :func:`group_alive`).

    Nothing is raised: a program that is not found, a template that cannot be split, a
    timeout and a cancellation are all described in the result.
    """
    try:
        arguments = command_arguments(template, locs_path, movie_path)
    except ValueError as error:
        return CommandResult([template], problem=f"cannot split the command: {error}")
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            arguments,
            cwd=cwd,
            shell=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            **_own_group(),
        )
    except FileNotFoundError:
        return CommandResult(arguments, problem=f"program not found: {arguments[0]}")
    except (PermissionError, OSError) as error:
        return CommandResult(arguments, problem=f"cannot run {arguments[0]}: {error}")
    tail = _OutputTail(process.stdout)
    if on_start is not None:
        on_start(process)
    deadline = started + timeout_s if timeout_s else None
    timed_out = cancelled = False
    while True:
        try:
            process.wait(poll_s)
            break
        except subprocess.TimeoutExpired:
            pass
        if cancel is not None and cancel.is_set():
            cancelled = True
        elif deadline is not None and time.monotonic() >= deadline:
            timed_out = True
        if timed_out or cancelled:
            _kill_group(process)
            break
    seconds = float(timeout_s) if timed_out else time.monotonic() - started
    # Background processes a finished command left holding the output pipe must not hold
    # the watcher: read what is there, briefly.
    tail.join(KILL_GRACE_S)
    return CommandResult(
        arguments, None if (timed_out or cancelled) else process.returncode, tail.text(), seconds, timed_out, cancelled
    )


def group_alive(pgid):
    """Whether any process of the process group ``pgid`` (a command's, see :func:`run_followup`) lives.

    A watcher killed while a command runs leaves the command running (its own session);
    the next watcher asks this before starting it again. Windows: always False.

    Examples
    --------
    >>> import os
    >>> group_alive(os.getpgid(0))
    True
    """
    if os.name == "nt" or not pgid:
        return False
    try:
        os.killpg(int(pgid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


KILL_GRACE_S = 2.0
"""After SIGTERM to a command's process group, how long before SIGKILL."""


def _own_group():
    """Popen options that give the command its own process group (killable as a whole)."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    # A new session: pgid = the command's pid, and no signal of the watcher's terminal.
    return {"start_new_session": True}


def _kill_group(process):
    """End ``process`` and everything it started: SIGTERM, then SIGKILL to its group."""
    if os.name == "nt":
        # taskkill /T ends the whole tree; Popen.kill() only the direct child.
        try:
            subprocess.run(
                ["taskkill", "/F", "/T", "/PID", str(process.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            pass
        if process.poll() is None:
            process.kill()
        process.wait()
        return
    pgid = process.pid  # start_new_session: the command leads its own group
    _signal_group(pgid, signal.SIGTERM)
    try:
        process.wait(KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    # SIGKILL the group even when the leader obeyed SIGTERM: its children may not have.
    _signal_group(pgid, signal.SIGKILL)
    process.wait()


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):  # the group is gone already
        pass


class _OutputTail:
    """Read a pipe in a thread, keeping only the last ``MAX_OUTPUT_CHARS`` bytes (or so)."""

    def __init__(self, pipe):
        self._pipe = pipe
        self._chunks = collections.deque()
        self._size = 0
        self._dropped = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True, name="command output")
        self._thread.start()

    def _read(self):
        try:
            for chunk in iter(lambda: self._pipe.read1(65536), b""):
                with self._lock:
                    self._chunks.append(chunk)
                    self._size += len(chunk)
                    while self._size - len(self._chunks[0]) >= 4 * MAX_OUTPUT_CHARS:
                        self._size -= len(self._chunks.popleft())
                        self._dropped = True
        except (OSError, ValueError):
            pass

    def join(self, timeout):
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._pipe.close()

    def text(self):
        with self._lock:
            data = b"".join(self._chunks)
            dropped = self._dropped
        output = data.decode("utf-8", "replace")
        if dropped or len(output) > MAX_OUTPUT_CHARS:
            output = "..." + output[-MAX_OUTPUT_CHARS:]
        return output
