"""The npe2 reader, writer and sample-data contributions in a real napari viewer."""

import gzip
import shutil
import sys
from pathlib import Path

import h5py
import nd2
import numpy as np
import pytest
import tifffile

sys.path.insert(0, str(Path(__file__).parent / "io"))
from mm_writers import CAMERA, write_mmstack  # noqa: E402
from reference_readers import ndtiff_reference  # noqa: E402

from napari_picasso import _reader  # noqa: E402
from napari_picasso.io.errors import InputFileError  # noqa: E402
from napari_picasso.io.locs import load_locs  # noqa: E402
from napari_picasso.io.movie import Movie  # noqa: E402
from napari_picasso.io.movies import open_movie  # noqa: E402

PLUGIN = "napari-picassosr"


@pytest.fixture
def answers(monkeypatch):
    """Replace the reader's dialogs by recorded answers: ``answers(axis={...}, raw={...})``."""
    asked = []

    def set_answers(axis=None, raw=None):
        def ask_axis_choices(path, axes, frame_axis, defaults=None):
            asked.append(("axes", Path(path).name, dict(axes), frame_axis) + ((defaults,) if defaults else ()))
            return axis(axes) if callable(axis) else axis

        def ask_raw_info(path):
            asked.append(("raw", Path(path).name))
            return raw

        monkeypatch.setattr(_reader, "ask_axis_choices", ask_axis_choices)
        monkeypatch.setattr(_reader, "ask_raw_info", ask_raw_info)
        return asked

    return set_answers


def _open_one(viewer, path):
    layers = viewer.open(path, plugin=PLUGIN)
    assert len(layers) == 1
    return layers[0]


def _check_movie_layer(layer, path, reference):
    assert layer.name == Path(path).name
    assert isinstance(layer.data, Movie)
    assert layer.data.shape == reference.shape and layer.data.dtype == reference.dtype
    np.testing.assert_array_equal(np.asarray(layer.data[:]), reference)
    meta = layer.metadata["napari_picasso"]
    assert meta["path"] == str(path)
    assert meta["movie_metadata"]["Frames"] == reference.shape[0]
    assert meta["movie_metadata"] is layer.data.metadata
    with open_movie(meta["path"], **meta["choices"]) as again:  # how a worker reopens it
        assert again.shape == reference.shape
        np.testing.assert_array_equal(again[-1], reference[-1])
    low, high = layer.contrast_limits
    assert low < high and reference.min() <= high and low <= reference.max()


def test_shared_movies_in_napari(make_napari_viewer, shared_data, tmp_path, answers):
    asked = answers(axis=None)
    viewer = make_napari_viewer()
    # raw + yaml, OME-TIFF with .tiff ending, ims, single-movie NDTiff v3
    raw = shared_data / "raw-picasso" / "testdata.raw"
    _check_movie_layer(_open_one(viewer, raw), raw, np.fromfile(raw, "<u2").reshape(100, 32, 32))
    ome = shared_data / "ome-tiff" / "s_1_t_1_c_1_z_1.ome.tiff"
    _check_movie_layer(_open_one(viewer, ome), ome, tifffile.imread(ome)[np.newaxis])
    ims = shared_data / "ims" / "Minimal_IMS_File.ims"
    with h5py.File(ims, "r") as f:
        reference = f["DataSet/ResolutionLevel 0/TimePoint 0/Channel 0/Data"][:, :128, :128]
    _check_movie_layer(_open_one(viewer, ims), ims, reference)
    folder = shared_data / "ndtiff" / "v3" / "ndtiff3.2_11bit_1"
    _check_movie_layer(_open_one(viewer, folder), folder, ndtiff_reference(folder)[0])
    assert asked == []  # single movies open without a question
    assert len(viewer.layers) == 4


