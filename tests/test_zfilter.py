"""3D options of the one pipeline: the d_zcalib filter and the magnification override.

Checked on simulated astigmatic movies with known z, part of them spoiled (emitters beyond
the calibrated range, overlapping pairs), through the pipeline, the YAML, the command line,
watcher groups and the distributed runner (identical to serial).
"""

import math

import numpy as np
import pytest
import tifffile
import yaml

from napari_picasso.cli import main
from napari_picasso.core import zfit
from napari_picasso.core.matching import match_to_truth
from napari_picasso.groups import load_groups, parameters_from_mapping
from napari_picasso.io.errors import InputFileError, ParameterError
from napari_picasso.io.locs import load_locs
from napari_picasso.io.zcalib import save_calibration
from napari_picasso.pipeline import LocalizeParameters, localize, localize_file, localize_frames
from napari_picasso.simulate import (
    AstigmaticPSF,
    CameraModel,
    astigmatic_outliers,
    astigmatic_spots,
    bead_stack,
    render_movie,
    write_movie,
)

PSF = AstigmaticPSF()
MAGNIFICATION = 0.79
CAMERA = CameraModel(baseline=100.0, sensitivity=1.0, em_gain=1.0, read_noise_e=0.0)
BOX = 9
# Good fits at 2000 photons have d_zcalib ~0.01 (95th percentile 0.03); off-curve ones 0.05-1.
MAX_D = 0.05
N_FRAMES, SIZE = 40, 64


@pytest.fixture(scope="module")
def calibration():
    truth = bead_stack(20.0, 71, 64, 64, spacing_px=14, photons=20000, psf=PSF, seed=1)
    movie = render_movie(truth, 71, 64, 64, bg_photons=50, camera=CAMERA, seed=1)
    locs = localize_frames(movie, LocalizeParameters(box=BOX, min_net_gradient=3000, baseline=100, sensitivity=1))
    calibration, _ = zfit.calibrate(locs["frame"], locs["sx"], locs["sy"], 71, 20.0, MAGNIFICATION)
    lo, hi = calibration[zfit.RANGE_KEY]
    assert lo < -550 and hi > 550  # stage nm: the scenes' +-400 nm sample (+-506 stage) lie inside
    return calibration


@pytest.fixture(scope="module")
def spoiled_scene():
    """(movie counts, emitters truth, spoiled kind per emitter): 1/8 beyond range, 1/8 in pairs."""
    truth = astigmatic_spots(
        N_FRAMES,
        SIZE,
        SIZE,
        spacing_px=12,
        photons=2000,
        z_range_nm=(-400, 400),
        psf=PSF,
        magnification=MAGNIFICATION,
        seed=2,
    )
    scene, spoiled, emitters = astigmatic_outliers(truth, psf=PSF, magnification=MAGNIFICATION, seed=2)
    movie = render_movie(scene, N_FRAMES, SIZE, SIZE, bg_photons=20, camera=CAMERA, seed=3)
    return movie, emitters, spoiled


def params_3d(calibration, **changes):
    return LocalizeParameters(
        box=BOX,
        min_net_gradient=400,
        fit_method="mle-3d",
        baseline=100,
        sensitivity=1,
        z_calibration=calibration,
        **changes,
    )


def z_rmse(locs, truth):
    li, ti = match_to_truth(locs, truth, 1.0)
    return math.sqrt(np.mean((locs["z"][li].astype(float) - truth["z"][ti]) ** 2))


