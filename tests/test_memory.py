"""Peak memory: localizing is bounded by the chunk size, not the movie's length; undrift by
the columns it needs, never the whole table."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from napari_picasso.simulate import CameraModel, blinking_sites, write_movie

SIZE_PX = 128
FRAME_BYTES = SIZE_PX * SIZE_PX * 4  # one float32 frame, the unit of CHUNK_BYTES

PEAK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import napari_picasso.pipeline as pipeline
    from napari_picasso.pipeline import LocalizeParameters, localize_file

    def peak_rss_kb():
        # VmHWM is this process's own peak; ru_maxrss would start at the parent's (pytest's)
        # peak, inherited through fork, and hide everything below it.
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

    movie, out, warm_up, chunk_bytes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    parameters = LocalizeParameters(min_net_gradient=1000, sensitivity=0.5)
    # A short run first, so numba's kernels, its thread pool and h5py are in memory before
    # the baseline: what follows is the memory the movie itself needs.
    localize_file(warm_up, parameters, out + ".warm_locs.hdf5")
    base_kb = peak_rss_kb()
    pipeline.CHUNK_BYTES = chunk_bytes
    localize_file(movie, parameters, out)
    peak_kb = peak_rss_kb()
    print(json.dumps({"growth_bytes": (peak_kb - base_kb) * 1024}))
    """
)


def growth_bytes(movie, warm_up, out, chunk_frames):
    """Peak RSS growth (bytes) of localizing ``movie`` with CHUNK_BYTES of ``chunk_frames`` frames."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(movie), str(out), str(warm_up), str(chunk_frames * FRAME_BYTES)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])["growth_bytes"]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from Linux's /proc")
def test_peak_memory_bounded_by_chunk_size(tmp_path):
    camera = CameraModel(baseline=100, sensitivity=0.5)
    paths = {}
    for n_frames in (20, 400, 4000):
        truth = blinking_sites(n_frames, SIZE_PX, SIZE_PX, n_sites=150, mean_off_frames=20, seed=n_frames)
        paths[n_frames] = write_movie(
            tmp_path / f"m{n_frames}.raw", truth, n_frames, SIZE_PX, SIZE_PX, camera=camera, seed=1
        )
    warm_up = paths[20]
    short = growth_bytes(paths[400], warm_up, tmp_path / "short_locs.hdf5", chunk_frames=100)
    long = growth_bytes(paths[4000], warm_up, tmp_path / "long_locs.hdf5", chunk_frames=100)
    large_chunks = growth_bytes(paths[4000], warm_up, tmp_path / "large_locs.hdf5", chunk_frames=2000)
    long_movie_bytes = 4000 * FRAME_BYTES  # 262 MB as float32 (131 MB of uint16 on disk)
    # Flat in the movie's length: 10x the frames add less than a tenth of their pixels
    # (the localizations themselves, a few MB, are all that may grow).
    assert long - short < 0.1 * (long_movie_bytes - 400 * FRAME_BYTES), (short, long)
    # Bounded by the chunk, not the movie: 100-frame chunks (6.5 MB) stay far below it.
    assert long < 0.25 * long_movie_bytes, long
    # And the chunk size is what bounds it: 2000-frame chunks (131 MB) need most of that more.
    assert large_chunks - long > 0.75 * (2000 - 100) * FRAME_BYTES, (long, large_chunks)


UNDRIFT_PEAK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from napari_picasso.postprocess import undrift_file

    def peak_rss_kb():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

    path, warm_up = sys.argv[1], sys.argv[2]
    undrift_file(warm_up, "aim")  # kernels, thread pool and h5py in memory first
    base_kb = peak_rss_kb()
    undrift_file(path, "aim")
    print(json.dumps({"growth_bytes": (peak_rss_kb() - base_kb) * 1024}))
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from Linux's /proc")
def test_undrift_never_holds_the_table(tmp_path):
    """AIM undrift of 2M fitted localizations (MLE rows of 68 bytes) with the split halves:
    the table is never loaded (its columns are, then the rows stream through), so the
    peak grows by less than one row's bytes per localization; 10M stay far below 2 GB."""
    from napari_picasso import fitters
    from napari_picasso.io.locs import save_locs
    from napari_picasso.simulate import drifting_locs

    def fitted(n_locs, n_frames, name, **kwargs):
        sim = drifting_locs(n_locs, n_frames=n_frames, **kwargs)
        locs = np.zeros(len(sim.locs), dtype=fitters.get("mle").dtype)
        for field in sim.locs.dtype.names:
            if field in locs.dtype.names:
                locs[field] = sim.locs[field]
        return save_locs(tmp_path / f"{name}_locs.hdf5", locs, sim.info), len(locs)

    warm_up, _ = fitted(100_000, 2000, "warm", width=64, height=64)
    path, n_rows = fitted(2_000_000, 20000, "big")
    command = [sys.executable, "-c", UNDRIFT_PEAK_SCRIPT, str(path), str(warm_up)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    growth = json.loads(done.stdout.strip().splitlines()[-1])["growth_bytes"]
    row_bytes = fitters.get("mle").dtype.itemsize
    assert growth / n_rows < row_bytes, (growth / n_rows, row_bytes)
    assert growth / n_rows * 10_000_000 < 1.5e9