def test_multi_dimensional_files_ask_for_choices(make_napari_viewer, shared_data, tmp_path, answers):
    viewer = make_napari_viewer()
    # nd2: T3 Z10 C2 -> the dialog is asked for z and channel
    path = shared_data / "nd2" / "cluster.nd2"
    asked = answers(axis={"z": 3, "channel": "FM 4-64/2% CHAPS"})
    layer = _open_one(viewer, path)
    _check_movie_layer(layer, path, nd2.imread(path)[:, 3, 1])
    assert asked[0][0] == "axes" and set(asked[0][2]) == {"z", "channel"} and asked[0][3] == "time"
    # NDTiff v3 and v2 with two channels, opened from the folder and from a stack file
    for name, channel, index in (("v3/12_bit_pycromanager_mda", "FITC", 1), ("v2/ndtiffv2.0_test", 0, 0)):
        folder = shared_data / "ndtiff" / name
        answers(axis={"channel": channel})
        _check_movie_layer(_open_one(viewer, folder), folder, ndtiff_reference(folder)[0][:, index])
        stack = sorted(folder.rglob("*_NDTiffStack.tif"))[0]
        layer = _open_one(viewer, stack)
        np.testing.assert_array_equal(layer.data[:], ndtiff_reference(folder)[0][:, index])
    # Micro-Manager 1.4 MMStack, 4 positions x T2 x Z2 x C2
    mm = tmp_path / "mm"
    mm.mkdir()
    for packed in sorted((shared_data / "mmstack-1.4").glob("*.ome.tif.gz")):
        with gzip.open(packed, "rb") as src, open(mm / packed.name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    for path in sorted(mm.glob("*.ome.tif")):
        with tifffile.TiffFile(path) as tif:
            reference = tif.series[0].asarray()
            own = int(np.unique(tif.micromanager_metadata["IndexMap"][:, 3])[0])
        asked = answers(axis={"channel": "DAPI", "z": 1})
        _check_movie_layer(_open_one(viewer, path), path, reference[own, :, 1, 1])
        assert asked[-1][2] == {"z": [0, 1], "channel": ["Cy5", "DAPI"]}
    # cancelling the dialog gives the error that lists the choices
    answers(axis=None)
    with pytest.raises(Exception, match="channel"):
        viewer.open(path, plugin=PLUGIN)


def test_rollover_mmstack_in_napari(make_napari_viewer, tmp_path):
    rng = np.random.default_rng(4)
    frames = rng.integers(0, 4000, (30, 16, 18), dtype=np.uint16)
    paths = write_mmstack(tmp_path, frames, frames_per_file=12)
    viewer = make_napari_viewer()
    layer = _open_one(viewer, paths[0])
    _check_movie_layer(layer, paths[0], frames)
    assert layer.metadata["napari_picasso"]["movie_metadata"]["Camera"] == CAMERA
    viewer.dims.set_point(0, 17)  # napari slices one frame of the lazy movie
    np.testing.assert_array_equal(layer._slice.image.raw, frames[17])


def test_multi_position_set_asks_which_position(make_napari_viewer, tmp_path, answers):
    rng = np.random.default_rng(5)
    pos0 = rng.integers(0, 4000, (20, 16, 18), dtype=np.uint16)
    pos1 = rng.integers(0, 4000, (20, 16, 18), dtype=np.uint16)
    first = write_mmstack(tmp_path, pos0, position="Pos0", frames_per_file=8)[0]
    second = write_mmstack(tmp_path, pos1, position="Pos1", frames_per_file=8)[0]
    viewer = make_napari_viewer()
    # the file's own position is offered first; keeping it opens that file's series
    asked = answers(axis=lambda axes: {"position": "Pos0"})
    layer = _open_one(viewer, first)
    assert asked == [("axes", first.name, {"position": ["Pos0", "Pos1"]}, "time", {"position": "Pos0"})]
    np.testing.assert_array_equal(np.asarray(layer.data[:]), pos0)
    # picking the other position opens it (all its rollover files)
    answers(axis={"position": "Pos1"})
    layer = _open_one(viewer, first)
    np.testing.assert_array_equal(np.asarray(layer.data[:]), pos1)
    assert layer.metadata["napari_picasso"]["choices"]["position"] == "Pos1"
    # the layer is that position's own file: its name, and its localizations' file name
    assert layer.metadata["napari_picasso"]["path"] == str(second)
    assert layer.name == f"{second.name} [position Pos1]"
    # cancelled: nothing opens and the error says why
    answers(axis=None)
    with pytest.raises(Exception, match="one of 2 positions"):
        viewer.open(first, plugin=PLUGIN)


def test_raw_without_yaml_asks_and_writes_yaml(make_napari_viewer, shared_data, tmp_path, answers):
    path = tmp_path / "acquisition.raw"
    shutil.copy(shared_data / "raw-picasso" / "testdata.raw", path)
    asked = answers(raw={"Width": 32, "Height": 32, "Frames": 100, "Data Type": "uint16", "Byte Order": "<"})
    viewer = make_napari_viewer()
    layer = _open_one(viewer, path)
    assert asked == [("raw", "acquisition.raw")]
    _check_movie_layer(layer, path, np.fromfile(path, "<u2").reshape(100, 32, 32))
    written = (tmp_path / "acquisition.yaml").read_text()
    for line in ("Width: 32", "Height: 32", "Frames: 100", "Data Type: uint16", "Byte Order: <"):
        assert line in written
    # a description longer than the file is refused, naming the file
    other = tmp_path / "second.raw"
    shutil.copy(path, other)
    answers(raw={"Width": 64, "Height": 64, "Frames": 100, "Data Type": "uint16", "Byte Order": "<"})
    with pytest.raises(Exception, match="second.raw.*nothing was written.*at most 25"):
        viewer.open(other, plugin=PLUGIN)
    # the wrong description was not saved: opening again asks again
    assert not (tmp_path / "second.yaml").exists()
    asked = answers(raw={"Width": 32, "Height": 32, "Frames": 100, "Data Type": "uint16", "Byte Order": "<"})
    assert _open_one(viewer, other).data.shape == (100, 32, 32) and asked[-2:] == [("raw", "second.raw")] * 2
    # cancelled: the error names the keys to supply
    third = tmp_path / "third.raw"
    shutil.copy(path, third)
    answers(raw=None)
    with pytest.raises(Exception, match="third.raw.*Width, Height, Frames"):
        viewer.open(third, plugin=PLUGIN)


def test_picasso_locs_open_as_points(make_napari_viewer, shared_data):
    path = shared_data / "raw-picasso" / "testdata_locs.hdf5"
    locs, info = load_locs(path)
    viewer = make_napari_viewer()
    layers = viewer.open(path, plugin=PLUGIN)
    assert len(layers) == 2  # the points and, as Picasso Render shows it, the rendering
    layer, render = layers
    assert layer._type_string == "points" and layer.name == "testdata_locs.hdf5"
    assert render._type_string == "image" and render.metadata[_reader.LAYER_KEY]["role"] == "render"
    # The slider spans the movie's 1000 frames, not the 11 .. 990 that have localizations.
    assert (viewer.dims.range[0].start, viewer.dims.range[0].stop) == (0, info[0]["Frames"] - 1) == (0, 999)
    assert layer.data.shape == (564, 3)
    np.testing.assert_array_equal(layer.data[:, 0], locs["frame"])
    np.testing.assert_allclose(layer.data[:, 1], locs["y"])
    np.testing.assert_allclose(layer.data[:, 2], locs["x"])
    assert list(layer.features.columns) == [n for n in locs.dtype.names if n not in ("frame", "x", "y")]
    np.testing.assert_array_equal(layer.features["photons"], locs["photons"])
    meta = layer.metadata["napari_picasso"]
    assert meta["locs_path"] == str(path) and meta["info"] == info
    assert meta["info"][0]["Width"] == 32


def test_locs_writer_round_trip(make_napari_viewer, shared_data, tmp_path):
    source = shared_data / "raw-picasso" / "testdata_locs.hdf5"
    locs, info = load_locs(source)
    viewer = make_napari_viewer()
    layer = viewer.open(source, plugin=PLUGIN)[0]
    target = tmp_path / "edited_locs.hdf5"
    written = layer.save(str(target), plugin=PLUGIN)
    assert Path(written[0]) == target
    saved, saved_info = load_locs(target)
    assert saved.dtype == locs.dtype  # same fields, order and types as Picasso wrote
    order = np.argsort(locs["frame"], kind="stable")
    np.testing.assert_array_equal(saved, locs[order])
    assert saved_info[: len(info)] == info and "napari writer" in saved_info[-1]["Generated by"]
    assert not list(tmp_path.glob("*.part"))
    # delete points in napari, save again: the rows are gone, the rest unchanged
    layer.selected_data = set(range(10))
    layer.remove_selected()
    layer.save(str(tmp_path / "fewer_locs.hdf5"), plugin=PLUGIN)
    fewer, _ = load_locs(tmp_path / "fewer_locs.hdf5")
    assert len(fewer) == len(locs) - 10
    # the file read in is never overwritten
    reopened = viewer.open(tmp_path / "fewer_locs.hdf5", plugin=PLUGIN)[0]
    with pytest.raises(FileExistsError, match="fewer_locs.hdf5.*never overwritten"):
        reopened.save(str(tmp_path / "fewer_locs.hdf5"), plugin=PLUGIN)
    np.testing.assert_array_equal(load_locs(tmp_path / "fewer_locs.hdf5")[0], fewer)


def test_bad_locs_file_in_napari(make_napari_viewer, tmp_path):
    path = tmp_path / "broken_locs.hdf5"
    with h5py.File(path, "w") as f:
        f["drift"] = np.zeros(4)
    viewer = make_napari_viewer()
    with pytest.raises(Exception, match="broken_locs.hdf5.*no 'locs' dataset"):
        viewer.open(path, plugin=PLUGIN)
    with pytest.raises(InputFileError, match="no 'locs' dataset"):
        _reader.get_locs_reader(str(path))(str(path))


def test_sample_data(make_napari_viewer):
    viewer = make_napari_viewer()
    layers = viewer.open_sample(PLUGIN, "blinking_movie")
    movie, truth = layers
    assert movie.data.shape == (300, 64, 64) and movie.data.dtype == np.uint16
    assert truth._type_string == "points" and truth.data.shape[1] == 3
    meta = movie.metadata["napari_picasso"]["movie_metadata"]
    assert meta["Camera"] == "Simulation" and meta["Width"] == 64
    # ground truth sits on bright spots of its frame
    frame, y, x = truth.data[0].astype(int)
    background = np.median(movie.data[frame])
    assert movie.data[frame, y, x] > background + 50
    assert set(truth.features.columns) >= {"photons", "site"}


def test_default_dialogs_build_and_answer(qtbot, monkeypatch, shared_data, tmp_path):
    """The real magicgui dialogs, accepted as filled in (their exec is the only stand-in)."""
    from magicgui.widgets import Dialog

    shown = []

    def accept(dialog):
        shown.append([w.name for w in dialog])
        titles.append(dialog.native.windowTitle())
        return True

    titles = []

    monkeypatch.setattr(Dialog, "exec", accept)
    path = tmp_path / "movie.raw"
    np.zeros(3 * 256 * 256, dtype="<u2").tofile(path)
    info = _reader.ask_raw_info(path)
    assert info == {"Width": 256, "Height": 256, "Frames": 3, "Data Type": "uint16", "Byte Order": "<"}
    choices = _reader.ask_axis_choices(path, {"z": [0, 1], "channel": ["Cy5", "DAPI"]}, "time")
    assert choices == {"z": 0, "channel": "Cy5"}
    choices = _reader.ask_axis_choices(path, {"z": [0, 1, 2], "channel": ["Cy5", "DAPI"]}, None)
    assert choices == {"frame_axis": "z", "channel": "Cy5"}
    # the answers open the movie: nd2 with the first z and channel
    with open_movie(shared_data / "nd2" / "cluster.nd2", z=0, channel="5-FAM/pH 9.0") as movie:
        np.testing.assert_array_equal(movie[:], nd2.imread(shared_data / "nd2" / "cluster.nd2")[:, 0, 0])
    assert len(shown) == 3
    # Every dialog has a window title, naming the file (the nd2 axis dialog had none).
    assert titles == [
        "napari-picasso: Describe movie.raw",
        "napari-picasso: Open one movie of movie.raw",
        "napari-picasso: Open one movie of movie.raw",
    ]
    assert _reader.ask_pixelsize(path) == _reader.DEFAULT_PIXELSIZE_NM
    assert titles[-1] == "napari-picasso: Camera pixel size of movie.raw"


def _write_3d_locs(path, pixelsize_nm):
    """A 3D locs file written by our own writer: 300 localizations at z = -200 / +200 nm."""
    from napari_picasso.io.locs import save_locs

    rng = np.random.default_rng(3)
    n = 300
    locs = np.zeros(
        n,
        dtype=[
            ("frame", "u4"),
            ("x", "f4"),
            ("y", "f4"),
            ("photons", "f4"),
            ("sx", "f4"),
            ("sy", "f4"),
            ("bg", "f4"),
            ("lpx", "f4"),
            ("lpy", "f4"),
            ("z", "f4"),
            ("d_zcalib", "f4"),
        ],
    )
    locs["frame"] = np.sort(rng.integers(0, 50, n))
    locs["x"] = rng.uniform(5, 25, n)
    locs["y"] = rng.uniform(5, 25, n)
    locs["z"] = np.where(np.arange(n) % 2, 200.0, -200.0)
    locs["photons"], locs["sx"], locs["sy"], locs["bg"] = 1000, 1.2, 1.0, 10
    locs["lpx"] = locs["lpy"] = 0.05
    info = [{"Width": 32, "Height": 32, "Frames": 50}, {"Generated by": "test", "Fit method": "mle-3d"}]
    if pixelsize_nm:
        info[1]["Pixelsize"] = pixelsize_nm
    save_locs(path, locs, info)
    return locs


def test_3d_locs_open_with_their_z_views(make_napari_viewer, tmp_path):
    path = tmp_path / "cells_locs.hdf5"
    locs = _write_3d_locs(path, pixelsize_nm=100.0)
    viewer = make_napari_viewer()
    layers = viewer.open(path, plugin=PLUGIN)
    kinds = [type(layer).__name__ for layer in layers]
    assert kinds == ["Points", "Image", "Points"]
    frames_layer, render, points_3d = layers
    assert not frames_layer.visible and render.visible and points_3d.visible
    np.testing.assert_allclose(frames_layer.data[:, 0], locs["frame"])
    assert render.rgb and "z render" in render.name
    # 3D points: (z / pixel size, y, x), z in units of the file's own pixel size
    np.testing.assert_allclose(points_3d.data[:, 0], locs["z"] / 100.0, rtol=1e-6)
    np.testing.assert_allclose(points_3d.data[:, 2], locs["x"], rtol=1e-6)
    assert points_3d.metadata[_reader.LAYER_KEY]["pixelsize_assumed"] is False
    # deep blue, shallow red
    colours = points_3d.face_color
    assert colours[0, 2] > colours[0, 0] and colours[1, 0] > colours[1, 2]
    viewer.dims.ndisplay = 3
    viewer.screenshot(tmp_path / "z.png", canvas_only=False)
    # the 3D view cannot be saved as locs (its first axis is z); the points layer can
    with pytest.raises(RuntimeError, match="3D view"):
        points_3d.save(str(tmp_path / "z_view.hdf5"), plugin=PLUGIN)
    frames_layer.save(str(tmp_path / "copy_locs.hdf5"), plugin=PLUGIN)
    np.testing.assert_allclose(load_locs(tmp_path / "copy_locs.hdf5")[0]["z"], locs["z"])


def test_3d_locs_without_pixel_size_say_it_was_assumed(make_napari_viewer, tmp_path):
    path = tmp_path / "nosize_locs.hdf5"
    locs = _write_3d_locs(path, pixelsize_nm=None)
    viewer = make_napari_viewer()
    points_3d = viewer.open(path, plugin=PLUGIN)[-1]
    assert points_3d.metadata[_reader.LAYER_KEY]["pixelsize_assumed"] is True
    np.testing.assert_allclose(points_3d.data[:, 0], locs["z"] / _reader.DEFAULT_PIXELSIZE_NM, rtol=1e-6)


def test_ndtiff_folder_without_index_says_so(make_napari_viewer, shared_data, tmp_path):
    folder = tmp_path / "lost_index_1"
    shutil.copytree(shared_data / "ndtiff" / "v3" / "ndtiff3.2_11bit_1", folder)
    (folder / "NDTiff.index").unlink()
    viewer = make_napari_viewer()
    # claimed by napari-picasso (not napari's "no reader"), and the error says what is missing
    with pytest.raises(Exception, match="lost_index_1.*NDTiff.index"):
        viewer.open(folder, plugin=PLUGIN)
    assert _reader.get_movie_reader(str(folder)) is not None
    # an unrelated folder is left to other plugins
    (tmp_path / "notes").mkdir()
    assert _reader.get_movie_reader(str(tmp_path / "notes")) is None
