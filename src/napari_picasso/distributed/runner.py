"""Localize one movie file on a Dask cluster into the same files a serial run writes.

The client opens the movie once (shape, metadata, parameter check), cuts the frames
into blocks and submits one task per block (a sliding window of them, so results never
pile up in memory). Finished blocks are written in frame order as soon as every earlier
block has been written, through the same :class:`~napari_picasso.io.locs.LocsWriter`
(temporary name, renamed when complete) with the same YAML documents as
:func:`~napari_picasso.pipeline.localize_file`; the rows are identical to the serial
run's, whatever the number of workers or the block size.
"""

import time
import uuid
from pathlib import Path

from ..detection import load_maps, resolve_baseline, with_maps_origin
from ..io.errors import ParameterError
from ..io.locs import LocsWriter, movie_locs_path
from ..io.movie import Movie
from ..io.movies import open_movie
from ..parameters import check_background_frames, fitter_of, validate_parameters
from ..pipeline import LocalizationCancelled, LocalizeResult, _should_cancel, localize_file, movie_info
from .blocks import absolute_movie_path, block_overlap, default_block_frames, localize_block, plan_blocks
from .cluster import compute_client, import_distributed, total_threads

# Blocks submitted ahead per worker thread: keeps every worker busy while the writer
# waits for the earliest block, and bounds the results held out of order.
WINDOW_PER_THREAD = 3


def localize_blocks(client, movie_path, choices, blocks, parameters, sink, progress=None, cancel=None):
    """Run :func:`localize_block` for every block on ``client``; ``sink`` gets them in order.

    Parameters
    ----------
    client : distributed.Client
    movie_path : str
        Absolute path, valid on the workers.
    choices : dict
        Reader choices.
    blocks : list of Block
        In frame order.
    parameters : LocalizeParameters
    sink : callable
        ``sink(rows)`` for each block's localizations, in block order.
    progress : callable, optional
        ``progress(frames_done, frames_total)`` after each block is written.
    cancel : callable or threading.Event, optional
        Checked whenever a block finishes; remaining tasks are cancelled and
        :class:`~napari_picasso.pipeline.LocalizationCancelled` is raised.

    Returns
    -------
    int
        Rows sent to ``sink``.
    """
    distributed = import_distributed()
    total = sum(block.n_frames for block in blocks)
    if progress is not None:
        progress(0, total)
    if not blocks:
        return 0
    run = uuid.uuid4().hex[:12]
    queue = iter(blocks)
    index_of = {}  # key -> block index of the tasks submitted and not yet collected
    finished = distributed.as_completed()
    window = {"size": 2, "checked": -float("inf")}
    ready = {}  # block index -> localizations collected and waiting for an earlier block

    def top_up():
        # The window follows the cluster's size (workers of a batch system arrive after
        # the run has started), asking the scheduler at most once a second.
        now = time.monotonic()
        if now - window["checked"] > 1.0:
            window["size"] = max(2, WINDOW_PER_THREAD * total_threads(client))
            window["checked"] = now
        # Results held out of order are bounded too (a block retried after a worker
        # died holds up the writing of every later block).
        while len(index_of) < window["size"] and len(index_of) + len(ready) < 4 * window["size"]:
            block = next(queue, None)
            if block is None:
                return
            # Worker deaths are retried by the scheduler (allowed-failures); an exception
            # raised by the task is a property of the file or the parameters and is not.
            future = client.submit(
                localize_block,
                movie_path,
                choices,
                block,
                parameters,
                key=f"napari-picasso-block-{run}-{block.index}",
                pure=False,
            )
            index_of[future.key] = block.index
            finished.add(future)

    top_up()
    next_index = 0
    n_rows = 0
    done = 0
    try:
        for future in finished:
            if _should_cancel(cancel):
                raise LocalizationCancelled(f"cancelled at frame {blocks[next_index].start}")
            ready[index_of[future.key]] = future.result()
            del index_of[future.key]
            future.release()
            while next_index in ready:
                rows = ready.pop(next_index)
                sink(rows)
                n_rows += len(rows)
                done += blocks[next_index].n_frames
                next_index += 1
                if progress is not None:
                    progress(done, total)
            top_up()
    finally:
        # On an error or a cancel: drop whatever is still queued or running.
        pending = list(finished.futures)
        if pending:
            client.cancel(pending)
        finished.clear()
    if next_index != len(blocks):
        raise RuntimeError(f"{movie_path}: only {next_index} of {len(blocks)} blocks came back")
    return n_rows


