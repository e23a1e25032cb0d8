"""The streaming pipeline against ground truth, and its contracts (chunks, cancel, threads)."""

import math
import threading

import numpy as np
import pytest

from napari_picasso.core.matching import detection_scores
from napari_picasso.core.precision import mortensen_mle_variance
from napari_picasso.io.locs import load_locs, locs_path_for
from napari_picasso.io.movie import ArrayMovie
from napari_picasso.io.movies import open_movie
from napari_picasso.pipeline import (
    LocalizationCancelled,
    LocalizeParameters,
    localize,
    localize_file,
)
from napari_picasso.simulate import CameraModel, isolated_spots, render_movie
from napari_picasso.simulate import suggested_min_net_gradient as gradient_for


def params_for(camera, **kw):
    return LocalizeParameters(baseline=camera.baseline, sensitivity=camera.sensitivity, em_gain=camera.em_gain, **kw)


@pytest.fixture(scope="module")
def shot_noise_movie():
    """Isolated spots (sigma 1 px, 1500 photons, 50 bg photons/px), shot noise only."""
    camera = CameraModel(baseline=100, sensitivity=1.0, em_gain=1.0, read_noise_e=0.0)
    truth = isolated_spots(100, 96, 96, spacing_px=12, photons=1500, sigma_px=1.0, seed=7)
    movie = render_movie(truth, 100, 96, 96, bg_photons=50, camera=camera, seed=7)
    return movie, truth, camera


def test_accuracy_against_ground_truth_and_crlb(shot_noise_movie):
    movie, truth, camera = shot_noise_movie
    locs = localize(ArrayMovie(movie), params_for(camera, min_net_gradient=gradient_for(1500, camera)))
    scores = detection_scores(locs, truth, radius_px=1.0)
    assert scores["recall"] >= 0.99
    assert scores["precision"] >= 0.99
    rmse = math.hypot(scores["rmse_x_px"], scores["rmse_y_px"]) / math.sqrt(2)
    bound = math.sqrt(mortensen_mle_variance(1.0, 1500, 50))
    assert rmse / bound == pytest.approx(1.0, abs=0.05)
    matched = locs[scores["locs_index"]]
    assert abs(np.mean(matched["photons"]) / 1500 - 1) < 0.02
    # The reported precision agrees with the measured error.
    assert np.median(matched["lpx"]) == pytest.approx(scores["rmse_x_px"], rel=0.1)


def test_low_photons_stay_near_the_crlb():
    camera = CameraModel(baseline=100, sensitivity=1.0, read_noise_e=0.0)
    truth = isolated_spots(150, 96, 96, spacing_px=12, photons=300, sigma_px=1.0, seed=8)
    movie = render_movie(truth, 150, 96, 96, bg_photons=10, camera=camera, seed=8)
    locs = localize(ArrayMovie(movie), params_for(camera, min_net_gradient=gradient_for(300, camera) * 0.6))
    scores = detection_scores(locs, truth, radius_px=1.0)
    assert scores["recall"] > 0.97
    rmse = math.hypot(scores["rmse_x_px"], scores["rmse_y_px"]) / math.sqrt(2)
    assert rmse / math.sqrt(mortensen_mle_variance(1.0, 300, 10)) == pytest.approx(1.0, abs=0.10)


def test_low_signal_on_high_background_stays_near_the_crlb():
    """300 photons on 50 photons/px: the MLE at its bound where the background dominates."""
    photons, bg_photons = 300, 50
    camera = CameraModel(baseline=100, sensitivity=1.0, read_noise_e=0.0)
    truth = isolated_spots(200, 96, 96, spacing_px=12, photons=photons, sigma_px=1.0, seed=9)
    movie = render_movie(truth, 200, 96, 96, bg_photons=bg_photons, camera=camera, seed=9)
    # The suggested threshold is for a dim background; at 50 photons/px the shot noise
    # itself reaches it (precision ~0.77). 2.5x it still finds every spot.
    parameters = params_for(camera, min_net_gradient=gradient_for(photons, camera) * 2.5, fit_method="mle")
    locs = localize(ArrayMovie(movie), parameters)
    scores = detection_scores(locs, truth, radius_px=1.0)
    assert scores["recall"] > 0.99
    assert scores["precision"] > 0.98
    rmse_px = math.hypot(scores["rmse_x_px"], scores["rmse_y_px"]) / math.sqrt(2)
    bound_px = math.sqrt(mortensen_mle_variance(1.0, photons, bg_photons))
    assert rmse_px / bound_px == pytest.approx(1.0, abs=0.15)
    matched = locs[scores["locs_index"]]
    assert abs(np.median(matched["photons"]) / photons - 1) < 0.05
    # The precision each localization reports is the error it has.
    assert np.median(matched["lpx"]) == pytest.approx(scores["rmse_x_px"], rel=0.15)


