"""sCMOS camera model: per-pixel maps (files, calibration command) and the sCMOS MLE."""

import h5py
import numpy as np
import pytest
import tifffile
import yaml

from napari_picasso.cli import main
from napari_picasso.core.gaussfit import fit_mle
from napari_picasso.core.matching import detection_scores
from napari_picasso.core.spots import extract_spots_per_pixel, map_windows
from napari_picasso.io.camera_maps import load_camera_maps, save_camera_maps
from napari_picasso.io.errors import InputFileError
from napari_picasso.io.locs import load_locs
from napari_picasso.pipeline import LocalizeParameters, localize
from napari_picasso.simulate import isolated_spots, render_movie, scmos_camera, write_movie


@pytest.fixture(scope="module")
def scmos_spots():
    """Isolated dim spots on an sCMOS chip with 3% hot pixels, cut at the true pixel."""
    height = width = 96
    n_frames = 30
    camera = scmos_camera(height, width, hot_fraction=0.03, seed=3)
    truth = isolated_spots(n_frames, height, width, spacing_px=12, photons=500, sigma_px=1.0, seed=3)
    movie = render_movie(truth, n_frames, height, width, bg_photons=5.0, camera=camera, seed=3)
    ys = np.rint(truth["y"]).astype(np.int32)
    xs = np.rint(truth["x"]).astype(np.int32)
    ppc = 1.0 / camera.gain_map
    spots = extract_spots_per_pixel(movie, truth["frame"].astype(np.int64), ys, xs, 7, camera.offset_map, ppc)
    variance = map_windows(camera.variance_map * ppc**2, ys, xs, 7)
    return spots, variance, truth, ys, xs, camera


def lateral_errors(fit, truth, ys, xs):
    return xs + fit["x"] - truth["x"], ys + fit["y"] - truth["y"]


def test_scmos_mle_reaches_its_crlb_and_beats_the_plain_mle(scmos_spots):
    spots, variance, truth, ys, xs, camera = scmos_spots
    scmos = fit_mle(spots, extra_variance=variance)
    plain = fit_mle(spots)
    dx_s, dy_s = lateral_errors(scmos, truth, ys, xs)
    dx_p, dy_p = lateral_errors(plain, truth, ys, xs)
    rmse_s = np.sqrt(np.mean(np.r_[dx_s, dy_s] ** 2))
    rmse_p = np.sqrt(np.mean(np.r_[dx_p, dy_p] ** 2))
    crlb_s = np.sqrt(np.mean(np.r_[scmos["crlb_x"], scmos["crlb_y"]]))
    assert len(spots) > 1000
    assert abs(rmse_s / crlb_s - 1) < 0.10
    assert rmse_s < 0.93 * rmse_p
    # Where a hot pixel sits next to the spot's centre the gain is largest.
    hot = map_windows((camera.variance_map > 100).astype(np.float32), ys, xs, 7)[:, 2:5, 2:5].sum(axis=(1, 2)) > 0
    rmse_hot_s = np.sqrt(np.mean(np.r_[dx_s[hot], dy_s[hot]] ** 2))
    rmse_hot_p = np.sqrt(np.mean(np.r_[dx_p[hot], dy_p[hot]] ** 2))
    assert rmse_hot_s < 0.88 * rmse_hot_p


def test_zero_extra_variance_is_the_plain_fit(scmos_spots):
    spots = scmos_spots[0][:200]
    a = fit_mle(spots)
    b = fit_mle(spots, extra_variance=np.zeros_like(spots))
    np.testing.assert_allclose(a["x"], b["x"], atol=1e-9)
    np.testing.assert_allclose(a["crlb_x"], b["crlb_x"], rtol=1e-9)


def test_extra_variance_rejects_bad_arrays(scmos_spots):
    spots = scmos_spots[0][:5]
    with pytest.raises(ValueError, match="shaped like"):
        fit_mle(spots, extra_variance=np.ones((5, 5, 5)))
    bad = np.ones_like(spots)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-negative"):
        fit_mle(spots, extra_variance=bad)


# -- map files ------------------------------------------------------------------------
def picasso_layout(path, offset, variance, gain=None):
    """An HDF5 file laid out as Picasso 0.11 saves a camera calibration."""
    with h5py.File(path, "w") as f:
        f.create_dataset("offset", data=offset.astype(np.float32))
        f.create_dataset("variance", data=variance.astype(np.float32))
        if gain is not None:
            f.create_dataset("gain", data=gain.astype(np.float32))
        f.attrs["metadata"] = '{"Dark frames": 1000}'


