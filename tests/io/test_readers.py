"""Every movie format opened through ``open_movie`` against the format's own reader."""

import contextlib
import gzip
import io
import json
import shutil
import tracemalloc

import h5py
import nd2
import numpy as np
import pytest
import tifffile
from mm_writers import CAMERA, write_mmstack
from reference_readers import ndtiff_reference

from napari_picasso.io.errors import AxisChoiceError, InputFileError
from napari_picasso.io.movies import open_movie
from napari_picasso.io.raw import RawMovie
from napari_picasso.io.tiff import TiffMovie


@pytest.fixture(scope="module")
def mmstack_folder(shared_data, tmp_path_factory):
    """The gzipped Micro-Manager 1.4 MMStack set of the shared data, unpacked."""
    folder = tmp_path_factory.mktemp("mmstack-1.4")
    for packed in sorted((shared_data / "mmstack-1.4").glob("*.gz")):
        with gzip.open(packed, "rb") as src, open(folder / packed.name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    return folder


# -- real files from ../shared/data ----------------------------------------------------------
def test_raw_picasso(shared_data):
    path = shared_data / "raw-picasso" / "testdata.raw"
    with open_movie(path) as movie:
        assert isinstance(movie, RawMovie)
        reference = np.fromfile(path, dtype="<u2").reshape(100, 32, 32)
        assert movie.shape == (100, 32, 32) and movie.dtype == np.uint16
        np.testing.assert_array_equal(movie[:], reference)
        np.testing.assert_array_equal(movie[[5, 99, 0]], reference[[5, 99, 0]])
        assert movie.metadata["Camera"] == "Simulation"


def test_ome_tiff_with_tiff_ending(shared_data):
    path = shared_data / "ome-tiff" / "s_1_t_1_c_1_z_1.ome.tiff"
    reference = tifffile.imread(path)
    with open_movie(path) as movie:
        assert movie.shape == (1,) + reference.shape and movie.dtype == reference.dtype
        np.testing.assert_array_equal(movie[0], reference)
        assert movie.metadata["Pixel Size (um)"] == pytest.approx(1.0833, abs=1e-3)


def _own_position(path):
    with tifffile.TiffFile(path) as tif:
        return int(np.unique(tif.micromanager_metadata["IndexMap"][:, 3])[0])


def test_mmstack_positions_channels_z(mmstack_folder):
    files = sorted(mmstack_folder.glob("*.ome.tif"))
    assert len(files) == 4
    for path in files:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            assert series.axes == "RTZCYX"
            reference = series.asarray()  # (position, time, z, channel, y, x)
        with pytest.raises(AxisChoiceError) as error:
            open_movie(path)
        message = str(error.value)
        assert path.name in message and "channel" in message and "'Cy5', 'DAPI'" in message and "z (2)" in message
        own = _own_position(path)
        for channel, c in (("Cy5", 0), ("DAPI", 1), (1, 1)):
            for z in (0, 1):
                with open_movie(path, channel=channel, z=z) as movie:
                    assert movie.shape == (2, 64, 64) and movie.dtype == np.uint16
                    np.testing.assert_array_equal(movie[:], reference[own, :, z, c])
                    assert movie.metadata["Choices"]["channel"] == ["Cy5", "DAPI"][c]
        # another position by label and by index
        with open_movie(path, position=3, channel="DAPI", z=0) as movie:
            np.testing.assert_array_equal(movie[:], reference[3, :, 0, 1])
        with open_movie(path, position="1-Pos_001_000", channel=0, z=1) as movie:
            np.testing.assert_array_equal(movie[:], reference[1, :, 1, 0])
    with open_movie(files[0], channel=0, z=0) as movie:
        meta = movie.metadata
        assert meta["Camera"] == "Camera"  # Micro-Manager's camera device label
        assert meta["Micro-Manager Metadata"]["Camera-CameraName"] == "DemoCamera-MultiMode"
        assert meta["Exposure (ms)"] == 25.0


def test_mmstack_choice_errors(mmstack_folder):
    path = sorted(mmstack_folder.glob("*.ome.tif"))[0]
    with pytest.raises(InputFileError, match="no channel 'GFP'.*'Cy5', 'DAPI'"):
        open_movie(path, channel="GFP", z=0)
    with pytest.raises(InputFileError, match="no z 5"):
        open_movie(path, channel=0, z=5)
    with pytest.raises(InputFileError, match="no wavelength axis"):
        open_movie(path, channel=0, z=0, wavelength=2)


@pytest.mark.parametrize(
    "name, choices, pick",
    [
        ("v3/ndtiff3.2_11bit_1", {}, lambda a: a),
        ("v3/12_bit_pycromanager_mda", {"channel": "FITC"}, lambda a: a[:, 1]),
        ("v3/12_bit_pycromanager_mda", {"channel": 0}, lambda a: a[:, 0]),
        ("v2/ndtiffv2.0_test", {"channel": 1}, lambda a: a[:, 1]),
    ],
)
def test_ndtiff_folders(shared_data, name, choices, pick):
    folder = shared_data / "ndtiff" / name
    reference = pick(ndtiff_reference(folder)[0])
    for path in (folder, *sorted(folder.rglob("*_NDTiffStack.tif"))):
        with open_movie(path, **choices) as movie:
            assert movie.shape == reference.shape and movie.dtype == reference.dtype
            np.testing.assert_array_equal(movie[:], reference)
            np.testing.assert_array_equal(movie[2], reference[2])
            assert movie.metadata["Camera"] == "Camera"


def test_ndtiff_channels_need_a_choice(shared_data):
    with pytest.raises(AxisChoiceError, match="channel \\(2: 'DAPI', 'FITC'\\)") as error:
        open_movie(shared_data / "ndtiff" / "v3" / "12_bit_pycromanager_mda")
    assert error.value.axes == {"channel": ["DAPI", "FITC"]}


def test_ims(shared_data):
    path = shared_data / "ims" / "Minimal_IMS_File.ims"
    with h5py.File(path, "r") as f:
        reference = f["DataSet/ResolutionLevel 0/TimePoint 0/Channel 0/Data"][...]
    with open_movie(path) as movie:
        assert movie.shape == (1, 128, 128) and movie.dtype == np.uint16
        np.testing.assert_array_equal(movie[:], reference[:, :128, :128])
        assert movie.metadata["Resolution Level"] == 0
    with pytest.raises(InputFileError, match="no level 1"):
        open_movie(path, level=1)


def test_ims_time_channels_and_padding(tmp_path):
    """An Imaris layout with 4 time points, 2 channels and padded blocks (h5py-written)."""
    path = tmp_path / "series.ims"
    rng = np.random.default_rng(3)
    data = rng.integers(0, 4000, (4, 2, 1, 20, 30), dtype=np.uint16)

    def text(value):
        return np.array(list(str(value)), dtype="S1")

    with h5py.File(path, "w") as f:
        level = f.create_group("DataSet/ResolutionLevel 0")
        for t in range(4):
            for c in range(2):
                group = level.create_group(f"TimePoint {t}/Channel {c}")
                padded = np.zeros((1, 32, 32), dtype=np.uint16)
                padded[:, :20, :30] = data[t, c]
                group.create_dataset("Data", data=padded, chunks=(1, 32, 32), compression="gzip")
                for key, value in (("ImageSizeX", 30), ("ImageSizeY", 20), ("ImageSizeZ", 1)):
                    group.attrs[key] = text(value)
        for c, name in enumerate(("647", "561")):
            f.create_group(f"DataSetInfo/Channel {c}").attrs["Name"] = text(name)
    with pytest.raises(AxisChoiceError, match="'647', '561'"):
        open_movie(path)
    with open_movie(path, channel="561") as movie:
        assert movie.shape == (4, 20, 30)
        np.testing.assert_array_equal(movie[:], data[:, 1, 0])
        np.testing.assert_array_equal(movie[1:3], data[1:3, 1, 0])


def test_nd2(shared_data):
    path = shared_data / "nd2" / "cluster.nd2"
    reference = nd2.imread(path)  # (T3, Z10, C2, 31, 38)
    with nd2.ND2File(path) as f:
        names = [c.channel.name for c in f.metadata.channels]
    with pytest.raises(AxisChoiceError) as error:
        open_movie(path)
    assert "z (10)" in str(error.value) and names[0] in str(error.value)
    for c in (0, 1):
        for z in (0, 9):
            with open_movie(path, channel=names[c], z=z) as movie:
                assert movie.shape == (3, 31, 38) and movie.dtype == np.uint16
                np.testing.assert_array_equal(movie[:], reference[:, z, c])
    # a z-stack as a movie: frames along z at one time point
    with open_movie(path, frame_axis="z", time=2, channel=1) as movie:
        assert movie.shape == (10, 31, 38)
        np.testing.assert_array_equal(movie[:], reference[2, :, 1])
        assert movie.metadata["Camera"] == "Nikon A1plus"
        assert movie.metadata["Pixel Size (um)"] == pytest.approx(0.1678, abs=1e-4)


# -- files built with the formats' own writers --------------------------------------------------
def _frames(n, height=24, width=20, seed=0):
    rng = np.random.default_rng(seed)
    frames = rng.integers(100, 3000, (n, height, width), dtype=np.uint16)
    frames[:, 0, 0] = np.arange(n)  # frame number in a pixel: order is checkable
    return frames


@pytest.mark.parametrize("master_ome", [False, True])
def test_mmstack_rollover_series(tmp_path, master_ome):
    frames = _frames(25)
    paths = write_mmstack(tmp_path, frames, frames_per_file=10, master_ome=master_ome)
    other = write_mmstack(tmp_path, frames[::-1].copy(), position="Pos1", frames_per_file=10, master_ome=master_ome)
    assert [p.name for p in paths] == [
        "run_MMStack_Pos0.ome.tif",
        "run_MMStack_Pos0_1.ome.tif",
        "run_MMStack_Pos0_2.ome.tif",
    ]
    # the files as tifffile reads each of them
    with tifffile.TiffFile(paths[0]) as tif:
        assert (
            json.loads(tif.pages[0].tags[51123].value)["Camera"] == CAMERA
            if isinstance(tif.pages[0].tags[51123].value, str)
            else tif.pages[0].tags[51123].value["Camera"] == CAMERA
        )
    for opened in (paths[0], paths[1]):  # the first file or any continuation
        with open_movie(opened) as movie:
            assert isinstance(movie, TiffMovie)
            assert movie.shape == (25, 24, 20) and movie.dtype == np.uint16
            np.testing.assert_array_equal(movie[:, 0, 0], np.arange(25))
            np.testing.assert_array_equal(movie[:], frames)
            np.testing.assert_array_equal(movie[8:13], frames[8:13])  # across a file boundary
            assert movie.metadata["Files"] == [p.name for p in paths]
    with open_movie(paths[0], position="Pos1") as movie:
        np.testing.assert_array_equal(movie[:], frames[::-1])
        assert movie.metadata["Files"] == [p.name for p in other]
    with open_movie(paths[0]) as movie:
        meta = movie.metadata
    assert meta["Camera"] == CAMERA
    mm = meta["Micro-Manager Metadata"]
    assert mm[f"{CAMERA}-EMGain"] == "200" and mm[f"{CAMERA}-ReadoutRate"] == "17.000 MHz"
    assert meta["Exposure (ms)"] == 50.0 and meta["Pixel Size (um)"] == pytest.approx(0.13)
    if not master_ome:
        assert meta["Position"] == "Pos0" and meta["Positions"] == ["Pos0", "Pos1"]


def test_ndtiff_smlm_movie_written_by_ndstorage(tmp_path):
    import ndstorage

    n_frames, height, width = 10000, 64, 64
    dataset = ndstorage.NDTiffDataset(str(tmp_path), name="paint", writable=True)
    dataset.initialize({"Core-Camera": "Andor"})
    rng = np.random.default_rng(1)
    noise = rng.integers(90, 200, (16, height, width), dtype=np.uint16)
    with contextlib.redirect_stdout(io.StringIO()):
        for i in range(n_frames):
            image = noise[i % 16].copy()
            image[0, :2] = (i & 0xFFFF, i >> 16)
            dataset.put_image(
                {"time": i},
                image,
                {"Camera": "Andor", "Andor-EMGain": "300", "Andor-ReadoutRate": "30 MHz", "Exposure-ms": 100},
            )
        dataset.finish()
    folder = tmp_path / "paint_1"
    with open_movie(folder) as movie:
        assert movie.shape == (n_frames, height, width) and movie.dtype == np.uint16
        chunk = movie[4990:5010]
        np.testing.assert_array_equal(chunk[:, 0, 0], np.arange(4990, 5010))
        order = np.concatenate([movie.read_frames(s, s + 2500)[:, 0, 0] for s in range(0, n_frames, 2500)])
        np.testing.assert_array_equal(order, np.arange(n_frames))
        np.testing.assert_array_equal(movie[7][1:], noise[7][1:])
        assert movie.metadata["Camera"] == "Andor"
        assert movie.metadata["Micro-Manager Metadata"]["Andor-EMGain"] == "300"
    reference, _ = ndtiff_reference(folder)
    with open_movie(folder / "paint_NDTiffStack.tif") as movie:
        np.testing.assert_array_equal(movie[::997], reference[::997])


@pytest.mark.parametrize("flavour", ["plain", "imagej", "ome", "bigtiff", "pages"])
def test_tiff_flavours(tmp_path, flavour):
    frames = _frames(40, 30, 26, seed=2)
    path = tmp_path / ("movie.ome.tif" if flavour == "ome" else "movie.tif")
    if flavour == "pages":  # one IFD per frame, not contiguous (as many acquisition programs write)
        with tifffile.TiffWriter(path) as tif:
            for frame in frames:
                tif.write(frame, metadata=None, description="frame", photometric="minisblack")
    else:
        tifffile.imwrite(
            path,
            frames,
            imagej=flavour == "imagej",
            ome=flavour == "ome",
            bigtiff=flavour == "bigtiff",
            photometric="minisblack",
        )
    reference = tifffile.imread(path)
    assert reference.shape == frames.shape
    with open_movie(path) as movie:
        assert movie.shape == frames.shape and movie.dtype == np.uint16
        np.testing.assert_array_equal(movie[:], reference)
        np.testing.assert_array_equal(movie[3:9, 2:5, ::3], reference[3:9, 2:5, ::3])
        np.testing.assert_array_equal(movie[::7], reference[::7])


def test_big_endian_tiff(tmp_path):
    frames = _frames(5)
    path = tmp_path / "be.tif"
    tifffile.imwrite(path, frames.astype(">u2"), byteorder=">")
    with open_movie(path) as movie:
        assert movie.dtype == np.dtype("=u2")
        np.testing.assert_array_equal(movie[:], frames)


def test_opening_is_lazy_and_reading_flat(tmp_path):
    """Opening reads no pixels; reading chunk by chunk keeps memory at one chunk."""
    frames_per_write, n_writes, side = 200, 10, 128  # 2000 frames, 65 MB
    path = tmp_path / "long.tif"
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        chunk = _frames(frames_per_write, side, side)
        for _ in range(n_writes):
            tif.write(chunk, contiguous=True, photometric="minisblack")
    size_mb = path.stat().st_size / 1e6
    tracemalloc.start()
    movie = open_movie(path)
    _, open_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    total = 0
    for start in range(0, movie.shape[0], 100):
        total += int(movie.read_frames(start, start + 100)[:, 0, 0].sum())
    _, read_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    movie.close()
    assert movie.shape == (2000, side, side)
    assert total == n_writes * int(np.arange(frames_per_write).sum())
    chunk_mb = 100 * side * side * 2 / 1e6
    assert open_peak / 1e6 < 1.0, f"opening a {size_mb:.0f} MB movie allocated {open_peak / 1e6:.1f} MB"
    assert read_peak / 1e6 < 2.5 * chunk_mb, f"reading allocated {read_peak / 1e6:.1f} MB"


# -- bad input ---------------------------------------------------------------------------------
def test_truncated_tiff(tmp_path):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, _frames(50, 64, 64), photometric="minisblack")
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    with pytest.raises(InputFileError, match="cut.tif.*truncated") as error:
        open_movie(path)
    assert error.value.path == str(path)