def test_em_gain_applies_excess_noise_to_precision():
    camera = CameraModel(baseline=200, sensitivity=10.0, em_gain=100.0, read_noise_e=20.0)
    truth = isolated_spots(60, 96, 96, spacing_px=12, photons=1500, seed=9)
    movie = render_movie(truth, 60, 96, 96, bg_photons=30, camera=camera, seed=9)
    locs = localize(ArrayMovie(movie), params_for(camera, min_net_gradient=gradient_for(1500, camera)))
    scores = detection_scores(locs, truth)
    assert scores["recall"] > 0.99
    matched = locs[scores["locs_index"]]
    assert abs(np.mean(matched["photons"]) / 1500 - 1) < 0.03
    # lpx carries the factor sqrt(2) of the gain register and matches the real error.
    assert np.median(matched["lpx"]) == pytest.approx(scores["rmse_x_px"], rel=0.15)


@pytest.mark.parametrize("method", ["mle", "lq", "avg"])
def test_output_layout_sorted_valid_and_chunk_independent(isolated_movie, method):
    path, truth, camera = isolated_movie
    params = params_for(camera, fit_method=method, min_net_gradient=gradient_for(1500, camera))
    with open_movie(path) as movie:
        whole = localize(movie, params)
        chunked = localize(movie, params, chunk_frames=7)
    assert whole.dtype == chunked.dtype
    assert np.array_equal(whole, chunked)
    assert np.all(np.diff(whole["frame"].astype(int)) >= 0)
    for name in whole.dtype.names:
        if whole.dtype[name].kind == "f":
            assert np.all(np.isfinite(whole[name]))
    assert np.all((whole["x"] >= 0) & (whole["x"] < 96) & (whole["y"] >= 0) & (whole["y"] < 96))
    assert detection_scores(whole, truth)["recall"] > 0.98


def test_roi_and_frame_bounds(isolated_movie):
    path, truth, camera = isolated_movie
    params = params_for(camera, min_net_gradient=gradient_for(1500, camera), roi=(10, 30, 60, 90), frame_range=(5, 15))
    locs = localize(path, params)
    assert locs["frame"].min() >= 5 and locs["frame"].max() < 15
    assert np.all((locs["y"] >= 10) & (locs["y"] < 60) & (locs["x"] >= 30) & (locs["x"] < 90))
    inside = truth[
        (truth["frame"] >= 5)
        & (truth["frame"] < 15)
        & (truth["y"] > 13.5)
        & (truth["y"] < 55.5)
        & (truth["x"] > 33.5)
        & (truth["x"] < 85.5)
    ]
    assert detection_scores(locs, inside)["recall"] > 0.98


def test_progress_and_cancel_leave_no_partial_file(blinking_movie, tmp_path):
    path, truth, camera = blinking_movie
    params = params_for(camera, min_net_gradient=gradient_for(1500, camera))
    calls = []
    out = tmp_path / "run_locs.hdf5"
    result = localize_file(path, params, out, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 300) and calls[-1] == (300, 300)
    assert result.n_locs == len(load_locs(out, with_info=False))

    cancel = threading.Event()

    def progress(done, total):
        if done >= 100:
            cancel.set()

    target = tmp_path / "cancelled_locs.hdf5"
    with open_movie(path) as movie:
        from napari_picasso import pipeline

        original = pipeline.chunk_frames_for
        pipeline.chunk_frames_for = lambda shape, *a: 50
        try:
            with pytest.raises(LocalizationCancelled):
                localize_file(movie, params, target, progress=progress, cancel=cancel)
        finally:
            pipeline.chunk_frames_for = original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_locs.hdf5", "run_locs.yaml"]


def test_zero_spots_is_a_valid_empty_result(blinking_movie, tmp_path):
    path, _, camera = blinking_movie
    result = localize_file(path, params_for(camera, min_net_gradient=1e12), tmp_path / "none_locs.hdf5")
    locs, info = load_locs(result.locs_path)
    assert len(locs) == 0 and result.n_locs == 0
    assert info[0]["Frames"] == 300 and info[1]["Localizations"] == 0


def test_concurrent_localizations_in_threads(blinking_movie):
    """Two threads launching parallel kernels at once (preview beside localize)."""
    path, _, camera = blinking_movie
    params = params_for(camera, min_net_gradient=gradient_for(1500, camera))
    reference = localize(path, params)
    results, errors = {}, []

    def run(key, p):
        try:
            results[key] = localize(path, p, chunk_frames=20)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [
        threading.Thread(target=run, args=(i, params.replace(fit_method=m)))
        for i, m in enumerate(["mle", "lq", "mle", "avg"])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert np.array_equal(results[0], reference) and np.array_equal(results[2], reference)


def test_default_output_name_beside_movie(tmp_path):
    assert locs_path_for(tmp_path / "a.ome.tif").name == "a_locs.hdf5"
    assert locs_path_for(tmp_path / "b.ome.tiff").name == "b_locs.hdf5"
    assert locs_path_for(tmp_path / "c.raw").name == "c_locs.hdf5"
    assert locs_path_for(tmp_path / "d.tif", folder=tmp_path / "out").parent == tmp_path / "out"
