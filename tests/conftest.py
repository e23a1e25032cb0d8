"""Shared fixtures: the shared sample-data folder and simulated movies with ground truth."""

import os
from pathlib import Path

import pytest

from napari_picasso.simulate import (
    CameraModel,
    blinking_sites,
    isolated_spots,
    suggested_min_net_gradient,
    write_movie,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NAPARI_PICASSO_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data():
    """``../shared/data`` beside the project (tests that need it skip where it is absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared sample data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def camera():
    """A conventional camera: offset 100 counts, 0.5 e-/count, no EM gain, 1.5 e- read noise."""
    return CameraModel(baseline=100.0, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)


@pytest.fixture(scope="session")
def blinking_movie(tmp_path_factory, camera):
    """A 64x64x300 blinking .raw movie with its ground truth: (path, truth, camera)."""
    folder = tmp_path_factory.mktemp("blinking")
    truth = blinking_sites(
        300, 64, 64, n_sites=40, photons=1500, mean_on_frames=3, mean_off_frames=30, min_distance_px=9, seed=1
    )
    path = write_movie(folder / "blinking.raw", truth, 300, 64, 64, bg_photons=50, camera=camera, seed=1)
    return path, truth, camera


@pytest.fixture(scope="session")
def isolated_movie(tmp_path_factory, camera):
    """A 96x96x40 .tif movie of isolated spots (1500 photons, sigma 1 px, bg 50/px)."""
    folder = tmp_path_factory.mktemp("isolated")
    truth = isolated_spots(40, 96, 96, spacing_px=12, photons=1500, sigma_px=1.0, seed=2)
    path = write_movie(folder / "isolated.tif", truth, 40, 96, 96, bg_photons=50, camera=camera, seed=2)
    return path, truth, camera


# Kept for tests that imported it from here.
gradient_for = suggested_min_net_gradient


@pytest.fixture(scope="session", autouse=True)
def private_database(tmp_path_factory):
    """Point ``NAPARI_PICASSO_DB`` at a temporary file: no test writes to ~/.picasso."""
    path = tmp_path_factory.mktemp("database") / "napari_picasso.db"
    previous = os.environ.get("NAPARI_PICASSO_DB")
    os.environ["NAPARI_PICASSO_DB"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("NAPARI_PICASSO_DB", None)
    else:
        os.environ["NAPARI_PICASSO_DB"] = previous
