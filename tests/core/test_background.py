"""Background from frame ranges: window semantics, detection gain, pipeline chunking, errors."""

import numpy as np
import pytest
import yaml

from napari_picasso.cli import main
from napari_picasso.core.background import estimate_background, frames_needed
from napari_picasso.core.matching import detection_scores
from napari_picasso.core.snr_detect import snr_identify
from napari_picasso.detection import detect_frame
from napari_picasso.io.errors import ParameterError
from napari_picasso.io.movie import ArrayMovie
from napari_picasso.parameters import parse_background_frames
from napari_picasso.pipeline import LocalizeParameters, localize
from napari_picasso.simulate import (
    CameraModel,
    blinking_sites,
    camera_counts,
    expected_photons,
    render_movie,
    write_movie,
)

CAMERA = CameraModel(baseline=100.0, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)


def test_window_follows_python_slices_relative_to_each_frame():
    n = 40
    ramp = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n, 2, 3))
    before = estimate_background(ramp, 0, np.arange(n), -10, 0, 1, n, "mean")[:, 0, 0]
    # Frame 20: mean of frames 10..19; the first frames shift the window to 0..9.
    assert before[20] == pytest.approx(14.5)
    assert before[3] == pytest.approx(4.5)
    centred = estimate_background(ramp, 0, np.arange(n), -2, 3, 2, n, "median")[:, 0, 0]
    assert centred[20] == 20  # frames 18, 20, 22
    assert centred[39] == 37  # shifted to 35, 37, 39
    assert frames_needed(0, 5, -10, 0, 1, n) == (0, 10)
    assert frames_needed(12, 20, -10, 0, 1, n) == (2, 19)
    # A block that starts later gives the same values for the same targets.
    lo, hi = frames_needed(25, 30, -10, 0, 1, n)
    part = estimate_background(ramp[lo:hi], lo, np.arange(25, 30), -10, 0, 1, n, "mean")
    np.testing.assert_array_equal(part[:, 0, 0], before[25:30])


def test_parse_background_frames():
    assert parse_background_frames("-30:0") == (-30, 0, 1)
    assert parse_background_frames(" -15:16:2 ") == (-15, 16, 2)
    assert parse_background_frames(None) is None
    for bad in ("30", "a:b", "5:2", ":0", "-4:4:0"):
        with pytest.raises(ParameterError, match="background frames"):
            parse_background_frames(bad)


def test_background_range_outside_the_movie_is_a_parameter_error():
    movie = np.full((50, 16, 16), 100, np.uint16)
    with pytest.raises(ParameterError, match="spans 101 frames but the movie has only 50"):
        localize(movie, LocalizeParameters(background_frames="-100:1"))
    with pytest.raises(ParameterError, match="beyond a movie of 50 frames"):
        localize(movie, LocalizeParameters(background_frames="-80:-70"))
    with pytest.raises(ParameterError, match="start frame 60"):
        localize(movie, LocalizeParameters(start_frame=60))


def structured_background_movie(n_frames=240, size=64, seed=11, blob_photons=500.0):
    """Sparse blinking emitters on a background with spot-sized structure that fades slowly."""
    rng = np.random.default_rng(seed)
    truth = blinking_sites(
        n_frames,
        size,
        size,
        n_sites=30,
        photons=700,
        sigma_px=1.0,
        mean_on_frames=2,
        mean_off_frames=80,
        min_distance_px=8,
        seed=seed,
    )
    blobs = np.zeros(25, dtype=truth.dtype)
    blobs["x"] = rng.uniform(4, size - 4, 25)
    blobs["y"] = rng.uniform(4, size - 4, 25)
    blobs["photons"] = blob_photons
    blobs["sx"] = blobs["sy"] = 1.6
    pattern = expected_photons(blobs, 1, size, size, 0.0)[0]
    t = np.arange(n_frames)[:, None, None]
    level = 0.6 + 0.4 * np.cos(2 * np.pi * t / n_frames)  # slow in time
    expected = expected_photons(truth, n_frames, size, size, 20.0) + level * pattern
    return camera_counts(expected, CAMERA, rng), truth


