"""The Localize dock in a real viewer: preview latency and "Localize" to result layers.

1. Preview latency per frame on a 512x512 movie: from moving the frame slider to the
   preview squares of that frame being shown (worker thread, GUI thread events), next to
   the test detection itself (``detection.detect_frame``) called directly.
2. Time from clicking "Localize" to the result layers (points + rendered image) for a
   128x128x2000 movie, against the command line (``napari-picasso localize``, run
   in-process) on the same movie, alternating runs in the same process.

Needs a display (``xvfb-run -a`` on a headless machine):

    xvfb-run -a python benchmarks/bench_gui.py [--frames 2000] [--repeats 3]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def wait(app, condition, timeout_s=600):
    started = time.perf_counter()
    while not condition():
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError("the viewer did not finish in time")


def add_movie(viewer, path):
    return viewer.open(path, plugin="napari-picassosr")[0]


def bench_preview(viewer, widget, app, path, camera, gradient, n_frames):
    from napari_picasso.detection import detect_frame
    from napari_picasso.io.movies import open_movie

    def step(frame):
        # What the GUI thread spends on one slider step: slicing, drawing, starting work.
        started = time.perf_counter()
        viewer.dims.set_current_step(0, frame)
        app.processEvents()
        return time.perf_counter() - started

    widget.identification.min_net_gradient.value = gradient
    widget.photons.baseline.value = camera.baseline
    widget.photons.sensitivity.value = camera.sensitivity
    step(0)
    display_only = [step(frame) for frame in range(1, n_frames)]
    widget.preview.preview.value = True
    wait(app, lambda: widget.preview_result is not None and not widget.preview_busy)  # compiles
    step(0)
    wait(app, lambda: not widget.preview_busy and widget.preview_result["frame"] == 0)
    latencies, blocking, computes, spots = [], [], [], []
    for frame in range(1, n_frames):
        started = time.perf_counter()
        blocking.append(step(frame))
        wait(app, lambda f=frame: not widget.preview_busy and widget.preview_result["frame"] == f)
        latencies.append(time.perf_counter() - started)
        computes.append(widget.preview_result["seconds"])
        spots.append(len(widget.preview_result["x"]))
    parameters = widget.parameters()
    direct = []
    with open_movie(path) as movie:
        for frame in range(1, n_frames):
            started = time.perf_counter()
            detect_frame(movie, frame, parameters)
            direct.append(time.perf_counter() - started)
    # Scrubbing: slider steps back to back; the preview follows the last one.
    started = time.perf_counter()
    scrub_steps = [step(frame) for frame in range(n_frames - 1, 0, -1)]
    scrub = time.perf_counter() - started
    wait(app, lambda: not widget.preview_busy and widget.preview_result["frame"] == 1)
    settled = time.perf_counter() - started - scrub
    widget.preview.preview.value = False

    def ms(values):
        return f"median {1e3 * statistics.median(values):6.1f} ms, p90 {1e3 * np.percentile(values, 90):6.1f} ms"

    print(f"preview 512x512 ({statistics.mean(spots):.0f} spots/frame, {n_frames - 1} frames)")
    print(f"  slider step, no preview (GUI thread)  : {ms(display_only)}")
    print(f"  slider step, preview on (GUI thread)  : {ms(blocking)}")
    print(f"  slider -> preview squares shown       : {ms(latencies)}")
    print(f"  detection in the worker               : {ms(computes)}")
    print(f"  detect_frame called directly          : {ms(direct)}")
    print(
        f"  scrubbing {n_frames - 1} frames back to back: {ms(scrub_steps)} per step (GUI thread); "
        f"last frame's squares {1e3 * settled:.0f} ms after the last step"
    )


def bench_localize(viewer, widget, app, path, camera, gradient, repeats, out):
    from napari_picasso.cli import main as cli

    widget.identification.movie.value = next(layer for layer in viewer.layers if layer.name == path.name)
    widget.identification.min_net_gradient.value = gradient
    widget.photons.baseline.value = camera.baseline
    widget.photons.sensitivity.value = camera.sensitivity
    widget.fit.out_folder.value = out / "gui"
    argv = [
        "localize",
        str(path),
        "--out",
        str(out / "cli"),
        "--quiet",
        "--gradient",
        str(gradient),
        "--baseline",
        str(camera.baseline),
        "--sensitivity",
        str(camera.sensitivity),
    ]
    cli_s, gui_s, process_s = [], [], []
    for run in range(repeats + 1):  # the first round warms up (numba compilation, caches)
        started = time.perf_counter()
        assert cli(argv) == 0
        cli_time = time.perf_counter() - started
        # The command as a user runs it: a new process (interpreter start and imports).
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "napari_picasso", *argv], check=True, capture_output=True)
        process_time = time.perf_counter() - started
        previous = widget.last_output
        started = time.perf_counter()
        widget.fit.localize.native.click()
        wait(app, lambda p=previous: not widget.localize_busy and widget.last_output is not p)
        gui_time = time.perf_counter() - started
        out_ = widget.last_output
        print(
            f"  (run {run}: start {widget.start_seconds:.2f} s, worker {out_['worker_seconds']:.2f} s, "
            f"layers {out_['layers_seconds']:.2f} s)"
        )
        if run:
            cli_s.append(cli_time)
            gui_s.append(gui_time)
            process_s.append(process_time)
    n_locs = len(widget.points_layer.data)
    print(f"localize {path.name} {tuple(widget.movie_layer().data.shape)}: {n_locs} localizations")
    print("  command line, in-process: " + ", ".join(f"{t:.2f}" for t in cli_s) + " s")
    print("  command line, new process: " + ", ".join(f"{t:.2f}" for t in process_s) + " s")
    print("  dock, click -> layers   : " + ", ".join(f"{t:.2f}" for t in gui_s) + " s")
    print(
        f"  ratio dock / CLI in-process : median {statistics.median(gui_s) / statistics.median(cli_s):.3f}, "
        f"best {min(gui_s) / min(cli_s):.3f}"
    )
    print(
        f"  ratio dock / CLI process    : median {statistics.median(gui_s) / statistics.median(process_s):.3f}, "
        f"best {min(gui_s) / min(process_s):.3f}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=2000, help="frames of the 128x128 movie")
    parser.add_argument("--preview-frames", type=int, default=40, help="frames of the 512x512 movie")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import napari

    from napari_picasso.simulate import CameraModel, blinking_sites, suggested_min_net_gradient, write_movie

    camera = CameraModel(baseline=100.0, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)
    gradient = suggested_min_net_gradient(1500, camera)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        truth = blinking_sites(
            args.preview_frames,
            512,
            512,
            n_sites=3000,
            photons=1500,
            mean_on_frames=3,
            mean_off_frames=30,
            min_distance_px=6,
            seed=3,
        )
        big = write_movie(
            folder / "preview512.raw", truth, args.preview_frames, 512, 512, bg_photons=50, camera=camera, seed=3
        )
        truth = blinking_sites(
            args.frames,
            128,
            128,
            n_sites=200,
            photons=1500,
            mean_on_frames=3,
            mean_off_frames=30,
            min_distance_px=6,
            seed=4,
        )
        long = write_movie(folder / "long128.raw", truth, args.frames, 128, 128, bg_photons=50, camera=camera, seed=4)
        viewer = napari.Viewer(show=True)
        viewer.window._qt_window.resize(1400, 900)
        app = napari.qt.get_qapp()
        add_movie(viewer, big)
        _, widget = viewer.window.add_plugin_dock_widget("napari-picassosr", "Localize")
        bench_preview(viewer, widget, app, big, camera, gradient, args.preview_frames)
        add_movie(viewer, long)
        bench_localize(viewer, widget, app, long, camera, gradient, args.repeats, folder)
        viewer.close()


if __name__ == "__main__":
    main()