# -- science ------------------------------------------------------------------------------
def test_filter_removes_off_curve_rows_and_improves_z(calibration, spoiled_scene):
    movie, emitters, spoiled = spoiled_scene
    everything = localize_frames(movie, params_3d(calibration))
    kept = localize_frames(movie, params_3d(calibration, max_d_zcalib=MAX_D))
    d = everything["d_zcalib"].astype(np.float64)
    # The rule, per localization: the kept rows are exactly the unfiltered rows within it.
    assert np.all(kept["d_zcalib"].astype(np.float64) <= MAX_D)
    assert kept.tobytes() == everything[d <= MAX_D].tobytes()
    # What it removes, by ground truth.
    li, ti = match_to_truth(everything, emitters, 1.0)
    assert len(ti) > 0.97 * len(emitters)
    removed = d[li] > MAX_D
    kind = spoiled[ti]
    fractions = [float(np.mean(removed[kind == k])) for k in range(3)]
    counts = {
        "localizations": len(everything),
        "kept": len(kept),
        "removed (clean, beyond range, pairs)": [int(np.sum(removed[kind == k])) for k in range(3)],
    }
    print(counts)
    assert fractions[0] < 0.02, counts  # clean emitters stay
    assert fractions[1] > 0.95, counts  # beyond the calibrated range: off the curve
    assert fractions[2] > 0.5, counts  # overlapping pairs: most are off the curve
    # z of the kept rows is much better, close to the clean emitters' alone.
    rmse_all, rmse_kept = z_rmse(everything, emitters), z_rmse(kept, emitters)
    clean = emitters[spoiled == 0]
    rmse_clean = z_rmse(everything[match_to_truth(everything, clean, 1.0)[0]], clean)
    print(f"z RMSE: all {rmse_all:.1f} nm, kept {rmse_kept:.1f} nm, clean emitters {rmse_clean:.1f} nm")
    assert rmse_kept < 0.35 * rmse_all
    assert rmse_kept < 2.5 * rmse_clean


def test_picasso_rule_through_the_absolute_threshold(calibration, spoiled_scene):
    """Twice the rms d_zcalib of an unfiltered run keeps what Picasso's filter (factor 2) keeps."""
    movie, _, _ = spoiled_scene
    everything = localize_frames(movie, params_3d(calibration))
    d = everything["d_zcalib"].astype(np.float64)
    threshold = 2 * math.sqrt(np.mean(d * d))
    kept = localize_frames(movie, params_3d(calibration, max_d_zcalib=threshold))
    picasso = zfit.filter_z(everything, 2.0)
    assert 0 < len(everything) - len(kept) < 0.2 * len(everything)
    assert kept.tobytes() == picasso.tobytes()


def test_filter_is_the_same_in_any_chunking(calibration, spoiled_scene):
    movie, _, _ = spoiled_scene
    params = params_3d(calibration, max_d_zcalib=MAX_D)
    whole = localize_frames(movie, params)
    assert len(whole) < len(localize_frames(movie, params_3d(calibration)))
    for chunk_frames in (1, 7):
        assert localize(movie, params, chunk_frames=chunk_frames).tobytes() == whole.tobytes()