def recall_at_false_positives(fi, y, x, score, truth, max_false):
    """Best recall over score thresholds with at most ``max_false`` false candidates."""
    order = np.argsort(-score)
    fi, y, x = fi[order], y[order], x[order]
    good = np.zeros(len(fi), dtype=bool)
    hit = np.full(len(fi), -1)
    for f in np.unique(fi):
        sel = np.flatnonzero(fi == f)
        idx = np.flatnonzero(truth["frame"] == f)
        if len(idx) == 0:
            continue
        d = np.hypot(y[sel, None] - truth["y"][idx][None], x[sel, None] - truth["x"][idx][None])
        near = d.min(axis=1) <= 1.5
        good[sel] = near
        hit[sel[near]] = idx[d[near].argmin(axis=1)]
    false_so_far = np.cumsum(~good)
    last = np.searchsorted(false_so_far, max_false, side="right")
    found = np.unique(hit[:last][good[:last]])
    return len(found) / len(truth)


def test_background_frames_improve_recall_at_fixed_false_positives():
    movie, truth = structured_background_movie()
    sensitivity = CAMERA.sensitivity
    common = dict(
        offset=CAMERA.baseline,
        photons_per_count=sensitivity,
        read_variance=CAMERA.read_noise_e**2,
        debounce_px=4,
        box=7,
    )
    none = snr_identify(movie, 0.2, **common)
    background = estimate_background(movie, 0, np.arange(len(movie)), -20, 21, 1, len(movie), "median")
    with_bg = snr_identify(movie, 0.2, background=background, **common)
    max_false = int(0.01 * len(truth))
    recall_none = recall_at_false_positives(*none, truth, max_false)
    recall_bg = recall_at_false_positives(*with_bg, truth, max_false)
    assert recall_bg >= 0.95
    assert recall_bg > recall_none + 0.05


def test_chunk_edges_read_the_frames_the_background_needs():
    movie, truth = structured_background_movie(n_frames=90, size=48, seed=3)
    parameters = LocalizeParameters(
        detector="snr",
        baseline=100.0,
        sensitivity=0.5,
        background_frames="-15:0",
        subtract_background=True,
        start_frame=10,
    )
    whole = localize(movie, parameters, chunk_frames=90)
    chunked = localize(ArrayMovie(movie), parameters, chunk_frames=7)
    assert len(whole) > 0 and whole["frame"].min() >= 10
    np.testing.assert_array_equal(whole["frame"], chunked["frame"])
    np.testing.assert_allclose(whole["x"], chunked["x"], atol=1e-5)
    # The fitted background is reported in photons per pixel, as without subtraction.
    assert 15 < np.median(whole["bg"]) < 45
    scores = detection_scores(whole, truth[truth["frame"] >= 10])
    assert scores["recall"] > 0.9


@pytest.mark.parametrize("detector", ["gradient", "snr"])
def test_detect_frame_matches_the_run(detector):
    movie, _ = structured_background_movie(n_frames=60, size=48, seed=4)
    parameters = LocalizeParameters(
        detector=detector, min_net_gradient=800, baseline=100.0, sensitivity=0.5, background_frames="-10:0"
    )
    locs = localize(movie, parameters, chunk_frames=13)
    frame = int(np.bincount(locs["frame"]).argmax())
    found = detect_frame(movie, frame, parameters)
    assert len(found) == np.sum(locs["frame"] == frame)
    assert np.all(found["score"] > (1.0 if detector == "snr" else 800))