def _movie_path_and_choices(movie, choices):
    """The movie as the caller named it (recorded in the YAML, as a serial run does) and its choices."""
    if isinstance(movie, Movie):
        if not movie.path.is_file() and not movie.path.is_dir():
            raise ParameterError(
                f"{movie.path} is held in memory, not in a file, so cluster workers cannot read "
                "it. Fix: localize it in this process, or save it as a movie file first."
            )
        # The reader records how to reopen the same movie of a multi-movie file.
        choices = {**(movie.metadata.get("Choices") or {}), **choices}
        movie = movie.path
    return Path(movie), dict(choices)


def localize_file_distributed(
    movie,
    parameters,
    locs_path=None,
    client=None,
    progress=None,
    cancel=None,
    extra_info=None,
    block_frames=None,
    overlap=None,
    **choices,
):
    """Localize a movie file on a Dask cluster (or in this process) into ``_locs.hdf5``.

    The outputs are the files :func:`~napari_picasso.pipeline.localize_file` writes, row
    for row; the function is the one entry point the command line, the Localize widget
    and the watcher call, whatever the user chose to compute on.

    Parameters
    ----------
    movie : path-like or Movie
        The movie file; workers open it by its absolute path (on a cluster of machines it
        must be on a file system they share, under the same path).
    parameters : LocalizeParameters
    locs_path : path-like, optional
        Output ``.hdf5`` (default: ``<movie>_locs.hdf5`` beside the movie).
    client : distributed.Client, ComputeChoice, str or None
        Where to compute: ``None`` (or ``ComputeChoice("threads")``) runs the plain
        in-process pipeline; a client, a scheduler address or a ComputeChoice of a
        cluster runs blocks as Dask tasks (a cluster started for a ComputeChoice is shut
        down at the end: pass an open client to reuse one over many files).
    progress : callable, optional
        ``progress(frames_done, frames_total)``, after every block.
    cancel : callable or threading.Event, optional
        Stops the run (nothing is written) when set.
    extra_info : dict, optional
        Added to the localization YAML document.
    block_frames : int, optional
        Frames per task (default: :func:`~.blocks.default_block_frames`).
    overlap : int, optional
        Context frames read on each side of a block (default: :func:`~.blocks.block_overlap`).
    **choices
        Reader choices (position, channel ...).

    Returns
    -------
    LocalizeResult
    """
    if client is None:
        return localize_file(
            movie, parameters, locs_path, progress=progress, cancel=cancel, extra_info=extra_info, **choices
        )
    movie_path, choices = _movie_path_and_choices(movie, choices)
    with compute_client(client) as dask_client:
        if dask_client is None:
            return localize_file(
                movie_path, parameters, locs_path, progress=progress, cancel=cancel, extra_info=extra_info, **choices
            )
        started = time.perf_counter()
        with open_movie(movie_path, **choices) as opened:  # here: shape, metadata, checks
            roi, (first, stop) = validate_parameters(parameters, opened.shape, opened.path.name)
            # Fail here, once, with the serial run's messages rather than in every task.
            check_background_frames(parameters, opened.shape[0], opened.path.name)
            load_maps(parameters, opened.shape, roi, opened.path.name, opened.metadata)
            # the origin of cut full-sensor maps, made explicit: every task cuts them the same way
            # Measured once here: every block gets the same number.
            parameters, baseline_info = resolve_baseline(parameters, opened)
            parameters = with_maps_origin(parameters, opened.shape, opened.metadata, opened.path.name)
            info = [movie_info(opened, parameters), {**parameters.to_info(), **baseline_info}]
            shape = opened.shape
            if locs_path is None:
                locs_path = movie_locs_path(opened)
        locs_path = Path(locs_path)
        block_frames = block_frames or default_block_frames(shape, stop - first, total_threads(dask_client))
        overlap = block_overlap(parameters) if overlap is None else int(overlap)
        blocks = plan_blocks(first, stop, block_frames, overlap)
        with LocsWriter(locs_path, fitter_of(parameters).dtype, info) as writer:
            n_locs = localize_blocks(
                dask_client,
                absolute_movie_path(movie_path),
                choices,
                blocks,
                parameters,
                writer.append,
                progress,
                cancel,
            )
            seconds = time.perf_counter() - started
            writer.commit({"Localizations": int(n_locs), **(extra_info or {})})
        return LocalizeResult(locs_path, int(n_locs), stop - first, seconds, writer.info)
