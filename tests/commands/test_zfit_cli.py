"""calibrate-z and localize --fit mle-3d, end to end, as users run them."""

import numpy as np
import pytest
import yaml

from napari_picasso.cli import main
from napari_picasso.core.matching import match_to_truth
from napari_picasso.io.locs import load_locs
from napari_picasso.simulate import CameraModel, astigmatic_spots, bead_stack, write_movie

CAMERA = CameraModel(baseline=100.0, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)
CAMERA_ARGS = ["--baseline", "100", "--sensitivity", "0.5", "--box", "9"]


@pytest.fixture(scope="module")
def movies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zfit_cli")
    beads = bead_stack(20.0, 71, 48, 48, spacing_px=14, photons=20000, seed=1)
    beads_path = write_movie(folder / "beads.raw", beads, 71, 48, 48, bg_photons=50, camera=CAMERA, seed=1)
    cells = astigmatic_spots(30, 48, 48, spacing_px=12, photons=1500, seed=2)
    cells_path = write_movie(folder / "cells.tif", cells, 30, 48, 48, bg_photons=30, camera=CAMERA, seed=2)
    return beads_path, cells_path, cells


def test_calibrate_then_localize_3d(movies, capsys):
    beads_path, cells_path, truth = movies
    code = main(
        [
            "calibrate-z",
            str(beads_path),
            "--step-nm",
            "20",
            "--magnification",
            "0.79",
            "--gradient",
            "3000",
            "-q",
            *CAMERA_ARGS,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    calib_path = beads_path.with_name("beads_3d_calib.yaml")
    assert f"{calib_path}: 71 z steps" in out
    assert beads_path.with_name("beads_3d_calib.png").stat().st_size > 10_000
    calibration = yaml.safe_load(calib_path.read_text())
    assert len(calibration["X Coefficients"]) == 7 and calibration["Magnification factor"] == 0.79
    assert calibration["Step size in nm"] == 20.0 and calibration["Number of frames"] == 71

    code = main(
        [
            "localize",
            str(cells_path),
            "--fit",
            "mle-3d",
            "--zcalib",
            str(calib_path),
            "--gradient",
            "800",
            "-q",
            *CAMERA_ARGS,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    locs, info = load_locs(cells_path.with_name("cells_locs.hdf5"))
    assert locs.dtype.names[-3:] == ("z", "d_zcalib", "lpz")
    assert info[1]["Fit method"] == "mle-3d"
    assert info[1]["X Coefficients"] == calibration["X Coefficients"]
    assert info[1]["Calibration path"] == str(calib_path.resolve())
    li, ti = match_to_truth(locs, truth, 1.0)
    assert len(ti) > 0.98 * len(truth)
    error = locs["z"][li] - truth["z"][ti]
    assert np.sqrt(np.mean(error.astype(float) ** 2)) < 45  # nm; CRLB here is about 25 nm
    assert abs(np.mean(error)) < 10


def test_picasso_reads_our_calibration_and_agrees_on_z(movies, capsys):
    """Picasso's own z fit, on our calibration file and our localizations, gives our z."""
    pytest.importorskip("pandas")
    picasso_io = pytest.importorskip("picasso.io")
    picasso_zfit = pytest.importorskip("picasso.zfit")
    beads_path, cells_path, _ = movies
    calib_path = beads_path.with_name("beads_3d_calib.yaml")
    locs_path = cells_path.with_name("cells_locs.hdf5")
    if not locs_path.exists():  # run alone: make the outputs
        assert (
            main(
                [
                    "calibrate-z",
                    str(beads_path),
                    "--step-nm",
                    "20",
                    "--gradient",
                    "3000",
                    "-q",
                    "--no-plot",
                    *CAMERA_ARGS,
                ]
            )
            == 0
        )
        assert (
            main(
                [
                    "localize",
                    str(cells_path),
                    "--fit",
                    "mle-3d",
                    "--zcalib",
                    str(calib_path),
                    "--gradient",
                    "800",
                    "-q",
                    *CAMERA_ARGS,
                ]
            )
            == 0
        )
    calibration = picasso_io.load_calibration(str(calib_path))
    ours, info = picasso_io.load_locs(str(locs_path))
    theirs, _ = picasso_zfit.zfit(
        ours.drop(columns=["z", "d_zcalib", "lpz"]),
        info,
        calibration=calibration,
        fitting_method="gaussmle",
        filter=0,
        multiprocess=False,
    )
    np.testing.assert_allclose(theirs["z"].to_numpy(), ours["z"].to_numpy(), atol=0.01)
    np.testing.assert_allclose(theirs["d_zcalib"].to_numpy(), ours["d_zcalib"].to_numpy(), atol=1e-5)
    np.testing.assert_allclose(theirs["lpz"].to_numpy(), ours["lpz"].to_numpy(), rtol=1e-3)


def test_3d_fit_without_calibration_or_with_a_bad_one(movies, tmp_path, capsys):
    _, cells_path, _ = movies
    code = main(["localize", str(cells_path), "--fit", "lq-3d", "--out", str(tmp_path), "-q"])
    assert code == 1
    assert "needs a 3D calibration" in capsys.readouterr().err
    bad = tmp_path / "bad_3d_calib.yaml"
    bad.write_text("X Coefficients: [1, 2]\n")
    code = main(["localize", str(cells_path), "--fit", "mle-3d", "--zcalib", str(bad), "--out", str(tmp_path), "-q"])
    assert code == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "7 numbers" in err
    code = main(["calibrate-z", str(cells_path), "--step-nm", "0", "-q"])
    assert code == 1 and "--step-nm must be positive" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.hdf5*"))
