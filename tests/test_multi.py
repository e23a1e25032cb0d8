"""mle-multi (issue 19) against ground truth and the joint model's CRLB; read noise in the MLE."""

import math

import numpy as np
import pytest

from napari_picasso import fitters
from napari_picasso.cli import main
from napari_picasso.core.gaussfit import fit_mle
from napari_picasso.core.matching import match_to_truth
from napari_picasso.core.multifit import emitters_crlb, estimate_psf_aspect, fit_multi, neighbourhood_crlb
from napari_picasso.core.spots import extract_spots
from napari_picasso.detection import detect, noise_model
from napari_picasso.io.errors import ParameterError
from napari_picasso.parameters import check_values, parameter
from napari_picasso.pipeline import LocalizeParameters, localize, localize_frames
from napari_picasso.simulate import (
    CameraModel,
    dense_emitters,
    emitter_pairs,
    expected_photons,
    isolated_spots,
    nearest_neighbour_px,
    render_movie,
    suggested_min_net_gradient,
    write_movie,
)

CAMERA = CameraModel(baseline=100.0, sensitivity=1.0, em_gain=1.0, read_noise_e=0.0)


def run(movie, method, **options):
    gradient = suggested_min_net_gradient(1500, CAMERA)
    values = {"baseline": 100, "sensitivity": 1, "min_net_gradient": gradient, "read_noise_e": 0.0, **options}
    return localize(movie, LocalizeParameters(fit_method=method, **values))


def jaccard(locs, truth, radius_px=1.0):
    li, _ = match_to_truth(locs, truth, radius_px)
    return len(li) / (len(locs) + len(truth) - len(li))


def test_the_fit_menu_and_the_registry_know_it():
    assert "mle-multi" in fitters.names()
    fitter = fitters.get("mle-multi")
    assert fitter.rows_per_spot and "n_emitters" in fitter.dtype.names
    assert not fitters.get("mle").rows_per_spot


def test_sparse_movie_gives_the_mle_rows():
    truth = isolated_spots(6, 64, 64, spacing_px=12, seed=1)
    movie = render_movie(truth, 6, 64, 64, bg_photons=50, camera=CAMERA, seed=1)
    single, multi = run(movie, "mle"), run(movie, "mle-multi")
    assert len(multi) == len(single) > 0.95 * len(truth)
    for field in ("x", "y", "photons", "lpx", "bg", "log_likelihood"):
        np.testing.assert_array_equal(multi[field], single[field])
    assert np.all(multi["n_emitters"] == 1)


def test_dense_frames_are_resolved_near_the_bound():
    """40 spots per 128x128 frame, no minimum separation (the issue's goal)."""
    truth = dense_emitters(10, 128, 128, density_per_um2=40 / 144, pixelsize_nm=100, margin_px=4, seed=1)
    movie = render_movie(truth, 10, 128, 128, bg_photons=50, camera=CAMERA, seed=1)
    single, multi = run(movie, "mle"), run(movie, "mle-multi")
    assert jaccard(multi, truth) >= 0.98 > 0.95 > jaccard(single, truth) + 0.03
    bound = math.sqrt(emitters_crlb([0.0], [0.0], [1500.0], bg=50.0, sx_px=1.0, sy_px=1.0)[0, 0])
    # Each emitter's bound in the joint model of its true neighbours (the model mle-multi fits).
    joint = neighbourhood_crlb(truth["frame"], truth["x"], truth["y"], truth["photons"], bg=50.0, sigma_px=1.0)
    nearest = nearest_neighbour_px(truth)
    normalised = {}
    for locs, limit in ((single, 3.0), (multi, 1.4)):
        li, ti = match_to_truth(locs, truth, 1.0)
        error2 = ((locs["x"][li] - truth["x"][ti]) ** 2 + (locs["y"][li] - truth["y"][ti]) ** 2) / 2
        apart = nearest[ti] >= 5.0  # no neighbour within 5 sigma: at the bound
        assert math.sqrt(np.mean(error2[apart])) <= 1.10 * bound
        # Close neighbours raise the bound: over all emitters, the isolated one is beaten.
        assert bound * 1.1 < math.sqrt(np.mean(error2)) <= limit * bound
        normalised[locs is multi] = math.sqrt(np.mean(error2 / joint[ti].mean(axis=1)))
    # The goal, against the bound of the model fitted (mle: unresolved pairs).
    assert normalised[True] <= 1.10 < 1.5 < normalised[False]
    assert multi["n_emitters"].max() >= 2
    # Every emitter once: no two rows of a frame on top of each other.
    for frame in np.unique(multi["frame"]):
        rows = multi[multi["frame"] == frame]
        d = np.hypot(rows["x"][:, None] - rows["x"], rows["y"][:, None] - rows["y"])
        assert np.min(d + 99 * np.eye(len(rows))) > 0.3