def test_magnification_override_scales_z_to_the_true_depths(calibration):
    """A sample imaged with a refractive-index factor of 0.6, with a calibration that says 0.79."""
    true_factor = 0.6
    truth = astigmatic_spots(
        15, SIZE, SIZE, spacing_px=12, photons=2000, z_range_nm=(-300, 300), psf=PSF, magnification=true_factor, seed=4
    )
    movie = render_movie(truth, 15, SIZE, SIZE, bg_photons=20, camera=CAMERA, seed=4)
    default = localize_frames(movie, params_3d(calibration))
    override = localize_frames(movie, params_3d(calibration, z_magnification=true_factor))
    # Same fits, z and lpz scaled by the factors' ratio, d_zcalib untouched.
    assert len(default) == len(override) > 0.97 * len(truth)
    np.testing.assert_array_equal(default["x"], override["x"])
    np.testing.assert_array_equal(default["d_zcalib"], override["d_zcalib"])
    ratio = true_factor / MAGNIFICATION
    np.testing.assert_allclose(override["z"], default["z"] * ratio, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(override["lpz"], default["lpz"] * ratio, rtol=1e-5)
    # Against ground truth: the override gets the depths, the calibration's factor overstates them.
    li, ti = match_to_truth(override, truth, 1.0)
    z_true = truth["z"][ti].astype(float)
    slope_override = np.polyfit(z_true, override["z"][li].astype(float), 1)[0]
    slope_default = np.polyfit(z_true, default["z"][li].astype(float), 1)[0]
    assert abs(slope_override - 1) < 0.03
    assert abs(slope_default - MAGNIFICATION / true_factor) < 0.04
    assert z_rmse(override, truth) < 30 < z_rmse(default, truth)


# -- parameters, YAML ---------------------------------------------------------------------
def test_yaml_round_trip(calibration, spoiled_scene, tmp_path):
    movie, _, _ = spoiled_scene
    path = tmp_path / "spoiled.tif"
    tifffile.imwrite(path, movie.astype(np.uint16))
    params = params_3d(calibration, max_d_zcalib=MAX_D, z_magnification=0.7)
    result = localize_file(path, params)
    locs, info = load_locs(result.locs_path)
    doc = info[1]
    assert doc["Max. d_zcalib"] == MAX_D
    assert doc["Magnification factor"] == 0.7  # the applied one, as Picasso records an override
    assert doc["Calibration magnification factor"] == MAGNIFICATION
    assert doc["X Coefficients"] == list(calibration["X Coefficients"])
    assert info[-1]["Localizations"] == len(locs) > 0
    assert np.all(locs["d_zcalib"] <= MAX_D)
    back = LocalizeParameters.from_info(doc)
    assert back.max_d_zcalib == MAX_D and back.z_magnification == 0.7
    assert back.z_calibration["Magnification factor"] == MAGNIFICATION
    # Nothing lost or changed (the count is added when the file is complete).
    assert back.to_info() == {k: v for k, v in doc.items() if k != "Localizations"}
    # Off: recorded as off, read back as off; the calibration's factor applies.
    plain = LocalizeParameters.from_info(params_3d(calibration).to_info())
    assert plain.max_d_zcalib is None and plain.z_magnification is None
    assert params_3d(calibration).to_info()["Magnification factor"] == MAGNIFICATION
    # 2D documents do not mention the 3D options.
    assert "Max. d_zcalib" not in LocalizeParameters().to_info()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"fit_method": "mle", "max_d_zcalib": 0.05}, "applies to the mle-3d and lq-3d fit methods only"),
        ({"fit_method": "lq", "z_magnification": 0.6}, "applies to the mle-3d and lq-3d fit methods only"),
        ({"max_d_zcalib": 0.0}, "must be a number > 0"),
        ({"max_d_zcalib": -1.0}, "must be a number > 0"),
        ({"max_d_zcalib": float("nan")}, "must be a number > 0"),
        ({"z_magnification": 0.0}, "must be a number > 0"),
        ({"z_magnification": float("inf")}, "must be a number > 0"),
    ],
)
def test_bad_values_are_parameter_errors(calibration, spoiled_scene, changes, message):
    movie, _, _ = spoiled_scene
    params = params_3d(calibration).replace(**changes)
    if not params.fit_method.endswith("-3d"):
        params = params.replace(z_calibration=None)
    with pytest.raises(ParameterError, match=message):
        localize(movie[:2], params)


# -- command line, watcher groups ---------------------------------------------------------
@pytest.fixture(scope="module")
def files(calibration, tmp_path_factory):
    folder = tmp_path_factory.mktemp("zfilter_cli")
    calib_path = save_calibration(folder / "beads_3d_calib.yaml", {**calibration, "Path": "beads.tif"})
    truth = astigmatic_spots(
        N_FRAMES, SIZE, SIZE, spacing_px=12, photons=2000, psf=PSF, magnification=MAGNIFICATION, seed=2
    )
    scene, _, emitters = astigmatic_outliers(truth, psf=PSF, magnification=MAGNIFICATION, seed=2)
    movie_path = write_movie(folder / "spoiled.raw", scene, N_FRAMES, SIZE, SIZE, bg_photons=20, camera=CAMERA, seed=3)
    return movie_path, calib_path, emitters


