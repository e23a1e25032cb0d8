"""NeNA against the known precision of simulated localizations and of a localized movie."""

import math

import numpy as np
import pytest
from _simulated_locs import blinking_table

from napari_picasso.core.matching import match_to_truth
from napari_picasso.core.nena import nena, next_frame_distances
from napari_picasso.io.locs import load_locs
from napari_picasso.pipeline import LocalizeParameters, localize_file


@pytest.mark.parametrize("precision_px", [0.05, 0.12, 0.3])
def test_nena_recovers_simulated_precision(precision_px):
    locs, _ = blinking_table(n_frames=3000, size=128, n_sites=300, precision_px=precision_px, seed=4)
    result = nena(locs, pixelsize_nm=130)
    assert result.s_px == pytest.approx(precision_px, rel=0.10)
    assert result.s_nm == pytest.approx(result.s_px * 130)
    assert result.n_pairs > 1000


def test_nena_with_dense_random_neighbours():
    # Many unrelated molecules near each other: the linear term must absorb them.
    locs, _ = blinking_table(
        n_frames=2000, size=48, n_sites=600, precision_px=0.1, seed=5, mean_on_frames=3.0, mean_off_frames=20.0
    )
    result = nena(locs, pixelsize_nm=100, max_distance_px=1.0)
    assert result.s_px == pytest.approx(0.1, rel=0.10)
    assert result.amplitudes[2] > 0


def test_next_frame_distances_match_brute_force():
    rng = np.random.default_rng(0)
    locs = np.zeros(3000, dtype=[("frame", "u4"), ("x", "f4"), ("y", "f4")])
    locs["frame"] = np.sort(rng.integers(0, 30, len(locs)))
    locs["x"] = rng.uniform(0, 20, len(locs))
    locs["y"] = rng.uniform(0, 20, len(locs))
    d = next_frame_distances(locs, 1.5)
    for i in range(0, len(locs), 37):
        nxt = locs[locs["frame"] == locs["frame"][i] + 1]
        dist = np.hypot(nxt["x"] - locs["x"][i], nxt["y"] - locs["y"][i])
        expected = dist.min() if len(dist) and dist.min() <= 1.5 else np.inf
        assert d[i] == pytest.approx(expected, rel=1e-6)


def test_nena_of_localized_movie_matches_true_error(blinking_movie):
    path, truth, camera = blinking_movie
    params = LocalizeParameters(
        box=7,
        min_net_gradient=3000,
        baseline=camera.baseline,
        sensitivity=camera.sensitivity,
        em_gain=camera.em_gain,
        pixelsize_nm=130,
    )
    result = localize_file(path, params, locs_path=path.with_name("nena_locs.hdf5"))
    locs = load_locs(result.locs_path, with_info=False)
    li, ti = match_to_truth(locs, truth, radius_px=1.0)
    errors = np.concatenate([locs["x"][li] - truth["x"][ti], locs["y"][li] - truth["y"][ti]])
    true_precision = np.sqrt(np.mean(errors**2))
    estimate = nena(locs, pixelsize_nm=130)
    assert estimate.s_px == pytest.approx(true_precision, rel=0.10)


def test_nena_of_very_precise_localizations():
    # 1 nm precision: the default search radius must follow the reported precision
    locs, _ = blinking_table(n_frames=3000, size=128, n_sites=300, precision_px=0.01, seed=6)
    assert nena(locs).s_px == pytest.approx(0.01, rel=0.10)


def test_nena_never_raises_on_unstructured_or_degenerate_tables():
    """Quality metrics run on every file; NeNA answers NaN rather than crash."""
    from napari_picasso import fitters
    from napari_picasso.core.nena import nena

    rng = np.random.default_rng(3)
    for n, spread in ((60, 0.0), (400, 0.0), (400, 50.0), (3000, 1e-4)):
        locs = np.zeros(n, dtype=fitters.get("mle").dtype)
        locs["frame"] = np.arange(n) // 3
        locs["x"] = 20 + rng.normal(0, spread, n) if spread else 20.0
        locs["y"] = 20 + rng.normal(0, spread, n) if spread else 20.0
        locs["lpx"] = locs["lpy"] = 0.05
        result = nena(locs, pixelsize_nm=130)
        assert math.isnan(result.s_px) or result.s_px >= 0


