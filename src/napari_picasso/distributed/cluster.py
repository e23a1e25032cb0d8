"""Where localization runs: in this process, on a local cluster, or on a Dask scheduler.

:class:`ComputeChoice` is what a front end (the command line, the Localize widget, the
watcher) collects from the user; :func:`compute_client` turns it into a
``distributed.Client`` (or ``None`` for the in-process pipeline) and closes what it
started. ``dask[distributed]`` is an optional dependency, imported only here and only
when a cluster is asked for.
"""

import contextlib
import copy
import dataclasses
import logging
import os

MODES = ("threads", "local-cluster", "scheduler")

# A task whose worker process dies is moved to another worker; after this many deaths
# while running it, the scheduler gives up on it (KilledWorker) instead of killing the
# whole cluster one worker at a time.
ALLOWED_FAILURES = 3


# Dask background work a localization does not need. The workers' statistical profiler
# samples every thread's stack every 10 ms (it cannot see inside numba kernels anyway);
# the event-loop and system monitors wake up 50 and 2 times a second. Measured on an idle
# 2-worker cluster: 19 -> 3 ms CPU per second per worker, 27 -> 8 in the client process.
QUIET_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def _missing_distributed(error):
    return ImportError(
        "running on a Dask cluster needs dask.distributed, which is not installed "
        f"({error}). Fix: pip install -e '.[distributed]' in a clone of napari-picasso "
        "(or pip install dask distributed)."
    )


def import_distributed():
    """``distributed``, or an ImportError that says how to install it."""
    try:
        import distributed
    except ImportError as error:
        raise _missing_distributed(error) from None
    return distributed