CLI_ARGS = ["--fit", "mle-3d", "--box", str(BOX), "--gradient", "400", "--baseline", "100", "--sensitivity", "1", "-q"]


def test_cli_round_trip(files, tmp_path, capsys):
    movie_path, calib_path, emitters = files
    assert (
        main(["localize", str(movie_path), "--zcalib", str(calib_path), "--out", str(tmp_path / "all"), *CLI_ARGS]) == 0
    )
    out, _ = capsys.readouterr()
    everything, _ = load_locs(tmp_path / "all" / "spoiled_locs.hdf5")
    d = everything["d_zcalib"].astype(np.float64)
    assert f"rms d_zcalib {math.sqrt(np.mean(d * d)):.4f}" in out  # what users set the threshold from
    assert (
        main(
            [
                "localize",
                str(movie_path),
                "--zcalib",
                str(calib_path),
                "--out",
                str(tmp_path / "kept"),
                "--max-d-zcalib",
                str(MAX_D),
                "--magnification",
                "0.6",
                *CLI_ARGS,
            ]
        )
        == 0
    )
    kept, info = load_locs(tmp_path / "kept" / "spoiled_locs.hdf5")
    doc = info[1]
    assert doc["Max. d_zcalib"] == MAX_D and doc["Magnification factor"] == 0.6
    assert doc["Calibration magnification factor"] == MAGNIFICATION
    assert len(kept) == int(np.sum(d <= MAX_D)) < len(everything)
    np.testing.assert_allclose(kept["z"], everything["z"][d <= MAX_D] * 0.6 / MAGNIFICATION, rtol=1e-5, atol=1e-3)
    assert LocalizeParameters.from_info(doc).max_d_zcalib == MAX_D


def test_cli_refuses_the_filter_on_a_2d_fit(files, tmp_path, capsys):
    movie_path, _, _ = files
    code = main(["localize", str(movie_path), "--out", str(tmp_path), "--max-d-zcalib", "0.05", "-q"])
    _, err = capsys.readouterr()
    assert code == 1 and "applies to the mle-3d and lq-3d fit methods only" in err and "mle-3d" in err
    assert not list(tmp_path.glob("*locs*"))
    with pytest.raises(SystemExit):  # argparse refuses a non-number
        main(["localize", str(movie_path), "--max-d-zcalib", "many"])


def test_watcher_groups_take_the_options(files, tmp_path):
    _, calib_path, _ = files
    params = parameters_from_mapping(
        {"fit": "mle-3d", "zcalib": str(calib_path), "max-d-zcalib": MAX_D, "magnification": 0.6}
    )
    assert params.max_d_zcalib == MAX_D and params.z_magnification == 0.6
    assert params.z_calibration["Magnification factor"] == MAGNIFICATION
    groups = tmp_path / "groups.yaml"
    groups.write_text(
        yaml.safe_dump([{"fit": "lq-3d", "zcalib": str(calib_path), "max_d_zcalib": 0.1}, {"fit": "mle"}])
    )
    first, second = load_groups(groups)
    assert first.max_d_zcalib == 0.1 and first.z_magnification is None and second.max_d_zcalib is None
    groups.write_text(yaml.safe_dump([{"fit": "mle-3d", "zcalib": str(calib_path), "max_d_zcalib": "tight"}]))
    with pytest.raises(InputFileError, match="group 1.*max-d-zcalib"):
        load_groups(groups)


