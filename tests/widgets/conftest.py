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


@pytest.fixture(autouse=True)
def _replace_earlier_outputs(monkeypatch):
    """Docks replace earlier outputs without the question box (it would wait for a click).

    A test of the question itself puts the real function back
    (``napari_picasso._widgets.localize.ask_about_existing``).
    """
    from napari_picasso._widgets import localize

    monkeypatch.setattr(localize, "ask_about_existing", lambda parent, locs_path, existing: "replace")