def test_command_line_flags_reach_the_yaml(tmp_path):
    truth = blinking_sites(60, 40, 40, n_sites=10, photons=1500, seed=2)
    path = write_movie(tmp_path / "m.raw", truth, 60, 40, 40, camera=CAMERA, seed=2)
    code = main(
        [
            "localize",
            str(path),
            "-q",
            "--baseline",
            "100",
            "--sensitivity",
            "0.5",
            "--detector",
            "snr",
            "--snr-threshold",
            "1.5",
            "--debounce-px",
            "3",
            "--background-frames",
            "-20:0",
            "--subtract-background",
            "--start-frame",
            "5",
        ]
    )
    assert code == 0
    docs = list(yaml.safe_load_all(open(tmp_path / "m_locs.yaml")))
    doc = [d for d in docs if "Detector" in d][0]
    assert doc["Detector"] == "snr" and doc["SNR threshold"] == 1.5 and doc["Debounce (px)"] == 3.0
    assert doc["Background frames"] == "-20:0" and doc["Subtract background"] is True and doc["Start frame"] == 5
    params = LocalizeParameters.from_info(doc)
    assert (params.detector, params.background_frames, params.start_frame) == ("snr", "-20:0", 5)
    assert main(["localize", str(path), "-q", "--background-frames", "-90:-80"]) == 1


def test_subtract_background_without_frames_is_an_error_naming_the_option(tmp_path, capsys):
    # Subtraction removes the --background-frames estimate; without frames it used to do
    # nothing at all, silently.
    truth = blinking_sites(30, 40, 40, n_sites=10, photons=1500, seed=3)
    path = write_movie(tmp_path / "nobg.raw", truth, 30, 40, 40, camera=CAMERA, seed=3)
    code = main(["localize", str(path), "-q", "--baseline", "100", "--sensitivity", "0.5", "--subtract-background"])
    error = capsys.readouterr().err
    assert code == 1
    assert "nobg.raw" in error and "--subtract-background" in error
    assert "--background-frames" in error and "-30:0" in error
    assert "Traceback" not in error
    assert not list(tmp_path.glob("nobg_locs*"))
    with pytest.raises(ParameterError, match="background frames"):
        localize(ArrayMovie(np.full((5, 16, 16), 100, np.uint16)), LocalizeParameters(subtract_background=True))


class CountingMovie(ArrayMovie):
    """Records every read, to check what the pipeline asks for."""

    def __init__(self, frames):
        super().__init__(frames)
        self.reads = []

    def _read(self, start, stop):
        self.reads.append((start, stop))
        return super()._read(start, stop)


def test_reads_stay_bounded_by_chunk_plus_window():
    movie = CountingMovie(np.random.default_rng(0).poisson(200, (200, 24, 24)).astype(np.uint16))
    localize(movie, LocalizeParameters(background_frames="-30:0", min_net_gradient=1e9), chunk_frames=16)
    lengths = [stop - start for start, stop in movie.reads]
    assert max(lengths) <= 16 + 30
    covered = np.zeros(200, bool)
    for start, stop in movie.reads:
        covered[start:stop] = True
    assert covered.all()


def test_subtracted_background_keeps_the_mle_at_its_crlb():
    truth = blinking_sites(
        300,
        64,
        64,
        n_sites=40,
        photons=1500,
        photon_spread=0,
        mean_on_frames=2,
        mean_off_frames=60,
        min_distance_px=9,
        seed=7,
    )
    movie = render_movie(truth, 300, 64, 64, 50.0, CAMERA, seed=7)
    base = LocalizeParameters(min_net_gradient=1500, baseline=100, sensitivity=0.5)
    subtracted = localize(movie, base.replace(background_frames="-15:16", subtract_background=True))
    scores = detection_scores(subtracted, truth)
    matched = subtracted[scores["locs_index"]]
    assert scores["recall"] > 0.99
    assert abs(scores["rmse_x_px"] / np.sqrt(np.mean(matched["lpx"] ** 2)) - 1) < 0.10
    assert abs(np.median(matched["photons"]) / 1500 - 1) < 0.04
    assert abs(np.median(matched["bg"]) / 50 - 1) < 0.04