def test_truncated_page_per_frame_tiff(tmp_path):
    path = tmp_path / "cut_pages.tif"
    with tifffile.TiffWriter(path) as tif:
        for frame in _frames(30, 64, 64):
            tif.write(frame, metadata=None, photometric="minisblack")
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 3000)  # the last frame's pixels are cut
    with pytest.raises(InputFileError, match="cut_pages.tif.*truncated"):
        movie = open_movie(path)
        movie[:]


def test_raw_shorter_than_yaml(tmp_path, shared_data):
    path = tmp_path / "short.raw"
    data = np.fromfile(shared_data / "raw-picasso" / "testdata.raw", dtype="<u2")
    data[: 50 * 32 * 32].tofile(path)
    (tmp_path / "short.yaml").write_text((shared_data / "raw-picasso" / "testdata.yaml").read_text())
    with pytest.raises(InputFileError, match="short.raw.*102400 bytes.*100 frames.*truncated"):
        open_movie(path)


def test_raw_without_yaml_names_the_keys(tmp_path):
    path = tmp_path / "bare.raw"
    np.zeros(10, dtype="u2").tofile(path)
    with pytest.raises(InputFileError, match="bare.raw.*Width, Height, Frames, Data Type, Byte Order"):
        open_movie(path)


def test_tiff_that_is_not_a_tiff(tmp_path):
    path = tmp_path / "photo.tiff"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(InputFileError, match="photo.tiff.*not a readable TIFF file: it starts with"):
        open_movie(path)


