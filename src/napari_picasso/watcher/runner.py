"""The watcher: localize every new movie in some folders with every parameter group.

One thread does the work (:meth:`Watcher.run`); ``watchdog`` reports file events from
its own thread, and a periodic rescan catches what events miss (network drives).
Everything found goes through the same steps:

1. *found*: a candidate movie (see :mod:`.candidates`) with an output not yet recorded
   in the database;
2. *waiting*: until its members' sizes and times have not changed for ``settle_seconds``
   and it opens (a movie that still does not open after a further ``settle_seconds``
   without changing is *failed*);
3. *started* / *finished* per parameter group through
   :func:`~napari_picasso.distributed.localize_file_distributed` (in this process by default,
   the plain :func:`~napari_picasso.pipeline.localize_file`, which writes temporary files and renames
   them), then recorded (with the custom commands as pending), then the commands run, each
   taken off the pending list when it has run. An output file that exists but is not in
   the database is recorded as it is, never overwritten. A recorded output with commands
   still pending (its watcher was stopped or killed before they ran) gets them run by the
   next watcher that finds its movie.

Stopping (or killing) the watcher mid-file leaves no output for that file and no record,
so the next watcher does it again; ``*_locs.hdf5.part`` files a killed run left behind are
removed when a watcher starts, with the ``_locs.yaml`` of a run killed between renaming
the ``.yaml`` and the ``.hdf5`` into place. An output whose pair is incomplete (an
``.hdf5`` without its ``.yaml``, as runs of older versions killed between the renames
left them) is removed and localized again, never recorded as done.
"""

import contextlib
import os
import queue
import shutil
import threading
import time
from pathlib import Path

from ..distributed.cluster import ComputeSession
from ..distributed.runner import localize_file_distributed
from ..io.errors import OutputWriteError
from ..io.locs import load_info, movie_locs_path, yaml_path_for
from ..io.movies import open_movie
from ..parameters import LocalizeParameters
from ..pipeline import LocalizationCancelled
from .candidates import classify, partial_outputs, scan
from .followup import check_command, command_arguments, group_alive, run_followup
from .log import WatcherLog
from .status import process_tag
from .store import WatcherStore, default_database_path


def output_path(movie_path, group, n_groups, choices=None):
    """``<movie>_locs.hdf5``, or ``<movie>_pg_<group>_locs.hdf5`` with several groups (1-based).

    The reader ``choices`` are part of the name as for every front end
    (``<movie>_channel-DAPI_locs.hdf5``, see :func:`~napari_picasso.io.locs.locs_path_for`).
    """
    suffix = "_locs" if n_groups <= 1 else f"_pg_{group}_locs"
    return movie_locs_path(movie_path, suffix=suffix, choices=choices)


# A full disk: movies writing there wait until this much more space is free than was
# free once the failed movie's partial output was removed.
SPACE_MARGIN_BYTES = 64 << 10
NO_SPACE = "no space left on"  # in the reason of a movie failed on a full disk (OutputWriteError)


