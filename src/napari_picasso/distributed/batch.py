"""Batch analysis: many movies or folders in one run, one status line per file.

:func:`find_movies` turns the paths a user gives (movie files, dataset folders, folders
to scan) into :class:`BatchItem` s; :func:`run_batch` localizes them one after the other
on the chosen compute (every file's blocks spread over the whole cluster), writes the
results beside each movie or into an ``analysis/`` tree that mirrors the input folders,
and goes on when a file fails; :func:`status_table` prints the outcome.
"""

import concurrent.futures
import contextlib
import dataclasses
import os
import re
import threading
import time
from pathlib import Path

from ..io.errors import InputFileError, OutputWriteError, ParameterError
from ..io.locs import movie_locs_path, yaml_path_for
from ..io.walk import walk_folders
from ..pipeline import LocalizationCancelled, _should_cancel
from .cluster import compute_client
from .runner import localize_file_distributed

# File endings the movie readers open (NDTiff datasets are folders, see is_dataset_folder).
MOVIE_SUFFIXES = (".raw", ".tif", ".tiff", ".nd2", ".ims")
ANALYSIS_FOLDER = "analysis"
# Micro-Manager continues a long acquisition in name_MMStack_Pos0_1.ome.tif, _2 ...:
# the reader follows them from the first file, so they are not movies of their own.
_ROLLOVER = re.compile(r"^(?P<base>.+_MMStack(?:_[^_.]+)?)_(?P<n>\d+)(?P<end>\.ome\.tiff?)$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class BatchItem:
    """A movie to localize and the input folder it was found under (for mirroring)."""

    movie: Path
    root: Path


@dataclasses.dataclass
class BatchOutcome:
    """What happened to one movie of a batch.

    ``status`` is ``"done"``, ``"failed"``, ``"cancelled"``, ``"skipped"`` (its output
    existed and ``existing="skip"``) or ``"not run"`` (after a cancel). ``locs_path`` is
    the file's output, written only when it is done. ``replaced`` is the modification
    time (POSIX seconds) of the earlier output a done file replaced, else None.
    """

    movie: Path
    locs_path: Path | None
    status: str
    n_locs: int | None = None
    n_frames: int | None = None
    seconds: float | None = None
    error: str | None = None
    note: str | None = None
    replaced: float | None = None
    warnings: list = dataclasses.field(default_factory=list)  # the run's warnings (too many spots)


EXISTING_CHOICES = ("replace", "skip")


def existing_output_time(locs_path):
    """The modification time of an earlier output at ``locs_path`` (its ``.hdf5`` or ``.yaml``), or None."""
    times = [p.stat().st_mtime for p in (Path(locs_path), yaml_path_for(locs_path)) if p.exists()]
    return max(times) if times else None


def is_dataset_folder(path):
    """A folder that is one movie (NDTiff, possibly under 'Full resolution')."""
    return (path / "NDTiff.index").is_file() or (path / "Full resolution" / "NDTiff.index").is_file()


def _dataset_of(path):
    """The NDTiff dataset folder a stack file or 'Full resolution' folder belongs to, else ``path``.

    The reader opens the whole dataset from any of them; naming it by its folder gives the
    output the single run and the watcher give it (``<dataset>_locs.hdf5`` beside the
    folder), and the same movie named twice is found once.
    """
    from ..io.ndtiff import dataset_folder

    if (path.is_file() and "_NDTiffStack" in path.name) or (path.is_dir() and is_dataset_folder(path)):
        return dataset_folder(path) or path
    return path


def _is_movie_file(path):
    name = path.name.lower()
    if name.startswith(".") or name.endswith(".part"):
        return False
    if not name.endswith(MOVIE_SUFFIXES):
        return False
    rollover = _ROLLOVER.match(path.name)
    if rollover and (path.parent / f"{rollover['base']}{rollover['end']}").exists():
        return False
    return True


def _scan(folder, skip_names):
    """Movies under ``folder``: each real folder once, iteratively (links, deep trees)."""

    def descend(path):
        return not (path.name.startswith(".") or path.name in skip_names or is_dataset_folder(path))

    found = []
    for _, entries in walk_folders(folder, descend=descend):
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir, is_file = entry.is_dir(), entry.is_file()
            except OSError:
                continue
            if is_dir:
                if not (entry.name.startswith(".") or entry.name in skip_names) and is_dataset_folder(path):
                    found.append(path)
            elif is_file and _is_movie_file(path):
                found.append(path)
    return sorted(found)


def find_movies(paths, skip_names=(ANALYSIS_FOLDER,)):
    """The movies named by ``paths``: files as given, folders scanned recursively.

    Parameters
    ----------
    paths : iterable of path-like
        Movie files, dataset folders (NDTiff) or folders holding movies at any depth.
    skip_names : tuple of str
        Folder names not scanned (the ``analysis`` output folder).

    Returns
    -------
    list of BatchItem
        In argument order, each folder's movies sorted by path; a path that does not
        exist is kept (it fails when opened, with a message naming it).
    """
    items = []
    seen = set()
    for path in map(Path, paths):
        if path.is_dir() and not is_dataset_folder(path):
            root = path
            movies = _scan(path, set(skip_names))
        else:
            path = _dataset_of(path)
            root = path.parent
            movies = [path]
        for movie in movies:
            key = os.path.abspath(movie)
            if key not in seen:
                seen.add(key)
                items.append(BatchItem(movie, root))
    return items


def output_path_for(item, analysis=None, out_folder=None, choices=None):
    """Where ``item``'s ``_locs.hdf5`` goes (named by :func:`~napari_picasso.io.locs.movie_locs_path`).

    Parameters
    ----------
    item : BatchItem
    analysis : None, True or path-like
        ``None``: beside the movie. ``True``: in ``<input folder>/analysis/``, mirroring
        the sub-folders below the input folder. A path: that folder, mirroring the same
        sub-folders.
    out_folder : path-like, optional
        One flat output folder for every file (overrides ``analysis``).
    choices : dict, optional
        The reader choices: they are part of the name (``<movie>_channel-DAPI_locs.hdf5``).
    """
    if out_folder is not None:
        folder = Path(out_folder)
    elif analysis is None or analysis is False:
        folder = None
    else:
        base = item.root / ANALYSIS_FOLDER if analysis is True else Path(analysis)
        relative = item.movie.parent.relative_to(item.root) if item.movie.parent != item.root else Path()
        folder = base / relative
    return movie_locs_path(item.movie, folder=folder, choices=choices)


def describe_error(error):
    """A one-line, user-facing reason for a failed file."""
    if isinstance(error, (InputFileError, ParameterError, OutputWriteError)):
        return str(error)
    if type(error).__name__ == "KilledWorker":
        return (
            f"the workers running one of its blocks died repeatedly ({error}); the file may "
            "need more memory per worker than the cluster has."
        )
    return f"{type(error).__name__}: {error}"


# Movies localized at once on a cluster: the next movie's first blocks take the task slots
# the current movie's last blocks leave idle (and the client opens it meanwhile), which
# matters for short movies on many workers. Two are enough to close that gap.
FILES_AT_ONCE = 2


def run_batch(
    items,
    parameters,
    client=None,
    analysis=None,
    out_folder=None,
    progress_for=None,
    on_result=None,
    cancel=None,
    block_frames=None,
    files_at_once=None,
    existing="replace",
    **choices,
):
    """Localize every item; a file that fails is reported and the batch goes on.

    Parameters
    ----------
    items : list of BatchItem
        From :func:`find_movies`.
    parameters : LocalizeParameters
    client : ComputeChoice, distributed.Client, str or None
        Where to compute (see :func:`~.runner.localize_file_distributed`); a cluster is
        started once for the whole batch.
    analysis, out_folder
        Output placement, see :func:`output_path_for`.
    progress_for : callable, optional
        ``progress_for(item)`` returns the ``progress(done, total)`` callback of one file
        (called from a worker thread when files run at once).
    on_result : callable, optional
        ``on_result(outcome)`` for each file that is done or failed, in item order, in the
        calling thread (e.g. its database row); an error it raises is noted in the
        outcome, it does not fail the file.
    cancel : callable or threading.Event, optional
        Stops the running files (nothing written) and the rest of the batch.
    block_frames : int, optional
        Frames per task.
    files_at_once : int, optional
        Movies in progress at the same time on a cluster (default :data:`FILES_AT_ONCE`);
        always 1 in this process, where one movie already uses every core.
    existing : {"replace", "skip"}
        What to do with a movie whose output exists already: localize it again and
        replace the output (the outcome's ``replaced`` says so), or leave it (status
        ``"skipped"``; an ``.hdf5`` counts, a ``.yaml`` alone is the trace of an
        interrupted run and is replaced).
    **choices
        Reader choices applied to every movie; part of each output's name.

    Returns
    -------
    list of BatchOutcome
        One per item, in order.
    """
    if existing not in EXISTING_CHOICES:
        raise ValueError(f"existing={existing!r}: choose one of {', '.join(EXISTING_CHOICES)}")
    stopped = threading.Event()
    targets = {}
    outputs = {item: output_path_for(item, analysis, out_folder, choices) for item in items}

    def localize_one(item):
        locs_path = outputs[item]
        if stopped.is_set():
            return BatchOutcome(item.movie, None, "not run")
        if targets[locs_path] != item.movie:
            return BatchOutcome(
                item.movie,
                locs_path,
                "failed",
                error=(
                    f"{locs_path} is also the output of {targets[locs_path]}; give each movie its own "
                    "output (--analysis-folder mirrors the input folders)."
                ),
            )
        if existing == "skip" and locs_path.exists():
            return BatchOutcome(item.movie, locs_path, "skipped")
        earlier = existing_output_time(locs_path)
        started = time.perf_counter()
        try:
            result = localize_file_distributed(
                item.movie,
                parameters,
                locs_path,
                client=dask_client,
                progress=progress_for(item) if progress_for is not None else None,
                cancel=lambda: stopped.is_set() or _should_cancel(cancel),
                block_frames=block_frames,
                **choices,
            )
        except LocalizationCancelled:
            stopped.set()
            return BatchOutcome(item.movie, locs_path, "cancelled", seconds=time.perf_counter() - started)
        except Exception as error:  # noqa: BLE001  (any failure of one file must not stop the batch)
            return BatchOutcome(
                item.movie, locs_path, "failed", seconds=time.perf_counter() - started, error=describe_error(error)
            )
        return BatchOutcome(
            item.movie,
            result.locs_path,
            "done",
            result.n_locs,
            result.n_frames,
            result.seconds,
            replaced=earlier,
            warnings=list(getattr(result, "warnings", [])),
        )

    for item in items:
        targets.setdefault(outputs[item], item.movie)
    outcomes = []
    with compute_client(client) as dask_client, contextlib.ExitStack() as stack:
        at_once = 1 if dask_client is None else max(1, int(files_at_once or FILES_AT_ONCE))
        if at_once == 1:
            results = map(localize_one, items)
        else:
            pool = stack.enter_context(concurrent.futures.ThreadPoolExecutor(at_once, "napari-picasso-batch"))
            # Leaving early (an error, Ctrl-C): the running files stop at their next block
            # and the queued ones do not start, so the pool's shutdown does not wait long.
            stack.callback(stopped.set)
            results = (future.result() for future in [pool.submit(localize_one, item) for item in items])
        for outcome in results:
            if on_result is not None and outcome.status in ("done", "failed"):
                try:
                    on_result(outcome)
                except Exception as error:  # noqa: BLE001  (the localization itself is written and valid)
                    outcome.note = f"not recorded: {describe_error(error)}"
            outcomes.append(outcome)
    return outcomes


def status_table(outcomes):
    """The per-file status table (plain text, one row per movie, a total line)."""
    header = ("status", "locs", "frames", "seconds", "movie", "output / error")
    rows = []
    for outcome in outcomes:
        if outcome.status == "done":
            detail = str(outcome.locs_path) + (" (replaced the earlier one)" if outcome.replaced is not None else "")
        elif outcome.status == "skipped":
            detail = f"{outcome.locs_path} exists, kept"
        else:
            detail = outcome.error or ""
        if outcome.note:
            detail = f"{detail} ({outcome.note})"
        rows.append(
            (
                outcome.status,
                "" if outcome.n_locs is None else f"{outcome.n_locs:,}",
                "" if outcome.n_frames is None else f"{outcome.n_frames:,}",
                "" if outcome.seconds is None else f"{outcome.seconds:.1f}",
                str(outcome.movie),
                detail,
            )
        )
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]) for i in range(5)]
    numeric = (False, True, True, True, False)

    def line(cells):
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells[:5], widths, numeric)]
        return "  ".join(parts + [cells[5]]).rstrip()

    done = sum(o.status == "done" for o in outcomes)
    failed = sum(o.status == "failed" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    lines = [line(header), line(tuple("-" * w for w in widths) + ("-" * 14,))]
    lines += [line(r) for r in rows]
    lines.append(
        f"{done} of {len(outcomes)} movies localized, {failed} failed, "
        + (f"{skipped} skipped (outputs exist), " if skipped else "")
        + f"{sum(o.n_locs or 0 for o in outcomes):,} localizations"
    )
    return "\n".join(lines)