def test_nena_fit_on_few_short_distances_does_not_raise():
    """110 next-frame distances of a small explorer-test file: the short-range term's trial
    shapes went non-finite and lstsq raised inside quality_metrics."""
    from napari_picasso.core.nena import fit_nena

    distances = np.array(
        [
            0.00172,
            0.00177,
            0.00313,
            0.00342,
            0.00358,
            0.00401,
            0.00412,
            0.0042,
            0.00438,
            0.0047,
            0.00539,
            0.00604,
            0.00614,
            0.00711,
            0.00721,
            0.00727,
            0.00761,
            0.00763,
            0.00774,
            0.00805,
            0.00811,
            0.00828,
            0.00851,
            0.00868,
            0.00876,
            0.00877,
            0.00877,
            0.00958,
            0.00988,
            0.01021,
            0.01077,
            0.01081,
            0.0112,
            0.0116,
            0.01203,
            0.01212,
            0.01226,
            0.01272,
            0.01369,
            0.0137,
            0.0141,
            0.01411,
            0.01429,
            0.0144,
            0.01477,
            0.01495,
            0.0151,
            0.01527,
            0.01528,
            0.01571,
            0.0159,
            0.0162,
            0.01641,
            0.01654,
            0.01655,
            0.01671,
            0.01678,
            0.01705,
            0.01721,
            0.01774,
            0.0182,
            0.01861,
            0.01876,
            0.01907,
            0.01968,
            0.01986,
            0.02003,
            0.02039,
            0.02042,
            0.02056,
            0.02074,
            0.02147,
            0.02228,
            0.0225,
            0.02251,
            0.02259,
            0.02277,
            0.02361,
            0.02375,
            0.02411,
            0.02519,
            0.02524,
            0.02594,
            0.02952,
            0.02987,
            0.03017,
            0.03114,
            0.03225,
            0.03264,
            0.03307,
            0.03315,
            0.03357,
            0.03442,
            0.03462,
            0.03514,
            0.03595,
            0.0367,
            0.03722,
            0.0407,
            0.04437,
            0.04627,
            0.04667,
            0.04724,
            0.04731,
            0.04892,
            0.05177,
            0.05623,
            0.06859,
            0.0776,
            0.08103,
        ]
    )
    result = fit_nena(distances, 0.0962)
    assert math.isnan(result.s_px) or 0 < result.s_px < 0.05


def test_nena_on_a_sparse_blinking_movie_matches_the_true_error():
    """Few next-frame pairs and a spread of photon counts: the short-range term must not
    split the main peak (it once gave 4.3 nm for a true 5.7 nm on the demo movie)."""
    from napari_picasso.core.matching import detection_scores
    from napari_picasso.io.movie import ArrayMovie
    from napari_picasso.pipeline import localize
    from napari_picasso.simulate import (
        CameraModel,
        blinking_sites,
        render_movie,
        suggested_min_net_gradient,
    )

    camera = CameraModel(baseline=100, sensitivity=0.5, read_noise_e=1.5)
    truth = blinking_sites(2000, 64, 64, n_sites=68, photons=1500, seed=0, min_distance_px=8)
    movie = render_movie(truth, 2000, 64, 64, 50, camera, seed=0)
    params = LocalizeParameters(
        min_net_gradient=suggested_min_net_gradient(1500, camera), baseline=100, sensitivity=0.5
    )
    locs = localize(ArrayMovie(movie), params)
    scores = detection_scores(locs, truth)
    true_error = math.hypot(scores["rmse_x_px"], scores["rmse_y_px"]) / math.sqrt(2)
    assert nena(locs).s_px == pytest.approx(true_error, rel=0.10)


def test_sparse_short_movie_fits_without_overflow(tmp_path):
    """100 frames of a sparse blinking movie: the histogram is so thin that a free fit once
    stepped to exp(1000) px and raised OverflowError (the database row was then lost)."""
    from napari_picasso.simulate import CameraModel, blinking_sites, write_movie

    camera = CameraModel(baseline=100.0, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)
    truth = blinking_sites(
        300, 64, 64, n_sites=40, photons=1500, mean_on_frames=3, mean_off_frames=30, min_distance_px=9, seed=1
    )
    movie = write_movie(tmp_path / "sparse.raw", truth, 300, 64, 64, bg_photons=50, camera=camera, seed=1)
    parameters = LocalizeParameters(min_net_gradient=1500, baseline=100, sensitivity=0.5, frame_range=(0, 100))
    result = localize_file(movie, parameters, tmp_path / "sparse_locs.hdf5")
    locs, _ = load_locs(result.locs_path)
    found = nena(locs, 130.0)
    # few pairs: either a precision near the simulated one, or an honest NaN, never an error
    assert math.isnan(found.s_nm) or 2.0 < found.s_nm < 20.0, found.s_nm
