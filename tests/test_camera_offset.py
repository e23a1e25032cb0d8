"""The camera offset from the dark frames at a movie's start (``--baseline auto``): accuracy
on simulated movies with 20 dark frames and a known offset, and refusal without them."""

import numpy as np
import pytest

from napari_picasso.camera_offset import estimate_baseline, estimate_baseline_file, parse_dark_frames
from napari_picasso.core.dark_frames import find_dark_run, frame_levels
from napari_picasso.io.errors import ParameterError
from napari_picasso.io.raw import write_raw_info
from napari_picasso.simulate import CameraModel, dark_start_movie, scmos_camera, simulate_movie, true_offset

CAMERAS = {
    "sCMOS-like CCD, offset 100": CameraModel(baseline=100.0, sensitivity=0.5, read_noise_e=1.5),
    "EMCCD gain 200, offset 497.3": CameraModel(baseline=497.3, sensitivity=4.0, em_gain=200, read_noise_e=50),
    "sCMOS maps, offset 99.6": scmos_camera(64, 64, offset=99.6, seed=3),
    "CCD, offset 1000.4": CameraModel(baseline=1000.4, sensitivity=2.0, read_noise_e=8),
}


@pytest.mark.parametrize("name", list(CAMERAS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_offset_within_half_a_count_with_20_dark_frames(name, seed):
    camera = CAMERAS[name]
    movie, _ = dark_start_movie(200, n_dark_frames=20, camera=camera, bg_photons=20, seed=seed)
    estimate = estimate_baseline(movie)
    assert estimate.dark_frames == (0, 20) and estimate.first_lit_frame == 20
    assert abs(estimate.baseline_adu - true_offset(camera)) < 0.5
    info = estimate.info()
    assert info["Dark frames"] == [0, 20] and info["Baseline source"] == "dark frames (automatically)"


@pytest.mark.parametrize("name", list(CAMERAS))
def test_refuses_a_movie_without_dark_frames(name):
    movie, _ = simulate_movie(200, camera=CAMERAS[name], bg_photons=20, seed=4)
    with pytest.raises(ParameterError, match=r"no dark frames found at its start.*--baseline N.*--dark-frames"):
        estimate_baseline(movie)


def test_refuses_a_slow_rise_and_too_few_dark_frames():
    movie, _ = simulate_movie(200, camera=CAMERAS["CCD, offset 1000.4"], bg_photons=20, seed=5)
    ramp = (np.linspace(0, 30, 200)[:, None, None]).astype(np.uint16)  # activation laser ramping up
    with pytest.raises(ParameterError, match="no dark frames found"):
        estimate_baseline(movie + ramp)
    few, _ = dark_start_movie(100, n_dark_frames=3, camera=CAMERAS["CCD, offset 1000.4"], seed=6)
    with pytest.raises(ParameterError, match="after at least 5 flat frames"):
        estimate_baseline(few)
    assert estimate_baseline(few, min_dark_frames=3).dark_frames == (0, 3)


def test_given_dark_frames():
    camera = CAMERAS["EMCCD gain 200, offset 497.3"]
    movie, _ = dark_start_movie(120, n_dark_frames=30, camera=camera, seed=7)
    estimate = estimate_baseline(movie, dark_frames=parse_dark_frames("0:25"))
    assert estimate.chosen == "given" and estimate.dark_frames == (0, 25)
    assert abs(estimate.baseline_adu - true_offset(camera)) < 0.5
    with pytest.raises(ParameterError, match="frames 0:50 are not all dark"):
        estimate_baseline(movie, dark_frames="0:50")
    with pytest.raises(ParameterError, match="not frames of this movie"):
        estimate_baseline(movie, dark_frames=(100, 200))
    for text in ("50:0", "a:b", "12"):
        with pytest.raises(ParameterError, match="START:STOP"):
            parse_dark_frames(text)


def test_from_a_movie_file(tmp_path):
    camera = CAMERAS["sCMOS-like CCD, offset 100"]
    movie, _ = dark_start_movie(150, n_dark_frames=20, camera=camera, seed=8)
    path = tmp_path / "dark_start.raw"
    movie.astype("<u2").tofile(path)
    write_raw_info(path, 64, 64, 150, "uint16", "<")
    estimate = estimate_baseline_file(path)
    assert estimate.dark_frames == (0, 20) and abs(estimate.baseline_adu - 100.0) < 0.5
    lit, _ = simulate_movie(60, camera=camera, seed=9)
    lit.astype("<u2").tofile(tmp_path / "lit.raw")
    write_raw_info(tmp_path / "lit.raw", 64, 64, 60, "uint16", "<")
    with pytest.raises(ParameterError, match="lit.raw: no dark frames found"):
        estimate_baseline_file(tmp_path / "lit.raw")


def test_the_step_finder_on_levels():
    medians = np.r_[np.full(20, 100.0), np.full(30, 160.0)]
    stds = np.r_[np.full(20, 1.5), np.full(30, 8.0)]
    assert find_dark_run(medians, stds, 4096).stop == 20
    assert find_dark_run(np.full(50, 160.0), np.full(50, 8.0), 4096) is None  # lit from frame 0
    assert find_dark_run(medians, np.full(50, 8.0), 4096) is None  # brighter but not noisier
    spike = medians.copy()
    spike[10] = 400.0  # one bright frame (a cosmic ray shower) inside the dark run is no laser
    assert find_dark_run(spike[:20], stds[:20], 4096) is None
    levels = frame_levels(np.stack([np.full((4, 4), 7), np.arange(16).reshape(4, 4)]))
    np.testing.assert_allclose(levels[0], [7.0, 7.5])
