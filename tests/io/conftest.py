"""Fixtures for reader tests: the shared Micro-Manager set unpacked."""

import gzip
import shutil

import pytest


@pytest.fixture(scope="session")
def mmstack_folder(shared_data, tmp_path_factory):
    """The gzipped Micro-Manager 1.4 MMStack set of the shared data, unpacked."""
    folder = tmp_path_factory.mktemp("mmstack-1.4")
    for packed in sorted((shared_data / "mmstack-1.4").glob("*.gz")):
        with gzip.open(packed, "rb") as src, open(folder / packed.name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    return folder