def test_ims_without_image_data(tmp_path):
    path = tmp_path / "empty.ims"
    with h5py.File(path, "w") as f:
        f.create_group("DataSetInfo/Image")
    with pytest.raises(InputFileError, match="empty.ims.*no image data"):
        open_movie(path)


def test_folder_without_ndtiff_index(tmp_path):
    folder = tmp_path / "acquisition"
    folder.mkdir()
    (folder / "notes.txt").write_text("no images")
    with pytest.raises(InputFileError, match="acquisition.*no NDTiff.index"):
        open_movie(folder)


def test_locs_file_without_locs_dataset(tmp_path):
    from napari_picasso.io.locs import load_locs

    path = tmp_path / "other_locs.hdf5"
    with h5py.File(path, "w") as f:
        f["picks"] = np.zeros(3)
    with pytest.raises(InputFileError, match="other_locs.hdf5.*no 'locs' dataset.*picks"):
        load_locs(path)


def test_unknown_format(tmp_path):
    path = tmp_path / "movie.avi"
    path.write_bytes(b"RIFF")
    with pytest.raises(InputFileError, match="movie.avi.*not a movie format"):
        open_movie(path)


@pytest.mark.parametrize("axes", ["TZCYX", "TCZYX", "ZTCYX"])
def test_ome_tiff_dimension_orders(tmp_path, axes):
    """OME planes map to (time, z, channel) as tifffile maps them, whatever the order."""
    sizes = {"T": 5, "Z": 3, "C": 2}
    shape = tuple(sizes[a] for a in axes[:3]) + (12, 10)
    data = np.random.default_rng(5).integers(0, 60000, shape, dtype=np.uint16)
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(path, data, ome=True, metadata={"axes": axes}, photometric="minisblack")
    with tifffile.TiffFile(path) as tif:
        reference = tif.series[0].asarray()
        ref_axes = tif.series[0].axes
    reference = np.moveaxis(reference, [ref_axes.index(a) for a in "TZC"], [0, 1, 2])
    with pytest.raises(AxisChoiceError):
        open_movie(path)
    for z, c in ((0, 0), (2, 1), (1, 0)):
        with open_movie(path, z=z, channel=c) as movie:
            assert movie.shape == (5, 12, 10)
            np.testing.assert_array_equal(movie[:], reference[:, z, c])


