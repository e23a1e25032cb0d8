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

import os
import queue
import threading
import time
from pathlib import Path

from ..distributed.cluster import ComputeSession
from ..distributed.runner import localize_file_distributed
from ..io.follow import follow_movie
from ..io.locs import movie_locs_path, yaml_path_for
from ..io.movies import open_movie
from ..parameters import LocalizeParameters
from ..pipeline import LocalizationCancelled, localize_file
from .candidates import classify, partial_outputs, scan
from .followup import check_command, run_followup
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
    live : bool
        Start on a movie as soon as it appears and localize it while it is written
        (:func:`~napari_picasso.io.follow.follow_movie`, in this process); it ends when its
        files have not grown for ``settle_seconds`` (at least 1 s). Formats that cannot be
        followed (.nd2, .ims ...) still wait to settle; further groups run on the ended movie.
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
        live=False,
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
        self.live = bool(live)
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
        self._done = set()
        self._failed = {}
        self._retry = set()  # failed earlier, changed since: earlier failure records are ignored
        # Movie -> outputs localized from it before it changed: redone, although recorded.
        self._redo = {}
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
            f"database {self.db_path}"
            + (f", compute on {self.compute.describe()}" if self.compute is not None else "")
            + (", live (movies localized while they are written)" if self.live else "")
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
        except OSError as error:
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
        if key in self._done or key in self._pending:
            return
        if key in self._failed:
            if candidate.signature() == self._failed[key]:
                return
            del self._failed[key]  # the file changed since it failed: try again
            self._retry.add(key)
        else:
            outputs = [locs for _, locs in self._outputs(candidate)]
            statuses = [store.status(locs) for locs in outputs]
            if self.retry_failed and "failed" in statuses:
                self._retry.add(key)
            elif None not in statuses and not any(
                status == "ok" and store.pending_commands(locs) for status, locs in zip(statuses, outputs)
            ):
                self._done.add(key)
                return
        signature = candidate.signature()
        if signature is None:
            return
        self._pending[key] = _Pending(candidate, signature, time.monotonic())
        self.log.event("found", key, f"{candidate.kind}, {len(candidate.members())} file(s)")

    def _next_ready(self, store):
        """The first pending candidate that is complete and opens (its :class:`_Pending`), or None."""
        now = time.monotonic()
        for key in list(self._pending):
            state = self._pending[key]
            if self.live and followable(state.candidate):
                del self._pending[key]  # started at once: it is followed while it is written
                return state
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
                # killed between renaming it into place and recording it): record it.
                try:
                    store.record_localization(locs_path)
                except Exception as error:
                    self.log.event("error", locs_path, f"exists but cannot be recorded: {_reason(error)}")
                else:
                    self.log.event("skipped", key, f"{locs_path.name} exists already; recorded it, not overwritten")
                continue
            label = f"group {group}/{n_groups}" if n_groups > 1 else "localizing"
            follow = self.live and followable(candidate) and not localized
            self.log.event("started", key, f"{label} -> {locs_path.name}" + (" (live)" if follow else ""))
            self.current = key
            try:
                result = self._localize(key, parameters, locs_path, follow)
                if follow:  # the movie as it ended is what the output is of
                    settled = candidate.signature()
            except LocalizationCancelled:
                self.log.event("stopped", key, "stopped mid-file; nothing written, it restarts next time")
                if retry:
                    self._retry.add(key)
                self._pending[key] = _Pending(candidate, candidate.signature(), time.monotonic())
                return
            except Exception as error:  # a bad file must not end the watcher
                if follow:  # it grew while followed: that is no change of a finished movie
                    settled = candidate.signature()
                if self._changed(candidate, settled, localized, store):
                    return  # perhaps it failed because it changed; it is tried again once settled
                reason = _reason(error, key)
                any_failed = True
                self.counts["failed"] += 1
                self.log.event("failed", key, f"{label}: {reason}")
                store.record_failure(key, locs_path, reason, parameters)
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
                store.record_localization(locs_path, pending_commands=self.commands)
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
            self._run_commands(key, locs_path, self.commands, store)
        if any_failed:
            self._failed[key] = candidate.signature()
        else:
            self._done.add(key)

    def _localize(self, key, parameters, locs_path, follow):
        if follow:
            idle = max(1.0, self.settle_seconds)
            with follow_movie(key, idle_seconds=idle, **self.choices) as movie:
                return localize_file(movie, parameters, locs_path, cancel=self._stop, progress=self._progressed)
        client = self._session.client_for(self.compute)  # None: in this process
        return localize_file_distributed(
            key, parameters, locs_path, client=client, cancel=self._stop, progress=self._progressed, **self.choices
        )

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
        while left:
            if self._stop.is_set():
                return
            template = left[0]
            # Stopping the watcher kills a running command (its whole process group).
            result = run_followup(
                template,
                locs_path,
                movie_path,
                cwd=Path(locs_path).parent,
                timeout_s=self.command_timeout_s,
                cancel=self._stop,
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
            try:
                store.set_pending_commands(locs_path, left)
            except Exception as error:  # it ran; the next watcher would run it again
                self.log.event("error", locs_path, f"command ran but is not recorded as run: {_reason(error)}")


FOLLOWED_ENDINGS = (".raw", ".tif", ".tiff")


def followable(candidate):
    """Whether ``--live`` can follow the movie while it is written (TIFF, MMStack, NDTiff, .raw)."""
    return candidate.kind in ("ndtiff", "mmstack") or candidate.path.name.lower().endswith(FOLLOWED_ENDINGS)


def _reason(error, path=None):
    """The log's and database's reason: names the file, then what is wrong."""
    text = str(error)
    if not (isinstance(error, (ValueError, OSError)) and text):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    if path is not None and str(path) not in text:
        text = f"{path}: {text}"
    return text