@pytest.mark.parametrize("suffix", [".hdf5", ".npz", ".npy", ".tif"])
def test_maps_load_from_every_format(tmp_path, suffix):
    camera = scmos_camera(20, 30, seed=1)
    path = tmp_path / f"maps{suffix}"
    stack = np.stack([camera.offset_map, camera.variance_map, camera.gain_map])
    if suffix == ".hdf5":
        picasso_layout(path, *stack)
    elif suffix == ".npz":
        np.savez(path, offset=stack[0], variance=stack[1], gain=stack[2])
    elif suffix == ".npy":
        np.save(path, stack)
    else:
        tifffile.imwrite(path, stack, photometric="minisblack")
    maps = load_camera_maps(path)
    np.testing.assert_array_equal(maps.offset, camera.offset_map)
    np.testing.assert_array_equal(maps.variance, camera.variance_map)
    np.testing.assert_array_equal(maps.gain, camera.gain_map)
    if suffix == ".hdf5":
        assert maps.metadata == {"Dark frames": 1000}


def test_camera_calibrate_command_recovers_the_maps(tmp_path, capsys):
    camera = scmos_camera(24, 32, seed=2)
    dark = np.zeros(0, dtype=isolated_spots(1, 8, 8).dtype)
    movie_path = write_movie(
        tmp_path / "dark.tif", dark, 600, 24, 32, bg_photons=0.0, camera=camera, seed=2, chunk_frames=100
    )
    assert main(["camera-calibrate", str(movie_path), "--quiet"]) == 0
    out = tmp_path / "dark_scmos_calib.hdf5"
    assert "variance median" in capsys.readouterr().out
    with h5py.File(out) as f:  # Picasso's layout
        assert set(f) == {"offset", "variance"} and "metadata" in f.attrs
    maps = load_camera_maps(out)
    assert np.abs(maps.offset - camera.offset_map).max() < 0.5 + 4 * np.sqrt(camera.variance_map.max() / 600)
    ratio = maps.variance / camera.variance_map
    # Rounding to integer counts adds 1/12 count^2; 600 frames give ~6% relative error.
    assert 0.8 < np.median(ratio) < 1.2
    hot = camera.variance_map > 100
    assert np.all(maps.variance[hot] > 50)


@pytest.mark.parametrize(
    "problem, match",
    [("shape", "maps are 20x30"), ("nan", "NaN"), ("negative", "negative"), ("missing", "no variance")],
)
def test_bad_maps_give_clear_errors(tmp_path, problem, match):
    movie = np.full((5, 24, 32), 100, np.uint16)
    offset = np.full((24, 32), 100.0)
    variance = np.full((24, 32), 4.0)
    if problem == "shape":
        offset, variance = offset[:20, :30], variance[:20, :30]
    elif problem == "nan":
        variance[3, 4] = np.nan
    elif problem == "negative":
        variance[5, 6] = -1.0
    path = tmp_path / "maps.hdf5"
    if problem == "missing":
        with h5py.File(path, "w") as f:
            f.create_dataset("offset", data=offset)
    else:
        save_camera_maps(path, offset, variance)
    with pytest.raises(InputFileError, match=match) as info:
        localize(movie, LocalizeParameters(camera_maps=str(path)))
    assert str(path) in str(info.value)


@pytest.mark.parametrize("bad, suffix", [(0.0, ".hdf5"), (-0.5, ".npy"), (np.inf, ".tif"), (np.nan, ".npz")])
def test_bad_gain_map_is_refused_naming_the_file_and_pixel(tmp_path, capsys, bad, suffix):
    movie_path = tmp_path / "movie.tif"
    tifffile.imwrite(movie_path, np.full((5, 24, 32), 100, np.uint16))
    offset, variance, gain = np.full((24, 32), 100.0), np.full((24, 32), 4.0), np.full((24, 32), 2.0)
    gain[3, 4] = bad
    maps_path = tmp_path / f"gain{suffix}"
    if suffix == ".hdf5":
        save_camera_maps(maps_path, offset, variance, gain)
    elif suffix == ".npy":
        np.save(maps_path, np.stack([offset, variance, gain]))
    elif suffix == ".tif":
        tifffile.imwrite(maps_path, np.stack([offset, variance, gain]).astype(np.float32), photometric="minisblack")
    else:
        np.savez(maps_path, offset=offset, variance=variance, gain=gain)
    code = main(["localize", str(movie_path), "-q", "--camera-maps", str(maps_path)])
    error = capsys.readouterr().err
    assert code == 1 and "Traceback" not in error
    assert str(maps_path) in error and "gain map" in error and "y=3, x=4" in error
    # A dark movie (camera-calibrate) gives no gain: the fix must not send the user there.
    assert "bright" in error and "camera-calibrate" not in error
    assert not list(tmp_path.glob("movie_locs*"))


