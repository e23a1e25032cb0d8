"""Localization on many cores and many machines (Dask distributed), and batch analysis.

The one pipeline (:func:`napari_picasso.pipeline.localize_frames`) runs on blocks of
frames as Dask tasks; each task reads its frames from the file itself and returns
localizations, which are merged in frame order into the same files a serial run writes.

- :class:`ComputeChoice` / :func:`compute_client`: in-process threads, a local cluster
  of worker processes, or an existing scheduler (what the CLI, the widget and the
  watcher offer); :class:`ComputeSession` keeps the client open from file to file.
- :func:`localize_file_distributed`: one movie, with a per-block progress callback.
- :func:`find_movies`, :func:`run_batch`, :func:`status_table`: many movies and folders.

``dask[distributed]`` (the ``distributed`` extra) is imported only when a cluster is used.
"""

from .batch import BatchItem, BatchOutcome, find_movies, output_path_for, run_batch, status_table
from .blocks import Block, block_overlap, default_block_frames, localize_block, plan_blocks
from .cluster import (
    ComputeChoice,
    ComputeSession,
    available_cores,
    close_cluster,
    compute_client,
    numba_threads_per_worker,
    start_local_cluster,
)
from .runner import localize_blocks, localize_file_distributed

__all__ = [
    "BatchItem",
    "BatchOutcome",
    "Block",
    "ComputeChoice",
    "ComputeSession",
    "available_cores",
    "block_overlap",
    "close_cluster",
    "compute_client",
    "default_block_frames",
    "find_movies",
    "localize_block",
    "localize_blocks",
    "localize_file_distributed",
    "numba_threads_per_worker",
    "output_path_for",
    "plan_blocks",
    "run_batch",
    "start_local_cluster",
    "status_table",
]