def free_bytes(folder):
    """Free bytes on the disk holding ``folder`` (None when it cannot be read)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _device(folder):
    try:
        return os.stat(folder).st_dev
    except OSError:
        return None


class _Pending:
    __slots__ = ("candidate", "signature", "changed_at", "open_error_since", "announced")

    def __init__(self, candidate, signature, now):
        self.candidate = candidate
        self.signature = signature
        self.changed_at = now
        self.open_error_since = None
        self.announced = False


class Watcher:
    """Watch folders and localize each new movie with each parameter group.

    Parameters
    ----------
    folders : sequence of path-like
        Folders to watch.
    groups : sequence of LocalizeParameters
        Parameter groups; each movie is localized once per group.
    commands : sequence of str
        Command templates run in order after each output (see :mod:`.followup`).
    recursive : bool
        Also watch sub-folders.
    settle_seconds : float
        A movie starts once its files have not changed for this long (and it opens).
    rescan_seconds : float
        Interval of the full rescan that catches missed file events.
    db_path : path-like, optional
        The database (default :func:`~.store.default_database_path`).
    log_path : path-like, optional
        The log file (one per watcher); None logs only to ``echo``.
    echo : callable, optional
        Also receives every log line.
    command_timeout_s : float, optional
        A command running longer is killed with every process it started ("command timed
        out after N s" and its partial output are logged) and the watcher goes on with the
        next command / file. None or 0: no limit. Default one hour.
    use_events : bool
        Use watchdog file events (the rescan alone still finds everything, later).
    choices : dict, optional
        Reader choices for files holding more than one movie (``{"channel": "DAPI"}``),
        passed to :func:`~napari_picasso.io.movies.open_movie` for every movie.
    retry_failed : bool
        Also try again movies the database records as failed (otherwise only those that
        change while this watcher runs).
    compute : napari_picasso.distributed.ComputeChoice, optional
        Where movies are localized (default: this process, the plain pipeline); a local
        cluster or scheduler is opened once by the watcher's thread and kept until it stops.
    """

    def __init__(
        self,
        folders,
        groups,
        commands=(),
        recursive=False,
        settle_seconds=5.0,
        rescan_seconds=30.0,
        db_path=None,
        log_path=None,
        echo=None,
        command_timeout_s=3600.0,
        use_events=True,
        name=None,
        retry_failed=False,
        choices=None,
        compute=None,
    ):
        self.folders = [Path(f).expanduser().resolve() for f in folders]
        if not self.folders:
            raise ValueError("give at least one folder to watch")
        for folder in self.folders:
            if not folder.is_dir():
                raise ValueError(f"{folder}: not a folder; give an existing folder to watch.")
        self.groups = list(groups) or [LocalizeParameters()]
        self.commands = list(commands)
        for template in self.commands:
            check_command(template)
        self.recursive = bool(recursive)
        self.settle_seconds = float(settle_seconds)
        self.rescan_seconds = float(rescan_seconds)
        self.db_path = Path(db_path).expanduser() if db_path is not None else default_database_path()
        self.log_path = Path(log_path) if log_path is not None else None
        if command_timeout_s is not None and not float(command_timeout_s) >= 0:
            raise ValueError(f"command timeout {command_timeout_s!r}: give a number of seconds >= 0 (0: no limit).")
        self.command_timeout_s = float(command_timeout_s) if command_timeout_s else None
        self.use_events = use_events
        self.retry_failed = bool(retry_failed)
        self.choices = dict(choices or {})
        self.compute = compute
        self.progress = None  # (frames done, frames total) of the movie being localized
        self.name = name or ", ".join(str(f) for f in self.folders)
        self.log = WatcherLog(self.log_path, echo=echo)
        self.counts = {"finished": 0, "failed": 0}
        self.current = None  # the movie being localized, for front ends
        self.error = None  # an exception that ended run(), for front ends
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._events = queue.SimpleQueue()
        self._pending = {}
        self._done = {}  # movie -> its signature when its outputs were done
        self._failed = {}
        self._retry = set()  # failed earlier, changed since: earlier failure records are ignored
        # Movie -> outputs localized from it before it changed: redone, although recorded.
        self._redo = {}
        # A full disk (its device): {"folder", "free" (bytes when it filled), "movies"}.
        self._no_space = {}
        self._thread = None

    # -- control ----------------------------------------------------------------------
    def start(self):
        """Run the watcher in a background thread; returns the thread."""
        self._thread = threading.Thread(target=self._run_logged, name=f"watcher {self.name}", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, wait=True, timeout=None):
        """Ask the watcher to stop (a localization in progress is cancelled, no output)."""
        self._stop.set()
        self._wake.set()
        if wait and self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self):
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopping(self):
        return self._stop.is_set()

    def _run_logged(self):
        try:
            self.run()
        except Exception as error:  # reported in the log and to front ends
            self.error = error
            self.log.event("error", "", f"watcher ended: {type(error).__name__}: {error}")

    # -- main loop --------------------------------------------------------------------
    def run(self):
        """Watch until :meth:`stop` is called (blocking)."""
        try:
            store = WatcherStore(self.db_path)
        except Exception as error:
            self.log.event("error", self.db_path, f"cannot open the database: {_reason(error)}")
            self.log.close()
            raise
        observer = None
        self._session = ComputeSession()  # opened and closed in this thread
        try:
            self.log.event("watching", self.name, self._describe())
            self._clean_partials()
            observer = self._start_observer()
            next_rescan = 0.0
            while not self._stop.is_set():
                try:
                    now = time.monotonic()
                    if now >= next_rescan:
                        next_rescan = now + self.rescan_seconds
                        for folder in self.folders:
                            for candidate in scan(folder, self.recursive):
                                self._consider(candidate, store)
                    self._drain_events(store)
                    self._check_space()
                    ready = self._next_ready(store)
                    if ready is not None:
                        self._process(ready.candidate, store, ready.signature)
                        continue
                except Exception as error:  # e.g. the database locked for a minute: go on
                    self.log.event("error", "", f"{type(error).__name__}: {error}; continuing")
                    self._stop.wait(self.settle_seconds)
                self._wake.wait(self._poll_seconds())
                self._wake.clear()
        finally:
            if observer is not None:
                observer.stop()
                observer.join(5)
            store.close()
            self._session.close()
            self.log.event(
                "stopped", self.name, f"{self.counts['finished']} outputs finished, {self.counts['failed']} failed"
            )
            self.log.close()

    def _describe(self):
        timeout = (
            (f" (timeout {self.command_timeout_s:g} s)" if self.command_timeout_s else " (no timeout)")
            if self.commands
            else ""
        )
        # "process <pid> on <host>" first: lets readers of the log tell a killed watcher (its
        # process is gone) from a running one (watcher.status).
        return (
            f"{process_tag()}, "
            f"{len(self.groups)} parameter group(s), {len(self.commands)} command(s){timeout}, "
            f"settle {self.settle_seconds:g} s, {'recursive' if self.recursive else 'not recursive'}, "
            f"database {self.db_path}" + (f", compute on {self.compute.describe()}" if self.compute is not None else "")
        )

    def _poll_seconds(self):
        return min(1.0, max(0.05, self.settle_seconds / 4))

    def _clean_partials(self):
        for folder in self.folders:
            for part in partial_outputs(folder, self.recursive):
                self._remove(part, "removed a partial output of an interrupted run")
                target = part.with_name(part.name[: -len(".part")])
                yaml_path = yaml_path_for(target)
                # The writer renames the .yaml before the .hdf5: a .yaml beside an
                # .hdf5.part (and no .hdf5) is the first half of an interrupted commit.
                if target.suffix == ".hdf5" and yaml_path.exists() and not target.exists():
                    self._remove(yaml_path, "removed the .yaml of an output interrupted before its .hdf5 was in place")

    def _remove(self, path, why):
        """Delete a leftover of an interrupted run and log it; False when it cannot be removed."""
        try:
            path.unlink()
        except FileNotFoundError:
            return True
        except OSError as error:
            self.log.event("error", path, f"cannot remove it ({why}): {error}")
            return False
        self.log.event("cleaned", path, why)
        return True

    def _start_observer(self):
        if not self.use_events:
            return None
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            self.log.event("error", "", "watchdog is not installed; finding files by rescans only")
            return None

        events, wake = self._events, self._wake

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                if event.event_type in ("deleted", "closed_no_write", "opened"):
                    return
                events.put(event.src_path)
                dest = getattr(event, "dest_path", "")
                if dest:
                    events.put(dest)
                wake.set()

        observer = Observer()
        try:
            for folder in self.folders:
                observer.schedule(Handler(), str(folder), recursive=self.recursive)
            observer.start()
        except (OSError, RecursionError) as error:  # RecursionError: watchdog walking a very deep tree
            with contextlib.suppress(Exception):
                observer.stop()
            self.log.event("error", "", f"file events unavailable ({error}); finding files by rescans only")
            return None
        return observer

    def _drain_events(self, store):
        seen = set()
        while True:
            try:
                raw = self._events.get_nowait()
            except queue.Empty:
                break
            if raw in seen:
                continue
            seen.add(raw)
            path = Path(os.fsdecode(raw))
            if path.is_dir() and self.recursive and classify(path) is None:
                if self._watched(path / "x"):
                    for candidate in scan(path, recursive=True):
                        self._consider(candidate, store)
                continue
            candidate = classify(path)
            if candidate is not None and self._watched(candidate.path):
                self._consider(candidate, store)

    def _watched(self, movie_path):
        """Whether a movie (file or dataset folder) lies where this watcher looks."""
        for folder in self.folders:
            if movie_path.parent == folder:
                return True
            if self.recursive and folder in movie_path.parents:
                return True
        return False

    # -- bookkeeping -------------------------------------------------------------------
    def _outputs(self, candidate):
        n = len(self.groups)
        return [(i, output_path(candidate.path, i, n, self.choices)) for i in range(1, n + 1)]

    def _consider(self, candidate, store):
        """A candidate was seen (scan or event): start tracking it if it has work left."""
        key = candidate.path
        if key in self._pending:
            return
        if key in self._done:
            signature = candidate.signature()
            if signature is None or signature == self._done[key]:
                return
            # Grown or replaced after it was localized (an acquisition that paused longer
            # than the settle time): every output is redone from the new content.
            del self._done[key]
            self._redo[key] = {locs for _, locs in self._outputs(candidate)}
            self.log.event("changed", key, "changed after it was localized; its outputs are redone")
        if any(key in paused["movies"] for paused in self._no_space.values()):
            return  # retried when its disk has space again
        if key in self._failed:
            if candidate.signature() == self._failed[key]:
                return
            del self._failed[key]  # the file changed since it failed: try again
            self._retry.add(key)
        else:
            outputs = [locs for _, locs in self._outputs(candidate)]
            statuses = [store.status(locs) for locs in outputs]
            if "failed" in statuses and (
                self.retry_failed
                or any(NO_SPACE in (store.reason(locs) or "") for s, locs in zip(statuses, outputs) if s == "failed")
            ):
                # A full disk is no fault of the movie: a new watcher tries it again (and,
                # if the disk is still full, pauses as the last one did).
                self._retry.add(key)
            elif None not in statuses and not any(
                status == "ok" and store.pending_commands(locs) for status, locs in zip(statuses, outputs)
            ):
                changed = self._changed_since_recorded(candidate, store, outputs, statuses)
                if not changed:
                    self._done[key] = candidate.signature()
                    return
                self._redo[key] = changed
                self.log.event(
                    "changed",
                    key,
                    f"differs from what {len(changed)} recorded output(s) were localized from; redoing them",
                )
        signature = candidate.signature()
        if signature is None:
            return
        self._pending[key] = _Pending(candidate, signature, time.monotonic())
        self.log.event("found", key, f"{candidate.kind}, {len(candidate.members())} file(s)")

    def _changed_since_recorded(self, candidate, store, outputs, statuses):
        """The ``ok`` outputs whose movie has changed since they were recorded (a set).

        Their rows record the movie's files (size, mtime) as localized; rows without
        (earlier versions, outputs recorded as found) are compared by frame count.
        """
        now = candidate.signature()
        if now is None:
            return set()
        changed = set()
        frames = None
        for locs, status in zip(outputs, statuses):
            if status != "ok":
                continue
            recorded = store.movie_signature(locs)
            if recorded is not None:
                if recorded != now:
                    changed.add(locs)
                continue
            recorded_frames = store.frames(locs)
            if recorded_frames is None:
                continue
            if frames is None:
                frames = self._movie_frames(candidate)
            if frames is not None and int(recorded_frames) != frames:
                changed.add(locs)
        return changed

    @staticmethod
    def _written_from(locs_path, movie_path):
        """Whether napari-picasso wrote ``locs_path`` from ``movie_path`` (its ``_locs.yaml`` says so)."""
        try:
            info = load_info(locs_path)
        except Exception:  # noqa: BLE001  (unreadable: not recognisably ours)
            return False
        movie = info[0] if info else {}
        made = info[1] if len(info) > 1 else {}
        return str(made.get("Generated by", "")).startswith("napari-picasso") and Path(
            str(movie.get("File", ""))
        ) == Path(movie_path)

    def _movie_frames(self, candidate):
        try:
            with open_movie(candidate.path, **self.choices) as movie:
                return int(movie.shape[0])
        except Exception:  # noqa: BLE001  (a movie that does not open is dealt with when it is tried)
            return None

    def _next_ready(self, store):
        """The first pending candidate that is complete and opens (its :class:`_Pending`), or None."""
        now = time.monotonic()
        for key in list(self._pending):
            state = self._pending[key]
            signature = state.candidate.signature()
            if signature is None:
                del self._pending[key]
                self.log.event("vanished", key, "removed before it was localized")
                continue
            if signature != state.signature:
                state.signature = signature
                state.changed_at = now
                state.open_error_since = None
                if not state.announced:
                    state.announced = True
                    self.log.event(
                        "waiting", key, f"still being written; starts after {self.settle_seconds:g} s without changes"
                    )
                continue
            if now - state.changed_at < self.settle_seconds:
                continue
            if self._no_space and self._paused(state.candidate):
                continue
            problem = self._open_problem(state.candidate, self.choices)
            if problem is None:
                del self._pending[key]
                return state
            if state.open_error_since is None:
                state.open_error_since = now
                self.log.event("waiting", key, f"complete but does not open yet: {problem}")
            elif now - state.open_error_since >= self.settle_seconds:
                del self._pending[key]
                self._failed[key] = signature
                self.counts["failed"] += 1
                self.log.event("failed", key, problem)
                for (_, locs_path), parameters in zip(self._outputs(state.candidate), self.groups):
                    store.record_failure(key, locs_path, problem, parameters)
        return None

    @staticmethod
    def _open_problem(candidate, choices):
        try:
            with open_movie(candidate.path, **choices) as movie:
                if movie.shape[0] < 1:
                    return "holds no frames"
        except Exception as error:  # any reader error: the reason goes to the log and database
            return _reason(error, candidate.path)
        return None

    # -- localization ------------------------------------------------------------------
    def _process(self, candidate, store, settled=None):
        """Localize a movie with every group not yet recorded.

        ``settled`` is the movie's signature when it was found complete: a movie whose
        signature differs after a localization changed while it was read (an acquisition
        that went on after a pause longer than the settle time, a file copied over): that
        output is discarded (no row) and the movie waits to settle again.
        """
        key = candidate.path
        settled = candidate.signature() if settled is None else settled
        n_groups = len(self.groups)
        any_failed = False
        retry = key in self._retry
        self._retry.discard(key)
        redo = self._redo.pop(key, set())
        localized = []  # outputs made in this pass, from the movie as ``settled``
        for (group, locs_path), parameters in zip(self._outputs(candidate), self.groups):
            status = None if locs_path in redo else store.status(locs_path)
            if status == "ok":
                left = store.pending_commands(locs_path)
                if left:  # a watcher stopped or killed before they all ran
                    self.log.event(
                        "resumed",
                        locs_path,
                        f"{len(left)} command(s) not run to the end by an interrupted watcher: {left!r}",
                    )
                    self._run_commands(key, locs_path, left, store)
                continue
            if status is not None and not (retry and status == "failed"):
                continue
            if status is None and locs_path.exists() and not yaml_path_for(locs_path).exists():
                # Half an output (an older version killed between its two renames): Picasso
                # cannot use an .hdf5 without its .yaml, and it cannot be recorded. Redo it.
                self._remove(locs_path, "an output without its .yaml (interrupted run); localizing it again")
            elif status is None and locs_path.exists() and locs_path not in redo:
                # Never overwrite a finished output (an earlier Picasso run, or a watcher
                # killed between renaming it into place and recording it): record it. One
                # this watcher's pipeline wrote from this movie lost its row, not its
                # commands: they are recorded as pending and run.
                ours = self.commands and self._written_from(locs_path, key)
                try:
                    store.record_localization(
                        locs_path,
                        pending_commands=self.commands if ours else None,
                        movie_signature=settled if ours else None,
                    )
                except Exception as error:
                    self.log.event("error", locs_path, f"exists but cannot be recorded: {_reason(error)}")
                    continue
                self.log.event("skipped", key, f"{locs_path.name} exists already; recorded it, not overwritten")
                if ours:
                    self.log.event(
                        "resumed",
                        locs_path,
                        f"written before an interrupted watcher recorded it: running its {len(self.commands)} "
                        "command(s)",
                    )
                    self._run_commands(key, locs_path, self.commands, store)
                continue
            label = f"group {group}/{n_groups}" if n_groups > 1 else "localizing"
            self.log.event("started", key, f"{label} -> {locs_path.name}")
            self.current = key
            try:
                client = self._session.client_for(self.compute)  # None: in this process
                result = localize_file_distributed(
                    key,
                    parameters,
                    locs_path,
                    client=client,
                    cancel=self._stop,
                    progress=self._progressed,
                    **self.choices,
                )
            except LocalizationCancelled:
                self.log.event("stopped", key, "stopped mid-file; nothing written, it restarts next time")
                if retry:
                    self._retry.add(key)
                self._pending[key] = _Pending(candidate, candidate.signature(), time.monotonic())
                return
            except Exception as error:  # a bad file must not end the watcher
                if self._changed(candidate, settled, localized, store):
                    return  # perhaps it failed because it changed; it is tried again once settled
                reason = _reason(error, key)
                any_failed = True
                self.counts["failed"] += 1
                self.log.event("failed", key, f"{label}: {reason}")
                store.record_failure(key, locs_path, reason, parameters)
                if isinstance(error, OutputWriteError) and error.disk_full:
                    self._wait_for_space(candidate, error.folder)
                    return
                continue
            finally:
                self.current = None
                self.progress = None
            if self._changed(candidate, settled, localized + [locs_path], store):
                return
            localized.append(locs_path)
            try:
                # The commands are recorded as pending with the row: a watcher killed before
                # they have all run leaves them to the next one.
                store.record_localization(locs_path, pending_commands=self.commands, movie_signature=settled)
            except Exception as error:  # the output exists; say why it is not in the database
                self.log.event("error", locs_path, f"localized but not recorded: {_reason(error)}")
            self.counts["finished"] += 1
            rate = result.n_frames / max(result.seconds, 1e-9)
            self.log.event(
                "finished",
                key,
                f"{label}: {result.n_locs} localizations in {result.n_frames} frames, "
                f"{result.seconds:.2f} s ({rate:,.0f} frames/s) -> {locs_path}",
            )
            for text in getattr(result, "warnings", ()):
                self.log.event("warning", key, text)
            self._run_commands(key, locs_path, self.commands, store)
        if any_failed:
            self._failed[key] = candidate.signature()
        else:
            self._done[key] = settled

    def _changed(self, candidate, settled, outputs, store):
        """If the movie changed since ``settled``: discard ``outputs`` made from it, queue it again.

        The newest output (not recorded yet) is removed, .hdf5 first (an .hdf5 in place
        means a whole pair); outputs of earlier groups of this pass keep their rows until
        they are redone from the new content. Returns whether it changed.
        """
        now = candidate.signature()
        if now == settled:
            return False
        newest = outputs[-1] if outputs else None
        if newest is not None and store.status(newest) is None:
            for path in (newest, yaml_path_for(newest)):
                self._remove(path, "localized from a movie that changed meanwhile; discarded")
        earlier = [p for p in outputs if p != newest or store.status(p) is not None]
        if earlier:
            self._redo[candidate.path] = set(earlier)
        self.log.event(
            "waiting",
            candidate.path,
            "changed while it was localized; its output is discarded and "
            f"it starts again after {self.settle_seconds:g} s without changes"
            + (f" ({len(earlier)} earlier output(s) redone)" if earlier else ""),
        )
        if now is not None:
            self._pending[candidate.path] = _Pending(candidate, now, time.monotonic())
        return True

    # -- a full disk ------------------------------------------------------------------
    def _wait_for_space(self, candidate, folder):
        """Pause the movies writing to ``folder``'s disk; ``candidate`` is retried when space returns."""
        device = _device(folder)
        paused = self._no_space.setdefault(device, {"folder": folder, "free": free_bytes(folder), "movies": {}})
        paused["movies"][candidate.path] = candidate
        self._retry.add(candidate.path)
        if len(paused["movies"]) == 1:
            self.log.event(
                "paused",
                folder,
                f"no space left on {folder}: localizations writing there wait until space is freed, "
                f"then {candidate.path.name} is tried again",
            )

    def _paused(self, candidate):
        """Whether an output of ``candidate`` goes to a disk that is full."""
        return any(_device(locs.parent) in self._no_space for _, locs in self._outputs(candidate))

    def _check_space(self):
        """Resume the movies of a full disk once space has been freed on it."""
        for device, paused in list(self._no_space.items()):
            free = free_bytes(paused["folder"])
            if free is None or paused["free"] is None or free < paused["free"] + SPACE_MARGIN_BYTES:
                continue
            del self._no_space[device]
            self.log.event(
                "resumed",
                paused["folder"],
                f"space freed ({free / 2**20:,.1f} MiB free); retrying {len(paused['movies'])} movie(s)",
            )
            now = time.monotonic()
            for key, candidate in paused["movies"].items():
                signature = candidate.signature()
                if signature is not None:
                    self._pending[key] = _Pending(candidate, signature, now - self.settle_seconds)

    def _progressed(self, done, total):
        self.progress = (done, total)

    def _run_commands(self, movie_path, locs_path, commands, store):
        """Run ``commands`` in order on an output, taking each off its row's pending list.

        A command counts as run once it has ended on its own (any exit code), timed out or
        could not start; one killed because the watcher stopped, and those after it, stay
        pending and run when a watcher next finds the movie (a command may thus run twice
        when a watcher is killed while it runs: commands should tolerate that).
        """
        left = list(commands)
        if not self._wait_for_orphan(movie_path, locs_path, left, store):
            return
        while left:
            if self._stop.is_set():
                return
            template = left[0]

            def started(process, locs_path=locs_path):
                running = {"pid": process.pid, "pgid": process.pid, "arguments": list(process.args)}
                try:
                    store.set_running_command(locs_path, running)
                except Exception as error:  # noqa: BLE001  (it runs anyway)
                    self.log.event("error", locs_path, f"command running but not recorded: {_reason(error)}")

            # Stopping the watcher kills a running command (its whole process group).
            result = run_followup(
                template,
                locs_path,
                movie_path,
                cwd=Path(locs_path).parent,
                timeout_s=self.command_timeout_s,
                cancel=self._stop,
                on_start=started if os.name != "nt" else None,
            )
            output = result.output.rstrip()
            if result.timed_out:
                line = (
                    f"command timed out after {result.seconds:g} s (killed): {result.arguments!r}; "
                    f"partial output: {output}"
                )
            elif result.cancelled:
                line = (
                    f"command stopped with the watcher after {result.seconds:.1f} s (killed): "
                    f"{result.arguments!r}; partial output: {output}"
                )
            elif result.exit_code is None:
                line = f"did not run to completion: {result.arguments!r}; output: {result.message().rstrip()}"
            else:
                line = f"exit {result.exit_code}: {result.arguments!r}; output: {output}"
            self.log.event("command", locs_path, line)
            if result.cancelled:
                return
            left.pop(0)
            self._record_command_done(locs_path, left, store)

    def _record_command_done(self, locs_path, left, store):
        try:
            store.set_pending_commands(locs_path, left)
            store.set_running_command(locs_path, None)
        except Exception as error:  # it ran; the next watcher would run it again
            self.log.event("error", locs_path, f"command ran but is not recorded as run: {_reason(error)}")

    def _wait_for_orphan(self, movie_path, locs_path, left, store):
        """Wait for a command an earlier (killed) watcher left running; False when stopped.

        Its record names its process group: while any of it lives the command is not
        started again beside it; once it has ended it counts as run (taken off ``left``).
        """
        try:
            running = store.running_command(locs_path)
        except Exception:  # noqa: BLE001  (unreadable: nothing known to wait for)
            return True
        if not running or not group_alive(running.get("pgid")):
            return True
        self.log.event(
            "waiting",
            locs_path,
            f"command {running.get('arguments')!r} of an interrupted watcher still runs (process group "
            f"{running.get('pgid')}); not starting it again, waiting for it to end",
        )
        while group_alive(running.get("pgid")):
            if self._stop.wait(self._poll_seconds()):
                return False
        self.log.event("command", locs_path, f"ended (run by an interrupted watcher): {running.get('arguments')!r}")
        if left:
            try:
                expected = command_arguments(left[0], locs_path, movie_path)
            except ValueError:
                expected = None
            if expected == running.get("arguments"):
                left.pop(0)
        self._record_command_done(locs_path, left, store)
        return True


def _reason(error, path=None):
    """The log's and database's reason: names the file, then what is wrong."""
    text = str(error)
    if not (isinstance(error, (ValueError, OSError)) and text):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    if path is not None and str(path) not in text:
        text = f"{path}: {text}"
    return text
