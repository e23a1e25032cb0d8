"""``calibrate-psf`` on a simulated pupil-PSF bead stack, spline fits through the pipeline,
Picasso 0.11's file format both ways, and bad input."""

import numpy as np
import pytest
import tifffile

from napari_picasso.cli import main
from napari_picasso.core.matching import match_to_truth
from napari_picasso.io.errors import ParameterError
from napari_picasso.io.psf_calib import load_psf_calibration
from napari_picasso.pipeline import LocalizeParameters, localize_frames
from napari_picasso.simulate import CameraModel, PupilPSF, pupil_bead_stack, pupil_spots, render_movie, write_movie

BOX = 11
PIXEL_NM = 110.0
CAMERA = CameraModel(baseline=100, sensitivity=1.0, read_noise_e=1.0)


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    """``calibrate-psf`` on 4 beads, +-400 nm in 25 nm steps; returns the calibration path."""
    folder = tmp_path_factory.mktemp("psf")
    beads = pupil_bead_stack(step_nm=25.0, range_nm=400.0, height=48, width=48, photons=100000.0, seed=3)
    n_steps = int(beads["frame"].max()) + 1
    movie = write_movie(
        folder / "beads.tif", beads, n_steps, 48, 48, 20.0, CAMERA, 3, pixelsize_nm=PIXEL_NM, psf=PupilPSF()
    )
    code = main(
        [
            "calibrate-psf",
            str(movie),
            "--step-nm",
            "25",
            "--box",
            str(BOX),
            "--gradient",
            "2000",
            "--baseline",
            "100",
            "--sensitivity",
            "1",
            "--gain",
            "1",
            "--pixelsize",
            str(PIXEL_NM),
        ]
    )
    assert code == 0
    return folder / "beads_spline_calib.hdf5"


def test_calibration_file_and_plot(calibration):
    assert calibration.with_suffix(".png").stat().st_size > 10_000
    loaded = load_psf_calibration(calibration)
    assert loaded["model"] == "spline-3d" and loaded["n_beads"] == 4
    assert loaded["coefficients"].dtype == np.float32
    assert loaded["box"] == BOX and loaded["n_data"] == [BOX + 4, BOX + 4, 33]  # a 2-px wider template
    assert loaded["coefficients"].shape == (64, BOX + 3, BOX + 3, 32)
    io = pytest.importorskip("picasso.io")
    theirs = io.load_spline_calibration(str(calibration))
    assert np.array_equal(theirs["coefficients"], loaded["coefficients"])
    assert theirs["z_step_nm"] == 25.0 and theirs["box"] == BOX


def test_spline_mle_through_the_pipeline(calibration):
    truth = pupil_spots(8, 64, 64, spacing_px=16, photons=3000.0, z_range_nm=(-300.0, 300.0), seed=4)
    movie = render_movie(truth, 8, 64, 64, 20.0, CAMERA, 4, psf=PupilPSF())
    params = LocalizeParameters(
        box=BOX, min_net_gradient=400, baseline=100, pixelsize_nm=PIXEL_NM, fit_method="spline-mle"
    ).replace(psf=str(calibration))
    locs = localize_frames(movie, params)
    li, ti = match_to_truth(locs, truth, 2.0)
    assert len(li) == len(truth) == len(locs)
    error = locs["z"][li] - truth["z"][ti]
    assert np.sqrt(np.mean(error**2)) < 2.0 * np.sqrt(np.mean(locs["lpz"][li] ** 2)) + 5
    assert np.all(locs["lpz"] > 0) and np.all(locs["lpx"] > 0)
    flat = localize_frames(movie, params.replace(fit_method="spline-2d"))
    assert "z" not in flat.dtype.names and len(flat) == len(locs)


def test_picasso_fits_our_calibration_alike(calibration):
    localize = pytest.importorskip("picasso.localize")
    io = pytest.importorskip("picasso.io")
    import pandas as pd

    from napari_picasso.core import psf_spline
    from napari_picasso.fitters.spline import psf_model, z_nm

    rng = np.random.default_rng(5)
    n = 40
    z = rng.uniform(-300, 300, n)
    spots = rng.poisson(PupilPSF().images(*rng.uniform(-0.4, 0.4, (2, n)), z, BOX) * 3000 + 20).astype(np.float32)
    model = psf_model(calibration)
    ours = psf_spline.fit_spline(
        spots, model["coeff"], photon_scale=model["photon_scale"], z_focus=model["z_focus"], knots=model["knots"]
    )
    theirs = io.load_spline_calibration(str(calibration))
    theta = localize.fit_spots_spline(spots, theirs, mle=True, use_gpu=False)
    ids = pd.DataFrame({"frame": np.zeros(n, int), "x": np.full(n, 20), "y": np.full(n, 20), "net_gradient": 1.0})
    plocs = localize.locs_from_fits_spline(ids, theta, BOX, False, theirs, mle=True)
    assert np.percentile(np.abs(z_nm(model, ours["z"]) - plocs["z"].to_numpy()), 90) < 1.0


def test_stack_without_beads(tmp_path, capsys):
    path = tmp_path / "empty.tif"
    tifffile.imwrite(path, np.random.default_rng(0).poisson(120, (20, 48, 48)).astype(np.uint16))
    assert main(["calibrate-psf", str(path), "--step-nm", "25", "--box", str(BOX), "--gradient", "2000"]) == 1
    err = capsys.readouterr().err
    assert "no beads found" in err and "--gradient" in err


def test_too_few_steps_for_the_box(tmp_path, capsys):
    path = tmp_path / "short.tif"
    tifffile.imwrite(path, np.full((6, 48, 48), 100, np.uint16))
    assert main(["calibrate-psf", str(path), "--step-nm", "25", "--box", str(BOX)]) == 1
    err = capsys.readouterr().err
    assert "too few" in err and "--box" in err


def test_calibration_of_another_box_or_pixel_size(calibration):
    params = LocalizeParameters(box=BOX, pixelsize_nm=PIXEL_NM, fit_method="spline-mle").replace(psf=str(calibration))
    fitter_check = params.replace(box=BOX + 2)
    from napari_picasso.parameters import fitter_of

    with pytest.raises(ParameterError, match=f"set --box {BOX}"):
        fitter_of(fitter_check).check(fitter_check)
    other = params.replace(pixelsize_nm=130.0)
    with pytest.raises(ParameterError, match="--pixelsize 110"):
        fitter_of(other).check(other)
    missing = params.replace(psf=None)
    with pytest.raises(ParameterError, match="calibrate-psf"):
        fitter_of(missing).check(missing)
