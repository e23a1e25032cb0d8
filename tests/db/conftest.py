"""Fixtures for database tests: a fresh database file and small real localization files."""

import shutil

import pytest

from napari_picasso.db import open_database


@pytest.fixture
def db_path(tmp_path, monkeypatch):
    path = tmp_path / "home" / ".picasso" / "napari_picasso.db"
    monkeypatch.setenv("NAPARI_PICASSO_DB", str(path))
    return path


@pytest.fixture
def db(db_path):
    database = open_database(db_path)
    yield database
    database.close()


@pytest.fixture
def picasso_locs(shared_data):
    """Picasso's own localization file (564 localizations, MLE) and its YAML."""
    path = shared_data / "raw-picasso" / "testdata_locs.hdf5"
    assert path.with_suffix(".yaml").is_file()
    return path


@pytest.fixture
def copy_locs(picasso_locs):
    """``copy_locs(target)``: copy Picasso's file and its YAML to ``target``."""

    def copy(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(picasso_locs, target)
        shutil.copyfile(picasso_locs.with_suffix(".yaml"), target.with_suffix(".yaml"))
        return target

    return copy
