"""Other tools' localization tables in a real napari viewer: the reader's points layer (the
contract of ``_locs.hdf5``), the pixel-size question, and the ThunderSTORM/.smlm writers."""

from pathlib import Path

import numpy as np
import pytest

from napari_picasso import _reader
from napari_picasso.io.locs import load_locs
from napari_picasso.io.table_layout import PixelSizeNeeded
from napari_picasso.io.tables import read_table

PLUGIN = "napari-picassosr"
DATA = Path(__file__).resolve().parent / "data"
THUNDERSTORM = DATA / "thunderstorm" / "storm_table.csv"
ELYRA = DATA / "elyra" / "Elyra_dstorm_data_first43.txt"


@pytest.fixture
def pixelsize_answer(monkeypatch):
    asked = []

    def answer(value):
        def ask_pixelsize(path):
            asked.append(Path(path).name)
            return value

        monkeypatch.setattr(_reader, "ask_pixelsize", ask_pixelsize)
        return asked

    return answer


def test_table_opens_as_points_layer(make_napari_viewer, pixelsize_answer):
    asked = pixelsize_answer(100.0)
    viewer = make_napari_viewer()
    layers = viewer.open(THUNDERSTORM, plugin=PLUGIN)
    assert asked == ["storm_table.csv"]  # a ThunderSTORM CSV does not say its pixel size
    layer, render = layers  # the points, then the rendering (as for a _locs.hdf5)
    assert render.name == "storm_table render" and render.metadata["napari_picasso"]["role"] == "render"
    locs, info = read_table(THUNDERSTORM, pixelsize_nm=100)
    assert layer.name == "storm_table.csv" and len(layer.data) == 48
    np.testing.assert_allclose(layer.data[:, 0], locs["frame"])
    np.testing.assert_allclose(layer.data[:, 1], locs["y"])
    np.testing.assert_allclose(layer.data[:, 2], locs["x"])
    assert list(layer.features.columns) == [n for n in locs.dtype.names if n not in ("frame", "x", "y")]
    meta = layer.metadata["napari_picasso"]
    assert meta["locs_path"] == str(THUNDERSTORM)
    assert meta["info"][1]["Pixelsize"] == 100 and meta["info"][0]["Width"] == info[0]["Width"]


def test_table_with_its_own_pixel_size_asks_nothing(make_napari_viewer, pixelsize_answer):
    asked = pixelsize_answer(None)
    viewer = make_napari_viewer()
    layer = viewer.open(ELYRA, plugin=PLUGIN)[0]
    assert asked == [] and len(layer.data) == 43


def test_cancelled_pixel_size_is_a_clear_error(make_napari_viewer, pixelsize_answer):
    pixelsize_answer(None)
    viewer = make_napari_viewer()
    with pytest.raises(Exception) as raised:
        viewer.open(THUNDERSTORM, plugin=PLUGIN)
    chain = [raised.value, raised.value.__cause__, raised.value.__context__]
    assert any(isinstance(e, PixelSizeNeeded) for e in chain) or "pixel size" in str(raised.value)


def test_writers_thunderstorm_and_smlm(make_napari_viewer, shared_data, tmp_path):
    source = shared_data / "raw-picasso" / "testdata_locs.hdf5"
    locs, _ = load_locs(source)
    viewer = make_napari_viewer()
    layer = viewer.open(source, plugin=PLUGIN)[0]
    for name in ("edited.csv", "edited.smlm"):
        written = layer.save(str(tmp_path / name), plugin=PLUGIN)
        assert Path(written[0]) == tmp_path / name
        # the Picasso file's YAML gives the pixel size (130 nm): nothing is asked; the same rows
        back, info = read_table(tmp_path / name, pixelsize_nm=130 if name.endswith(".csv") else None)
        order = np.argsort(locs["frame"], kind="stable")
        np.testing.assert_array_equal(back["frame"], locs["frame"][order])
        np.testing.assert_allclose(back["x"], locs["x"][order], atol=3e-5)
        np.testing.assert_allclose(back["photons"], locs["photons"][order], rtol=1e-6)
    assert not list(tmp_path.glob("*.part"))
