"""Image splitter: channel calibration, joint two-channel fit, colours, registration (issue 20).

Simulated splitter movies with a known shift, rotation, scale and second-order distortion
between the halves (napari_picasso.simulate.SplitterOptics), two dyes with ratios 0.25
and 0.70, 2000 photons, background 20 photons per pixel in each channel.
"""

import sqlite3

import numpy as np
import pytest
import tifffile
import yaml

from napari_picasso import simulate as S
from napari_picasso.calibrate.channels import calibrate_frames
from napari_picasso.cli import main
from napari_picasso.core.channelmap import apply_map
from napari_picasso.core.matching import match_to_truth
from napari_picasso.distributed.blocks import close_open_movies, localize_block, plan_blocks
from napari_picasso.groups import load_groups
from napari_picasso.io.channels import load_channels, map_coefficients, save_channels
from napari_picasso.io.locs import load_info, load_locs, save_locs
from napari_picasso.parameters import LocalizeParameters, validate_parameters
from napari_picasso.pipeline import localize

PIXELSIZE_NM = 130.0
N_FRAMES = 300
COLOURS = ["--colour", "A:0:0.475", "B:0.475:1"]


@pytest.fixture(scope="module")
def optics():
    return S.SplitterOptics()


@pytest.fixture(scope="module")
def beads_movie(tmp_path_factory, optics):
    folder = tmp_path_factory.mktemp("splitter")
    truth = S.splitter_beads_truth(20, optics)
    return S.write_splitter_movie(folder / "beads.tif", truth, 20, optics)


def calibrate(beads_movie, model, *extra):
    out = beads_movie.parent / model
    out.mkdir(exist_ok=True)
    code = main(
        ["calibrate-channels", str(beads_movie), "--splitter", "left-right", "--model", model, "--out", str(out)]
        + ["--box", "7", "--gradient", "5000", "--baseline", "100", "--sensitivity", "1", "--gain", "1"]
        + ["--pixelsize", str(PIXELSIZE_NM), *extra]
    )
    assert code == 0
    return out / "beads_channels.yaml"


@pytest.fixture(scope="module")
def calibration_path(beads_movie):
    return calibrate(beads_movie, "poly2")


def true_map_error_nm(calibration, optics):
    """rms distance between the calibration's map and the simulated optics over the field."""
    y0, x0 = np.mgrid[6 : optics.height - 6 : 2, 6 : optics.width - 6 : 2].astype(float)
    x1, y1 = optics.to_channel1(x0.ravel(), y0.ravel())
    X, Y = apply_map(*map_coefficients(calibration), x1, y1)
    return float(np.sqrt(np.mean((X - x0.ravel()) ** 2 + (Y - y0.ravel()) ** 2)) * PIXELSIZE_NM)


def test_calibration_file_layout_and_residuals(calibration_path, beads_movie, optics, capsys):
    document = yaml.safe_load(calibration_path.read_text())
    assert document["map"]["model"] == "poly2"
    assert document["map"]["terms"] == ["1", "x", "y", "x^2", "x*y", "y^2"]
    assert len(document["map"]["x"]) == len(document["map"]["y"]) == 6
    assert document["rms_residual_nm"] <= 5.0
    assert (document["camera_width"], document["camera_height"]) == (2 * optics.width, optics.height)
    assert calibration_path.with_suffix(".png").stat().st_size > 1000
    assert true_map_error_nm(load_channels(calibration_path), optics) <= 5.0
    # the optics have a second-order distortion: an affine map leaves larger residuals
    affine_path = calibrate(beads_movie, "affine", "--no-plot")
    affine = yaml.safe_load(affine_path.read_text())
    assert affine["map"]["model"] == "affine" and np.shape(affine["map"]["matrix"]) == (2, 3)
    assert affine["rms_residual_nm"] > 2 * document["rms_residual_nm"]
    assert true_map_error_nm(load_channels(affine_path), optics) > true_map_error_nm(document, optics)


@pytest.fixture(scope="module")
def two_colour(tmp_path_factory, optics, calibration_path):
    folder = tmp_path_factory.mktemp("two_colour")
    truth = S.splitter_truth(N_FRAMES, optics, n_sites=30, seed=3)
    movie = S.write_splitter_movie(folder / "cells.tif", truth, N_FRAMES, optics, seed=3)
    code = main(
        ["localize", str(movie), "--splitter", "left-right", "--channels", str(calibration_path)]
        + ["--fit", "mle-ratio", "--gradient", "1500", "--pixelsize", str(PIXELSIZE_NM), "-q", *COLOURS]
        + ["--db", str(folder / "experiments.db")]
    )
    assert code == 0
    return movie, truth


