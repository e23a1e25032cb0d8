"""Live localization latency: a frame written at 100 frames/s -> its localizations in the result.

A writer process (``simulate.acquire_movie``) writes a blinking 256x256 movie frame by
frame at ``FPS`` frames/s, flushing each, and prints when each frame is on disk. This
process follows the movie (``io.follow.follow_movie``) and runs the one streaming
``pipeline.localize`` on it with a sink: a frame's latency is the time from its write to
the moment the chunk holding it was handed to the sink (its rows are in the result). The
movie ends on its idle time. Prints the latency distribution (median / 95th / max),
frames behind at the end of the acquisition, and whether the result equals localizing
the finished file.

    NUMBA_NUM_THREADS=2 PYTHONPATH=src taskset -c 0,1 python benchmarks/bench_live.py [FRAMES] [FPS] [FORMAT]
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_picasso.io.follow import follow_movie
from napari_picasso.io.movies import open_movie
from napari_picasso.pipeline import LocalizeParameters, localize
from napari_picasso.simulate import acquired_movie_path, simulate_movie

SIZE = 256
CAMERA = {"baseline": 100.0, "sensitivity": 1.0, "em_gain": 1.0}

WRITER = """
import sys, time
from napari_picasso.simulate import acquire_movie, simulate_movie
folder, fmt, n, size, fps = sys.argv[1:]
frames = simulate_movie(int(n), int(size), int(size), seed=1, n_sites=400, photons=1500)[0]
print("READY", flush=True)
sys.stdin.readline()  # go
acquire_movie(folder, fmt, frames, frames_per_second=float(fps),
              on_frame=lambda i, t: print(i, repr(t), flush=True))
"""


def main(n_frames=2000, fps=100.0, fmt="tif"):
    parameters = LocalizeParameters(min_net_gradient=1000.0, **CAMERA)
    warm = simulate_movie(20, SIZE, SIZE, seed=2, n_sites=400, photons=1500)[0]
    localize(warm, parameters)  # numba's kernels loaded before the clock starts
    folder = Path(tempfile.mkdtemp(prefix="bench-live-"))
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), fmt, str(n_frames), str(SIZE), str(fps)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout.readline().strip() == "READY"
    writer.stdin.write("go\n")
    writer.stdin.flush()
    done_at = []  # (frames done, time) after each chunk

    def progress(done, total):
        done_at.append((done, time.time(), total))

    movie = follow_movie(acquired_movie_path(folder, fmt), idle_seconds=2.0)
    rows = []
    with movie:
        localize(movie, parameters, progress=progress, sink=rows.append, chunk_frames=64)
    written = {}
    for line in writer.stdout:
        index, seconds = line.split()
        written[int(index)] = float(seconds)
    writer.wait()
    result = np.concatenate(rows)
    with open_movie(acquired_movie_path(folder, fmt)) as finished:
        same = np.array_equal(result, localize(finished, parameters))
    done = np.array([d for d, _, _ in done_at])
    when = np.array([t for _, t, _ in done_at])
    latency = []
    for frame, t_written in sorted(written.items()):
        k = int(np.searchsorted(done, frame + 1))  # the first report with this frame done
        latency.append(when[k] - t_written)
    # A TIFF's last page is confirmed when the next one is linked, or at the idle end: its
    # latency is the idle time. Reported apart; the distribution is of the other frames.
    last_ms = 1e3 * latency[-1]
    latency_ms = 1e3 * np.array(latency[:-1])
    last_write = max(written.values())
    behind = [total - d for d, t, total in done_at if t <= last_write]
    print(f"{n_frames} frames of {SIZE}x{SIZE} {fmt} at {fps:g} frames/s, {len(result)} localizations")
    print(
        f"latency frame written -> localized: median {np.median(latency_ms):.0f} ms, "
        f"95th {np.percentile(latency_ms, 95):.0f} ms, max {latency_ms.max():.0f} ms; "
        f"under 1 s: {np.mean(latency_ms < 1000):.1%}; the last frame: {last_ms:.0f} ms"
    )
    print(f"frames behind during the acquisition: max {max(behind, default=0)}; chunks {len(done_at) - 1}")
    print(f"result equals localizing the finished file: {same}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        int(args[0]) if args else 2000,
        float(args[1]) if len(args) > 1 else 100.0,
        args[2] if len(args) > 2 else "tif",
    )