def test_concurrent_reads_from_threads(tmp_path, shared_data):
    """napari slicing and a localization worker read the same Movie from two threads."""
    from concurrent.futures import ThreadPoolExecutor

    frames = _frames(60, 32, 32, seed=9)
    paths = write_mmstack(tmp_path, frames, frames_per_file=25)
    raw = shared_data / "raw-picasso" / "testdata.raw"
    raw_frames = np.fromfile(raw, "<u2").reshape(100, 32, 32)
    for path, reference in ((paths[0], frames), (raw, raw_frames)):
        n_frames = len(reference)
        with open_movie(path) as movie:

            def read(i, movie=movie, n_frames=n_frames):
                start = (i * 7) % (n_frames - 5)
                return start, movie[start : start + 5]

            with ThreadPoolExecutor(4) as pool:
                for start, chunk in pool.map(read, range(200)):
                    np.testing.assert_array_equal(chunk, reference[start : start + 5])


def test_metadata_choices_reopen_the_same_movie(shared_data, mmstack_folder, tmp_path):
    """``metadata["Choices"]`` is what a widget or the watcher passes to reopen a movie."""
    paths = write_mmstack(tmp_path, _frames(12), position="Pos1", frames_per_file=5)
    write_mmstack(tmp_path, _frames(12, seed=1), position="Pos0")
    cases = [
        (sorted(mmstack_folder.glob("*.ome.tif"))[2], {"channel": "DAPI", "z": 1}),
        (shared_data / "nd2" / "cluster.nd2", {"frame_axis": "z", "time": 1, "channel": 0}),
        (shared_data / "ndtiff" / "v2" / "ndtiffv2.0_test", {"channel": 1}),
        (paths[0], {}),
    ]
    for path, choices in cases:
        with open_movie(path, **choices) as movie:
            frames = movie[:]
            reopen = movie.metadata["Choices"]
        for key in choices:
            assert key in reopen
        with open_movie(path, **reopen) as again:
            np.testing.assert_array_equal(again[:], frames)
    assert reopen == {"position": "Pos1"}