def test_mle_ratio_colours_jaccard_and_precision(two_colour, optics):
    movie, truth = two_colour
    locs_path = movie.with_name("cells_locs.hdf5")
    locs = load_locs(locs_path, with_info=False)
    movie_doc, run = load_info(locs_path)[:2]
    assert (movie_doc["Width"], movie_doc["Height"]) == (optics.width, optics.height)
    assert run["Colours"] == ["A", "B"] and run["Splitter"] == "left-right"
    for field in ("photons_0", "photons_1", "ratio", "colour"):
        assert field in locs.dtype.names
    li, ti = match_to_truth(locs, truth, radius_px=1.0)
    assert len(li) / (len(locs) + len(truth) - len(li)) >= 0.98  # Jaccard
    matched, true = locs[li], truth[ti]
    assert np.mean(matched["colour"] == true["dye"]) >= 0.99
    assert np.mean(matched["colour"] == -1) <= 0.01
    np.testing.assert_allclose(matched["photons"], matched["photons_0"] + matched["photons_1"], rtol=1e-5)
    # the database row records the colour counts
    with sqlite3.connect(movie.parent / "experiments.db") as db:
        a, b, none = db.execute("SELECT n_colour_a, n_colour_b, n_colour_none FROM localizations").fetchone()
    assert (a, b, none) == tuple(int(np.sum(locs["colour"] == c)) for c in (0, 1, -1))
    for axis, lp in (("x", "lpx"), ("y", "lpy")):
        rmse = np.sqrt(np.mean((matched[axis] - true[axis]) ** 2))
        crlb = np.sqrt(np.mean(matched[lp] ** 2))  # the joint Fisher matrix's bound
        assert rmse <= 1.10 * crlb, (axis, rmse, crlb)


def test_sequential_registration_within_5_nm(tmp_path, optics, calibration_path):
    # Dye B alone, imaged in channel 1: its half of the camera frame as its own movie.
    truth = S.splitter_beads_truth(20, optics, photons=4000.0, spacing_px=12, seed=4)
    frames = S.splitter_movie(truth, 20, optics, seed=4)[:, :, optics.width :]
    movie = tmp_path / "dyeB.tif"
    tifffile.imwrite(movie, frames, photometric="minisblack")
    assert main(["localize", str(movie), "--gradient", "1500", "-q", "--no-db"]) == 0
    assert main(["register", str(tmp_path / "dyeB_locs.hdf5"), "--channels", str(calibration_path)]) == 0
    registered = load_locs(tmp_path / "dyeB_locs_register.hdf5", with_info=False)
    truth0 = truth.copy()  # where channel 0 sees the same molecules
    li, ti = match_to_truth(registered, truth0, radius_px=1.0)
    assert len(li) >= 0.95 * len(truth0)
    error = np.column_stack([registered["x"][li] - truth0["x"][ti], registered["y"][li] - truth0["y"][ti]])
    # per molecule, averaged over its 20 frames: the registration error without the noise
    per_site = np.array([error[truth0["site"][ti] == s].mean(axis=0) for s in np.unique(truth0["site"][ti])])
    assert np.sqrt(np.mean(np.sum(per_site**2, axis=1))) * PIXELSIZE_NM <= 5.0


