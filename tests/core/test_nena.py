"""NeNA against the known precision of simulated localizations and of a localized movie."""

import numpy as np
import pytest

from napari_picasso.core.nena import next_frame_distances, nena
from napari_picasso.core.matching import match_to_truth
from napari_picasso.io.locs import load_locs
from napari_picasso.pipeline import LocalizeParameters, localize_file

from _simulated_locs import blinking_table


@pytest.mark.parametrize("precision_px", [0.05, 0.12, 0.3])
def test_nena_recovers_simulated_precision(precision_px):
    locs, _ = blinking_table(n_frames=3000, size=128, n_sites=300, precision_px=precision_px, seed=4)
    result = nena(locs, pixelsize_nm=130)
    assert result.s_px == pytest.approx(precision_px, rel=0.10)
    assert result.s_nm == pytest.approx(result.s_px * 130)
    assert result.n_pairs > 1000


def test_nena_with_dense_random_neighbours():
    # Many unrelated molecules near each other: the linear term must absorb them.
    locs, _ = blinking_table(n_frames=2000, size=48, n_sites=600, precision_px=0.1, seed=5,
                             mean_on_frames=3.0, mean_off_frames=20.0)
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
    params = LocalizeParameters(box=7, min_net_gradient=3000, baseline=camera.baseline,
                                sensitivity=camera.sensitivity, em_gain=camera.em_gain, pixelsize_nm=130)
    result = localize_file(path, params, locs_path=path.with_name("nena_locs.hdf5"))
    locs = load_locs(result.locs_path, with_info=False)
    li, ti = match_to_truth(locs, truth, radius_px=1.0)
    errors = np.concatenate([locs["x"][li] - truth["x"][ti], locs["y"][li] - truth["y"][ti]])
    true_precision = np.sqrt(np.mean(errors**2))
    estimate = nena(locs, pixelsize_nm=130)
    assert estimate.s_px == pytest.approx(true_precision, rel=0.10)