def test_watcher_localizes_with_the_groups_options(files, tmp_path):
    """A real watcher run on a groups.yaml with the 3D options writes what localize writes."""
    import shutil
    import time

    from napari_picasso.watcher import Watcher

    movie_path, calib_path, _ = files
    folder = tmp_path / "incoming"
    folder.mkdir()
    groups = tmp_path / "groups.yaml"
    groups.write_text(
        yaml.safe_dump(
            [
                {
                    "fit": "mle-3d",
                    "zcalib": str(calib_path),
                    "max-d-zcalib": MAX_D,
                    "magnification": 0.6,
                    "box": BOX,
                    "gradient": 400,
                    "baseline": 100,
                    "sensitivity": 1,
                }
            ]
        )
    )
    (params,) = load_groups(groups)
    watcher = Watcher(
        [folder], [params], settle_seconds=0.2, db_path=tmp_path / "db.sqlite", log_path=tmp_path / "watcher.log"
    )
    watcher.start()
    try:
        for source in (movie_path, movie_path.with_suffix(".yaml")):
            shutil.copy(source, folder / source.name)
        output = folder / "spoiled_locs.hdf5"
        deadline = time.monotonic() + 60
        while not output.with_suffix(".yaml").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        watcher.stop(timeout=30)
    locs, info = load_locs(output)
    expected = localize(str(movie_path), params)
    assert len(locs) > 0 and locs.tobytes() == expected.tobytes()
    assert np.all(locs["d_zcalib"] <= MAX_D)
    assert info[1]["Max. d_zcalib"] == MAX_D and info[1]["Magnification factor"] == 0.6


def test_calibrate_z_keeps_its_magnification_option(tmp_path, capsys):
    beads = bead_stack(20.0, 71, 48, 48, spacing_px=14, photons=20000, psf=PSF, seed=1)
    path = write_movie(tmp_path / "beads.raw", beads, 71, 48, 48, bg_photons=50, camera=CAMERA, seed=1)
    assert (
        main(
            [
                "calibrate-z",
                str(path),
                "--step-nm",
                "20",
                "--magnification",
                "0.7",
                "--gradient",
                "3000",
                "--box",
                str(BOX),
                "--baseline",
                "100",
                "--sensitivity",
                "1",
                "--no-plot",
                "-q",
            ]
        )
        == 0
    )
    assert yaml.safe_load(path.with_name("beads_3d_calib.yaml").read_text())["Magnification factor"] == 0.7
    assert (
        main(
            [
                "calibrate-z",
                str(path),
                "--step-nm",
                "20",
                "--gradient",
                "3000",
                "--box",
                str(BOX),
                "--baseline",
                "100",
                "--sensitivity",
                "1",
                "--no-plot",
                "-q",
            ]
        )
        == 0
    )
    assert yaml.safe_load(path.with_name("beads_3d_calib.yaml").read_text())["Magnification factor"] == MAGNIFICATION
    capsys.readouterr()


# -- distributed --------------------------------------------------------------------------
def test_distributed_two_workers_identical_to_serial_with_the_filter(files, tmp_path):
    distributed = pytest.importorskip("distributed")
    from napari_picasso.distributed import localize_file_distributed, start_local_cluster
    from napari_picasso.distributed.cluster import close_cluster

    movie_path, calib_path, _ = files
    from napari_picasso.io.zcalib import load_calibration

    params = params_3d(load_calibration(calib_path), max_d_zcalib=MAX_D, z_magnification=0.7)
    serial = localize_file(movie_path, params, tmp_path / "serial_locs.hdf5")
    unfiltered = localize_file(movie_path, params.replace(max_d_zcalib=None), tmp_path / "all_locs.hdf5")
    assert 0 < serial.n_locs < unfiltered.n_locs
    cluster = start_local_cluster(workers=2, threads_per_worker=1)
    try:
        with distributed.Client(cluster) as client:
            client.wait_for_workers(2, timeout=60)
            with distributed.get_task_stream(client) as stream:
                result = localize_file_distributed(
                    movie_path, params, tmp_path / "dist_locs.hdf5", client=client, block_frames=7
                )
            workers = {task["worker"] for task in stream.data if "napari-picasso-block" in str(task["key"])}
            assert len(workers) == 2  # the blocks really ran on both workers
    finally:
        close_cluster(cluster)
    locs, info = load_locs(result.locs_path)
    serial_locs, serial_info = load_locs(serial.locs_path)
    assert locs.dtype == serial_locs.dtype and locs.tobytes() == serial_locs.tobytes()
    assert info == serial_info and info[1]["Max. d_zcalib"] == MAX_D
