"""Fixtures of the dock-widget tests."""

import shutil

import pytest


@pytest.fixture
def movie_copy(blinking_movie, tmp_path):
    """The blinking movie copied into this test's folder (its outputs land beside it)."""
    path, truth, camera = blinking_movie
    folder = tmp_path / "movie"
    folder.mkdir()
    for source in (path, path.with_suffix(".yaml")):
        shutil.copy(source, folder / source.name)
    return folder / path.name, truth, camera