def available_cores():
    """Cores this process may use (the affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def numba_threads_per_worker(n_workers, cores=None):
    """numba threads for each of ``n_workers`` processes so that together they fill the cores once."""
    cores = available_cores() if cores is None else int(cores)
    return max(1, cores // max(1, int(n_workers)))


@dataclasses.dataclass(frozen=True)
class ComputeChoice:
    """Where a localization runs.

    Attributes
    ----------
    mode : str
        ``"threads"``: this process, numba threads on every core (the plain pipeline);
        ``"local-cluster"``: ``workers`` worker processes on this machine;
        ``"scheduler"``: an existing Dask scheduler at ``address``.
    workers : int or None
        Worker processes of a local cluster (default: one per core).
    threads_per_worker : int or None
        numba threads in each local worker (default: cores // workers, so that the
        workers do not oversubscribe the cores).
    address : str or None
        Scheduler address (``tcp://host:8786``) or the path of a scheduler file.
    allowed_failures : int
        Worker deaths a task survives before it is reported as failed (local cluster;
        an existing scheduler keeps its own ``distributed.scheduler.allowed-failures``).
    """

    mode: str = "threads"
    workers: int | None = None
    threads_per_worker: int | None = None
    address: str | None = None
    allowed_failures: int = ALLOWED_FAILURES

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"compute mode must be one of {', '.join(MODES)}; got {self.mode!r}")
        if self.mode == "scheduler" and not self.address:
            raise ValueError("a scheduler address is needed (e.g. tcp://host:8786)")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be at least 1; got {self.workers}")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise ValueError(f"threads per worker must be at least 1; got {self.threads_per_worker}")

    @classmethod
    def from_options(cls, workers=None, scheduler=None, threads_per_worker=None, allowed_failures=None):
        """The choice a command line's ``--workers`` / ``--scheduler`` describe.

        ``threads_per_worker`` and ``allowed_failures`` (None: not given) size the local
        cluster that ``--workers`` starts.

        Raises
        ------
        ValueError
            For both ``workers`` and ``scheduler``, or for a local-cluster option given
            without ``workers``: it would change nothing (a running scheduler's workers
            keep the threads and the retry limit they were started with), and a user who
            gave it believes otherwise.
        """
        if workers is not None and scheduler is not None:
            raise ValueError("choose either a number of local workers or a scheduler address, not both")
        local_only = [
            option
            for option, value in (
                ("--threads-per-worker", threads_per_worker),
                ("--allowed-failures", allowed_failures),
            )
            if value is not None
        ]
        if local_only and workers is None:
            named = " and ".join(local_only)
            applies = "applies" if len(local_only) == 1 else "apply"
            if scheduler is not None:
                raise ValueError(
                    f"{named} {applies} only to the local cluster that --workers N starts, not to the "
                    f"workers of the scheduler {scheduler}: they keep what they were started with "
                    "('dask worker --nthreads', NUMBA_NUM_THREADS in their environment; the scheduler's "
                    f"distributed.scheduler.allowed-failures). Fix: leave out {named}, or use --workers N "
                    "instead of --scheduler."
                )
            raise ValueError(
                f"{named} {applies} only to the local cluster that --workers N starts; without "
                f"--workers this process localizes with numba threads on every core. Fix: add "
                f"--workers N, or leave out {named}."
            )
        if allowed_failures is None:
            allowed_failures = ALLOWED_FAILURES
        if scheduler is not None:
            return cls("scheduler", address=str(scheduler), allowed_failures=allowed_failures)
        if workers is not None:
            return cls(
                "local-cluster",
                workers=int(workers),
                threads_per_worker=threads_per_worker,
                allowed_failures=allowed_failures,
            )
        return cls("threads")

    def describe(self):
        """One line for logs and status tables."""
        if self.mode == "threads":
            return "this process (numba threads)"
        if self.mode == "local-cluster":
            workers = self.workers or available_cores()
            threads = self.threads_per_worker or numba_threads_per_worker(workers)
            return f"local cluster, {workers} worker processes x {threads} numba threads"
        return f"Dask scheduler {self.address}"


def start_local_cluster(
    workers=None,
    threads_per_worker=None,
    allowed_failures=ALLOWED_FAILURES,
    dashboard_address=":0",
    silence_logs=logging.ERROR,
):
    """A ``LocalCluster`` of worker processes sized so numba does not oversubscribe.

    Close it with :func:`close_cluster`.

    Each worker runs one task at a time (one Dask thread) and gives numba
    ``threads_per_worker`` threads through ``NUMBA_NUM_THREADS`` in the worker's
    environment (applied by each task, see :func:`~.blocks.limit_numba_threads`). The
    scheduler's web server takes a free port (``":0"``), so several clusters (other users,
    other sessions) can run on one machine.
    """
    distributed = import_distributed()
    import dask

    workers = int(workers or available_cores())
    threads = int(threads_per_worker or numba_threads_per_worker(workers))
    env = {
        "NUMBA_NUM_THREADS": str(threads),
        # tbb and OpenMP size their pools from these where numba's setting is not seen.
        "OMP_NUM_THREADS": str(threads),
    }
    with dask.config.set(QUIET_CONFIG):
        # The scheduler reads the configuration now; workers (also those added later by
        # cluster.scale) get this whole configuration from their nanny.
        worker_config = copy.deepcopy(dask.config.config)
        return distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            env=env,
            config=worker_config,
            dashboard_address=dashboard_address,
            silence_logs=silence_logs,
            scheduler_kwargs={"allowed_failures": int(allowed_failures)},
        )


def connect(address):
    """A client of the scheduler at ``address`` (``tcp://...``) or described by a scheduler file."""
    distributed = import_distributed()
    if os.path.isfile(str(address)):
        return distributed.Client(scheduler_file=str(address))
    return distributed.Client(str(address))


@contextlib.contextmanager
def compute_client(choice=None):
    """Yield a ``distributed.Client`` for ``choice`` (``None`` for in-process threads).

    A local cluster started here is shut down on exit; a scheduler given by address is
    only disconnected from.

    Parameters
    ----------
    choice : ComputeChoice, distributed.Client, str or None
        A client is yielded as it is (and left open); a string is a scheduler address.
    """
    if choice is None or (isinstance(choice, ComputeChoice) and choice.mode == "threads"):
        yield None
        return
    if isinstance(choice, str):
        choice = ComputeChoice("scheduler", address=choice)
    if not isinstance(choice, ComputeChoice):
        yield choice  # an open client, owned by the caller
        return
    distributed = import_distributed()
    # Clients are closed explicitly rather than used as context managers: a client's
    # ``with`` sets a context variable that only the entering thread can reset, and the
    # widget and the watcher open a session in one worker thread and close it in another.
    if choice.mode == "scheduler":
        client = connect(choice.address)
        try:
            yield client
        finally:
            client.close()
        return
    cluster = start_local_cluster(choice.workers, choice.threads_per_worker, choice.allowed_failures)
    try:
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        close_cluster(cluster)


def close_cluster(cluster):
    """Shut a local cluster down; an error in Dask's own bookkeeping on the way is logged.

    After a worker process died during the run (and was replaced), ``LocalCluster.close``
    can raise a KeyError from its worker-status watcher once every process is already
    stopped (distributed 2026.8). The results are written by then, so this must not turn
    a finished run into a failed one.
    """
    try:
        cluster.close()
    except Exception as error:  # noqa: BLE001  (see above: raised after the processes stopped)
        logging.getLogger(__name__).warning("closing the local Dask cluster: %r", error)


class ComputeSession:
    """A client kept open across runs, for long-lived front ends (widget, watcher).

    Starting a local cluster takes seconds; a widget or a watcher localizing file after
    file asks :meth:`client_for` each time and gets the same client while the user's
    choice stays the same; a new choice closes the old cluster first.

    Examples
    --------
    >>> session = ComputeSession()
    >>> client = session.client_for(ComputeChoice("local-cluster", workers=2))  # doctest: +SKIP
    >>> localize_file_distributed(path, parameters, client=client, progress=bar)  # doctest: +SKIP
    >>> session.close()  # doctest: +SKIP
    """

    def __init__(self):
        self.choice = None
        self.client = None
        self._stack = contextlib.ExitStack()

    def client_for(self, choice):
        """The client for ``choice`` (``None`` for in-process threads)."""
        if choice != self.choice:
            self.close()
            self.client = self._stack.enter_context(compute_client(choice))
            self.choice = choice
        return self.client

    def close(self):
        """Shut down what this session started (a local cluster) or disconnect."""
        self._stack.close()
        self._stack = contextlib.ExitStack()
        self.choice = None
        self.client = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def total_threads(client):
    """Task slots (Dask threads) of all workers the client's scheduler knows."""
    return max(1, sum(client.nthreads().values()))