def test_bad_input_is_explained(tmp_path, calibration_path, capsys):
    calibration = load_channels(calibration_path)
    odd = tmp_path / "odd.tif"
    tifffile.imwrite(odd, np.full((3, 64, 127), 100, np.uint16), photometric="minisblack")
    parameters = LocalizeParameters(fit_method="mle-ratio", splitter="left-right", channels=calibration)
    with pytest.raises(Exception, match="127 px wide.*cannot cut into two equal halves"):
        validate_parameters(parameters, (3, 64, 127), "odd.tif")
    code = main(
        [
            "localize",
            str(odd),
            "--splitter",
            "left-right",
            "--channels",
            str(calibration_path),
            "--fit",
            "mle-ratio",
            "--no-db",
            "-q",
        ]
    )
    assert code != 0
    assert "cannot cut into two equal halves" in capsys.readouterr().err
    # a calibration of another camera size
    with pytest.raises(Exception, match=r"64x128 px camera frame, but the movie's frames are 64x256"):
        validate_parameters(parameters, (3, 64, 256), "big.tif")
    # overlapping colour windows
    assert main(["localize", str(odd), "--colour", "A:0:0.5", "B:0.4:1", "--no-db", "-q"]) != 0
    assert "overlap" in capsys.readouterr().err
    # flip or splitter disagreeing with the calibration; splitter without mle-ratio
    with pytest.raises(Exception, match="made with --splitter left-right"):
        validate_parameters(parameters.replace(splitter_flip=True), (3, 64, 128), "m.tif")
    with pytest.raises(Exception, match="use --fit mle-ratio"):
        validate_parameters(parameters.replace(fit_method="mle"), (3, 64, 128), "m.tif")
    # register: a file of another frame size
    locs = np.zeros(3, dtype=[("frame", "u4"), ("x", "f4"), ("y", "f4"), ("lpx", "f4"), ("lpy", "f4")])
    other = save_locs(tmp_path / "other_locs.hdf5", locs, [{"Width": 100, "Height": 64, "Frames": 3}])
    assert main(["register", str(other), "--channels", str(calibration_path)]) != 0
    assert "one channel of" in capsys.readouterr().err


def test_channel_calibration_file_errors(tmp_path):
    bad = tmp_path / "bad_channels.yaml"
    bad.write_text("map: {model: cubic}\n")
    with pytest.raises(Exception, match="model: affine or model: poly2"):
        load_channels(bad)
    good = save_channels(
        tmp_path / "good_channels.yaml",
        {"map": {"model": "affine", "matrix": [[1, 0, 2], [0, 1, 3]]}, "splitter": "top-bottom"}
        | {"camera_width": 64, "camera_height": 128},
    )
    assert load_channels(good)["splitter"] == "top-bottom"


def test_groups_yaml_and_cluster_blocks_take_the_splitter(two_colour, calibration_path, tmp_path):
    movie, _ = two_colour
    groups = tmp_path / "groups.yaml"
    groups.write_text(
        yaml.safe_dump(
            [
                {
                    "splitter": "left-right",
                    "channels": str(calibration_path),
                    "fit": "mle-ratio",
                    "gradient": 1500,
                    "pixelsize": PIXELSIZE_NM,
                    "colour": "A:0:0.475 B:0.475:1",
                }
            ]
        )
    )
    (parameters,) = load_groups(groups)
    assert parameters.splitter == "left-right" and parameters.channels["splitter"] == "left-right"
    serial = load_locs(movie.with_name("cells_locs.hdf5"), with_info=False)
    block = plan_blocks(0, N_FRAMES, 100)[1]
    try:
        rows = localize_block(str(movie), {}, block, parameters)
    finally:
        close_open_movies()
    in_block = (serial["frame"] >= block.start) & (serial["frame"] < block.stop)
    assert rows.tobytes() == serial[in_block].tobytes()


def test_top_bottom_with_a_mirrored_channel():
    optics = S.SplitterOptics(height=48, width=64)
    beads = S.splitter_movie(S.splitter_beads_truth(10, optics), 10, optics, splitter="top-bottom", flip=True)
    calibration, _ = calibrate_frames(beads, LocalizeParameters(), splitter="top-bottom", flip=True)
    assert calibration["rms_residual_nm"] <= 5.0 and (calibration["camera_height"], calibration["camera_width"]) == (
        96,
        64,
    )
    truth = S.splitter_truth(60, optics, n_sites=15, seed=5)
    movie = S.splitter_movie(truth, 60, optics, splitter="top-bottom", flip=True, seed=5)
    parameters = LocalizeParameters(
        min_net_gradient=1500,
        fit_method="mle-ratio",
        splitter="top-bottom",
        splitter_flip=True,
        channels=calibration,
        colours="A:0:0.475 B:0.475:1",
    )
    locs = localize(movie, parameters)
    li, ti = match_to_truth(locs, truth, radius_px=1.0)
    assert len(li) / (len(locs) + len(truth) - len(li)) >= 0.98
    assert np.mean(locs["colour"][li] == truth["dye"][ti]) >= 0.99