def test_pairs_split_with_the_joint_bound():
    rng = np.random.default_rng(2)
    separation = 2.0
    n = 400
    truth = emitter_pairs(1, separation, 7 * 20, 7 * 20, spacing_px=7, seed=2)[: 2 * n]
    spots = np.empty((n, 7, 7), np.float32)
    for s in range(n):
        pair = truth[2 * s : 2 * s + 2].copy()
        mid_x, mid_y = pair["x"].mean(), pair["y"].mean()
        pair["x"] += 3 - mid_x
        pair["y"] += 3 - mid_y
        pair["frame"] = 0
        spots[s] = rng.poisson(expected_photons(pair, 1, 7, 7, 50.0)[0])
        truth["x"][2 * s : 2 * s + 2] = pair["x"] - 3
        truth["y"][2 * s : 2 * s + 2] = pair["y"] - 3
    fit = fit_multi(spots, max_emitters=3)
    counts = np.bincount(fit["spot"], minlength=n)
    assert np.mean(counts == 2) > 0.7
    two = np.flatnonzero(counts == 2)
    rows = np.isin(fit["spot"], two)
    # Pair the two emitters of a window with the two true ones (the closer assignment).
    fx, fy = fit["x"][rows].reshape(-1, 2), fit["y"][rows].reshape(-1, 2)
    tx, ty = truth["x"].reshape(-1, 2)[two], truth["y"].reshape(-1, 2)[two]
    same = (fx - tx) ** 2 + (fy - ty) ** 2
    swap = (fx - tx[:, ::-1]) ** 2 + (fy - ty[:, ::-1]) ** 2
    err2 = np.where(same.sum(1) <= swap.sum(1), same.sum(1), swap.sum(1)) / 4
    rmse = math.sqrt(np.mean(err2))
    h = separation / 2
    crlb = emitters_crlb([-h, h], [0.0, 0.0], [1500.0, 1500.0], bg=50.0, sx_px=1.0, sy_px=1.0)
    bound = math.sqrt(crlb[0, :2].mean())
    # The bulk at the bound (err2 is a mean of 4 squares: chi-square(4) / 4, median 0.839);
    # a tail of windows converging to a worse split lifts the RMSE (1.3x, the benchmark's table).
    assert math.sqrt(np.median(err2) / 0.839) < 1.15 * bound
    assert rmse < 1.5 * bound
    # The reported uncertainty is the joint model's: larger than an isolated emitter's.
    isolated = fit_mle(spots[counts == 1][:1])
    reported = np.sqrt(fit["crlb_x"][rows])
    assert np.median(reported) > 1.5 * math.sqrt(emitters_crlb([0.0], [0.0], [1500.0], bg=50.0, sx_px=1.0)[0, 0])
    assert len(isolated["x"]) <= 1


def test_pairs_one_and_a_half_sigma_apart_are_resolved():
    """One round PSF width in the joint fits: an emitter cannot stretch over a pair."""
    truth = emitter_pairs(6, 1.5, 128, 128, photons=1500, seed=15)
    movie = render_movie(truth, 6, 128, 128, bg_photons=50, camera=CAMERA, seed=15)
    resolved = {}
    for method in ("mle", "mle-multi"):
        _, ti = match_to_truth(run(movie, method), truth, 0.75)
        found = np.zeros(len(truth), bool)
        found[ti] = True
        resolved[method] = np.mean(found[0::2] & found[1::2])
    assert resolved["mle"] < 0.05 and resolved["mle-multi"] >= 0.85, resolved


def test_an_elliptical_psf_is_not_taken_for_pairs():
    """Joint models keep the PSF's aspect ratio (the chunk's median sy / sx), not a round one."""
    truth = isolated_spots(10, 128, 128, spacing_px=12, photons=5000, seed=5)
    truth["sx"] = 1.2  # astigmatism of a real objective: sx 20 % above sy
    movie = render_movie(truth, 10, 128, 128, bg_photons=50, camera=CAMERA, seed=5)
    single, multi = run(movie, "mle"), run(movie, "mle-multi")
    assert len(multi) == len(single) == len(truth)
    assert np.all(multi["n_emitters"] == 1)
    assert estimate_psf_aspect(extract_spots(movie.astype(np.float32) - 100, *truth_boxes(truth), 7, 0, 1, 1)) == 0.84


