"""The batch and cluster options of ``napari-picasso localize`` (see napari_picasso.distributed)."""

import sys
import threading
from pathlib import Path

from ..distributed.batch import find_movies, is_dataset_folder, run_batch, status_table
from ..distributed.cluster import ALLOWED_FAILURES, ComputeChoice
from ..parameters import number_argument
from ._progress import ProgressBar


def add_batch_options(parser):
    """``--workers``, ``--scheduler``, ``--analysis-folder`` and their tuning options."""
    group = parser.add_argument_group(
        "many cores, many machines, many files",
        "MOVIE may also be a folder: it is scanned for movies at any depth. With a folder or "
        "any of these options a status table is printed at the end.",
    )
    add_compute_options(group)
    group.add_argument(
        "--block-frames",
        type=number_argument("--block-frames", label="frames per task", minimum=1),
        metavar="F",
        help="frames per task (default: about 4 tasks per worker, at most one 64 MB chunk)",
    )
    group.add_argument(
        "--files-at-once",
        type=number_argument("--files-at-once", label="movies at once", minimum=1),
        metavar="M",
        help="movies in progress at the same time on a cluster (default 2; more for short movies on many workers)",
    )
    group.add_argument(
        "--analysis-folder",
        nargs="?",
        const=True,
        default=None,
        type=Path,
        metavar="DIR",
        help="write results into an 'analysis' folder inside each input folder "
        "(or into DIR), mirroring the input tree, instead of beside each movie",
    )


def add_compute_options(group):
    """``--workers`` or ``--scheduler``, and the options of the local cluster (see :func:`compute_choice`)."""
    where = group.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=number_argument("--workers", label="workers", minimum=1),
        metavar="N",
        help="start a local Dask cluster of N worker processes (needs the 'distributed' extra)",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="use a running Dask scheduler (tcp://host:8786, or a scheduler file); "
        "workers must see the movies under the same paths",
    )
    group.add_argument(
        "--threads-per-worker",
        type=number_argument("--threads-per-worker", label="threads per worker", minimum=1),
        metavar="T",
        help="numba threads per worker of the local cluster --workers starts (default: "
        "cores // N; not with --scheduler: its workers keep their own)",
    )
    group.add_argument(
        "--allowed-failures",
        type=number_argument("--allowed-failures", label="allowed failures", minimum=0),
        metavar="K",
        help="worker deaths a task survives on the local cluster --workers starts "
        f"(default {ALLOWED_FAILURES}; not with --scheduler: it keeps its own)",
    )


def wants_batch(args):
    """True when the run needs the batch path (a cluster, a folder, the analysis tree).

    Plain movie files without these options keep the one-by-one path (a summary line per
    movie, errors on stderr).
    """
    return (
        args.workers is not None
        or args.scheduler is not None
        or args.analysis_folder is not None
        or args.block_frames is not None
        or args.files_at_once is not None
        or any(Path(m).is_dir() and not is_dataset_folder(Path(m)) for m in args.movies)
    )


# The exit code of ``localize`` when every movie was localized but a database row could not be
# written (1: a movie failed, 2: bad options, 130: cancelled).
EXIT_NOT_RECORDED = 3


def exit_code(outcomes):
    """``localize``'s exit code: 130 cancelled, 1 a movie failed, 3 a row not written, else 0."""
    if any(o.status == "cancelled" for o in outcomes):
        return 130
    if any(o.status == "failed" for o in outcomes):
        return 1
    return EXIT_NOT_RECORDED if any(o.note for o in outcomes) else 0


def database_recorder(args, stream=None):
    """``on_result`` for :func:`run_batch`: one database row per file, done or failed.

    Honours ``--db``, ``--no-db`` and ``--group`` (see ``commands.db``); a database
    problem raises here, so that :func:`run_batch` notes it in the outcome (a warning
    and :data:`EXIT_NOT_RECORDED`); it fails no localization.
    """

    def record(outcome):
        if getattr(args, "no_db", False):
            return
        if outcome.status == "done":
            from ..db import record_file

            record_file(outcome.locs_path, getattr(args, "db", None), group=getattr(args, "group", None))
        elif outcome.status == "failed":
            from ..db import open_database, record_failure

            db = open_database(getattr(args, "db", None))
            try:
                record_failure(
                    db, outcome.movie, outcome.error, locs_path=outcome.locs_path, group=getattr(args, "group", None)
                )
            finally:
                db.close()

    return record


class BatchProgress:
    """One progress line for a batch, summed over its files (several may run at once)."""

    def __init__(self, n_files, stream=None):
        self.bar = ProgressBar(f"{n_files} movie(s)", stream=stream)
        self.done = {}
        self.total = {}
        self.lock = threading.Lock()

    def for_item(self, item):
        def progress(done, total):
            with self.lock:
                self.done[item.movie] = done
                self.total[item.movie] = total
                self.bar(sum(self.done.values()), sum(self.total.values()))

        return progress


def outcome_notes(outcome):
    """The lines that tell a user an earlier output was replaced or kept (for stderr)."""
    import time

    if outcome.status == "skipped":
        return [f"skipped {outcome.movie}: {outcome.locs_path} exists (--skip-existing); kept it"]
    notes = [f"warning: {text}" for text in getattr(outcome, "warnings", None) or []]
    if outcome.status == "done" and outcome.replaced is not None:
        written = time.strftime("%Y-%m-%d %H:%M", time.localtime(outcome.replaced))
        notes.append(
            f"note: replaced the earlier {outcome.locs_path} and its .yaml (written {written}); "
            "--skip-existing keeps existing outputs"
        )
    return notes


def compute_choice(args):
    """The :class:`ComputeChoice` of ``--workers``, ``--scheduler`` and their tuning options.

    Raises
    ------
    ValueError
        For options that contradict each other or would be ignored (see
        :meth:`ComputeChoice.from_options`).
    """
    return ComputeChoice.from_options(args.workers, args.scheduler, args.threads_per_worker, args.allowed_failures)


def run_batch_command(args, parameters, choices=None):
    try:
        choice = compute_choice(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    items = find_movies(args.movies)
    if not items:
        print(f"error: no movies found in {', '.join(map(str, args.movies))}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"{len(items)} movie(s) on {choice.describe()}", file=sys.stderr)
    try:
        outcomes = run_batch(
            items,
            parameters,
            client=choice,
            analysis=args.analysis_folder,
            out_folder=args.out,
            progress_for=None if args.quiet else BatchProgress(len(items)).for_item,
            on_result=database_recorder(args),
            block_frames=args.block_frames,
            files_at_once=args.files_at_once,
            existing="skip" if getattr(args, "skip_existing", False) else "replace",
            **(choices or {}),
        )
    except (ImportError, OSError) as error:  # no dask, or the scheduler cannot be reached
        print(f"error: {error}", file=sys.stderr)
        return 1
    for outcome in outcomes:
        if outcome.status == "failed":
            print(f"error: {outcome.error}", file=sys.stderr)
        for note in outcome_notes(outcome):
            print(note, file=sys.stderr)
        if outcome.note:  # the database row could not be written
            print(f"warning: {outcome.movie}: {outcome.note}", file=sys.stderr)
    print(status_table(outcomes))
    return exit_code(outcomes)