def test_picasso_camera_calibration_round_trip(tmp_path):
    """Picasso 0.11's sCMOS calibration files and ours read each other, maps and metadata."""
    picasso_io = pytest.importorskip("picasso.io", reason="picassosr not installed")
    camera = scmos_camera(20, 30, seed=5)
    calibration = {
        "offset": camera.offset_map,
        "variance": camera.variance_map,
        "gain": camera.gain_map,
        "Frames": 20000,
        "Generated by": "Picasso sCMOS Calibration",
        "Height": 20,
        "Width": 30,
    }
    theirs = tmp_path / "theirs_scmos_calib.hdf5"
    picasso_io.save_camera_calibration(str(theirs), calibration)
    maps = load_camera_maps(theirs)
    for name in ("offset", "variance", "gain"):
        np.testing.assert_array_equal(getattr(maps, name), calibration[name].astype(np.float32))
    assert maps.metadata["Frames"] == 20000 and maps.metadata["Generated by"] == "Picasso sCMOS Calibration"
    ours = save_camera_maps(tmp_path / "ours_scmos_calib.hdf5", maps.offset, maps.variance, maps.gain, maps.metadata)
    back = picasso_io.load_camera_calibration(str(ours))
    for name in ("offset", "variance", "gain"):
        np.testing.assert_array_equal(back[name], calibration[name].astype(np.float32))
    assert back["Frames"] == 20000 and back["Height"] == 20
    # Without a bright series Picasso stores no gain; we then use the scalar sensitivity.
    del calibration["gain"]
    picasso_io.save_camera_calibration(str(theirs), calibration)
    dark_only = load_camera_maps(theirs)
    assert dark_only.gain is None
    np.testing.assert_allclose(dark_only.photons_per_count(sensitivity=0.5), 0.5)


def test_bad_stack_and_missing_file(tmp_path):
    path = tmp_path / "one.npy"
    np.save(path, np.zeros((24, 32)))
    with pytest.raises(InputFileError, match="stack of 2 or 3"):
        load_camera_maps(path)
    with pytest.raises(InputFileError, match="not found"):
        load_camera_maps(tmp_path / "absent.hdf5")


# -- pipeline -------------------------------------------------------------------------
def test_pipeline_with_camera_maps_from_the_command_line(tmp_path):
    height = width = 72
    camera = scmos_camera(height, width, hot_fraction=0.03, seed=4)
    truth = isolated_spots(20, height, width, spacing_px=12, photons=800, sigma_px=1.0, seed=4)
    movie_path = write_movie(tmp_path / "scmos.tif", truth, 20, height, width, bg_photons=5.0, camera=camera, seed=4)
    maps_path = save_camera_maps(tmp_path / "cam.hdf5", camera.offset_map, camera.variance_map, camera.gain_map)
    code = main(
        [
            "localize",
            str(movie_path),
            "--quiet",
            "--detector",
            "snr",
            "--snr-threshold",
            "1",
            "--camera-maps",
            str(maps_path),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    locs, info = load_locs(tmp_path / "out" / "scmos_locs.hdf5")
    scores = detection_scores(locs, truth)
    assert scores["recall"] >= 0.98 and scores["precision"] >= 0.98
    # Photons converted pixel by pixel with the gain map: the total is right.
    assert abs(np.median(locs["photons"][scores["locs_index"]]) / 800 - 1) < 0.05
    doc = yaml.safe_load_all(open(tmp_path / "out" / "scmos_locs.yaml"))
    localization = [d for d in doc if "Detector" in d][0]
    assert localization["Detector"] == "snr" and localization["Camera maps"] == str(maps_path)
    assert LocalizeParameters.from_info(localization).camera_maps == str(maps_path)
    # Without maps (scalar baseline and sensitivity of the same chip) the fit is worse.
    plain = localize(str(movie_path), LocalizeParameters(detector="snr", baseline=100.0, sensitivity=0.5))
    plain_scores = detection_scores(plain, truth)
    assert scores["rmse_x_px"] < plain_scores["rmse_x_px"]