def truth_boxes(truth):
    return truth["frame"].astype(np.int64), np.rint(truth["y"]).astype(np.int32), np.rint(truth["x"]).astype(np.int32)


@pytest.mark.parametrize(
    "options, words",
    [
        (["--max-emitters", "0"], "max. emitters (--max-emitters) must be a whole number >= 1 and <= 10"),
        (["--max-emitters", "11"], "<= 10"),
        (["--multi-threshold", "0"], "strictly between 0 and 1"),
        (["--multi-threshold", "1"], "strictly between 0 and 1"),
        (["--multi-threshold", "-0.5"], "strictly between 0 and 1"),
    ],
)
def test_bad_multi_options_are_clear_errors(options, words, tmp_path, capsys):
    truth = isolated_spots(2, 32, 32, spacing_px=12, seed=0)
    movie = write_movie(tmp_path / "m.raw", truth, 2, 32, 32, camera=CAMERA)
    try:
        code = main(["localize", str(movie), "--fit", "mle-multi", "--no-db", "--quiet", *options])
    except SystemExit as exit:  # argparse refuses the value
        code = exit.code
    err = capsys.readouterr().err
    assert code != 0 and words in err and "Traceback" not in err
    # The same message from groups.yaml, the dock and the API (one schema).
    with pytest.raises(ParameterError, match=words.split(" (")[0]):
        parameter(options[0][2:].replace("-", "_")).convert(options[1])
    with pytest.raises(ParameterError):
        fit_multi_parameters = LocalizeParameters(
            fit_method="mle-multi", **{options[0][2:].replace("-", "_"): options[1]}
        )
        check_values(fit_multi_parameters)


def test_read_noise_is_a_uniform_variance_in_the_mle():
    camera = CameraModel(baseline=100.0, sensitivity=1.0, em_gain=1.0, read_noise_e=1.5)
    truth = isolated_spots(4, 48, 48, spacing_px=12, photons=300, seed=3)
    movie = render_movie(truth, 4, 48, 48, bg_photons=50, camera=camera, seed=3)
    parameters = LocalizeParameters(baseline=100, sensitivity=1, min_net_gradient=300, read_noise_e=1.5)
    locs = localize_frames(movie, parameters)
    frames = movie.astype(np.float32)
    index, y, x, _, _ = detect(frames, parameters, (0, 0, 48, 48), None, noise_model(parameters, (48, 48)))
    spots = extract_spots(frames, index, y, x, 7, 100.0, 1.0, 1.0)
    aware = fit_mle(spots, extra_variance=np.full(spots.shape, 2.25, np.float32))
    plain = fit_mle(spots)
    np.testing.assert_array_equal(locs["x"], (x + aware["x"]).astype(np.float32))
    assert not np.array_equal(locs["x"], (x + plain["x"]).astype(np.float32))
    # The CRLB counts it: larger bounds than the Poisson-only model's.
    assert np.all(aware["crlb_x"] > plain["crlb_x"])
    # Read noise 0: the plain Poisson fit, bit for bit.
    zero = localize_frames(movie, parameters.replace(read_noise_e=0.0))
    np.testing.assert_array_equal(zero["x"], (x + plain["x"]).astype(np.float32))


def test_background_subtraction_and_em_gain_reach_every_emitter_row():
    """Rows per box: the subtracted background and the EM excess noise follow each emitter."""
    camera = CameraModel(baseline=100.0, sensitivity=1.0, em_gain=2.0, read_noise_e=0.0)
    truth = dense_emitters(12, 64, 64, density_per_um2=0.5, pixelsize_nm=100, seed=4)  # new places each frame
    movie = render_movie(truth, 12, 64, 64, bg_photons=50, camera=camera, seed=4)
    options = {
        "baseline": 100,
        "sensitivity": 1,
        "em_gain": 2.0,
        "min_net_gradient": suggested_min_net_gradient(1500, camera),
        "read_noise_e": 0.0,
        "background_frames": "-6:0",
        "subtract_background": True,
        "frame_range": (6, 12),
    }
    multi = localize(movie, LocalizeParameters(fit_method="mle-multi", **options))
    single = localize(movie, LocalizeParameters(fit_method="mle", **options))
    on = truth[truth["frame"] >= 6]
    assert jaccard(multi, on) > max(0.85, jaccard(single, on))
    # bg is the fitted background plus the subtracted one, per box: near the true 50 photons.
    assert abs(np.median(multi["bg"]) - 50) < 5
    assert np.all(np.diff(multi["frame"].astype(np.int64)) >= 0)
