"""Full-sensor sCMOS maps applied to a movie acquired with a camera ROI.

The movie is written by tifffile with Micro-Manager's per-frame metadata tag (51123)
carrying the camera ROI as Micro-Manager records it (``"ROI": "x-y-width-height"``); the
maps cover the whole (simulated) sensor.
"""

import dataclasses
import gzip
import json
import shutil

import numpy as np
import pytest
import tifffile

from napari_picasso.cli import main
from napari_picasso.detection import load_maps, with_maps_origin
from napari_picasso.distributed.blocks import close_open_movies, localize_block, plan_blocks
from napari_picasso.io.camera_maps import crop_to_movie, load_camera_maps, save_camera_maps
from napari_picasso.io.errors import InputFileError, ParameterError
from napari_picasso.io.locs import load_locs
from napari_picasso.io.movies import open_movie
from napari_picasso.pipeline import LocalizeParameters, localize, localize_file
from napari_picasso.simulate import isolated_spots, render_movie, scmos_camera

SENSOR = (96, 128)  # height, width of the whole chip
ROI = dict(y=20, x=40, height=56, width=64)
N_FRAMES = 12


@pytest.fixture(scope="module")
def roi_acquisition(tmp_path_factory):
    """(folder, movie with ROI metadata, the same movie without, full maps, cropped maps, truth)."""
    folder = tmp_path_factory.mktemp("roi")
    chip = scmos_camera(*SENSOR, hot_fraction=0.03, seed=11)
    window = (slice(ROI["y"], ROI["y"] + ROI["height"]), slice(ROI["x"], ROI["x"] + ROI["width"]))
    camera = dataclasses.replace(
        chip, offset_map=chip.offset_map[window], variance_map=chip.variance_map[window], gain_map=chip.gain_map[window]
    )
    truth = isolated_spots(N_FRAMES, ROI["height"], ROI["width"], spacing_px=12, photons=800, sigma_px=1.0, seed=11)
    frames = render_movie(truth, N_FRAMES, ROI["height"], ROI["width"], bg_photons=5.0, camera=camera, seed=11)
    movie = folder / "roi.tif"
    roi_text = f"{ROI['x']}-{ROI['y']}-{ROI['width']}-{ROI['height']}"
    with tifffile.TiffWriter(movie) as tif:
        for i, frame in enumerate(frames):
            tag = json.dumps({"Camera": "HamamatsuHam_DCAM", "ROI": roi_text, "Binning": "1", "FrameIndex": i})
            tif.write(frame, photometric="minisblack", metadata=None, extratags=[(51123, "s", 0, tag, True)])
    bare = folder / "bare.tif"
    tifffile.imwrite(bare, frames, photometric="minisblack")
    full = save_camera_maps(folder / "sensor_scmos_calib.hdf5", chip.offset_map, chip.variance_map, chip.gain_map)
    cropped = save_camera_maps(folder / "roi_scmos_calib.hdf5", camera.offset_map, camera.variance_map, camera.gain_map)
    return folder, movie, bare, full, cropped, truth, chip


def parameters_for(maps, **extra):
    return LocalizeParameters(detector="snr", snr_threshold=1.0, camera_maps=str(maps), **extra)


def test_the_movie_records_its_camera_roi(roi_acquisition):
    _, movie, bare, *_ = roi_acquisition
    with open_movie(movie) as opened:
        assert opened.shape == (N_FRAMES, ROI["height"], ROI["width"])
        assert opened.metadata["Camera ROI"] == {"x": 40, "y": 20, "width": 64, "height": 56}
    with open_movie(bare) as opened:
        assert "Camera ROI" not in opened.metadata


def test_full_sensor_maps_are_cut_at_the_recorded_roi(roi_acquisition):
    _, movie, _, full, _, _, chip = roi_acquisition
    with open_movie(movie) as opened:
        maps = load_maps(parameters_for(full), opened.shape, None, opened.path.name, opened.metadata)
    window = (slice(20, 76), slice(40, 104))
    assert maps.origin == (20, 40) and maps.shape == (56, 64)
    np.testing.assert_array_equal(maps.offset, chip.offset_map[window])
    np.testing.assert_array_equal(maps.variance, chip.variance_map[window])
    np.testing.assert_array_equal(maps.gain, chip.gain_map[window])
    # the cut is not a view of the full maps (kernels get contiguous arrays)
    assert maps.offset.flags.c_contiguous and maps.offset.base is None


def test_localizations_equal_those_with_precut_maps(roi_acquisition, tmp_path):
    _, movie, _, full, cropped, truth, _ = roi_acquisition
    reference = localize_file(movie, parameters_for(cropped), tmp_path / "precut_locs.hdf5")
    result = localize_file(movie, parameters_for(full), tmp_path / "full_locs.hdf5")
    precut_locs, _ = load_locs(reference.locs_path)
    locs, info = load_locs(result.locs_path)
    assert len(locs) >= 0.95 * len(truth)  # the run finds the spots: not two empty tables
    np.testing.assert_array_equal(locs, precut_locs)
    # the _locs.yaml says which maps were used and where they were cut
    document = info[1]
    assert document["Camera maps"] == str(full) and document["Camera maps origin"] == [20, 40]
    assert info[0]["Camera ROI"] == {"x": 40, "y": 20, "width": 64, "height": 56}
    assert LocalizeParameters.from_info(document).camera_maps_origin == (20, 40)
    assert "Camera maps origin" not in load_locs(reference.locs_path)[1][1]


def test_distributed_blocks_cut_the_maps_identically(roi_acquisition):
    """What each task of the distributed runner does: reopen the movie, reload the maps."""
    _, movie, _, full, _, _, _ = roi_acquisition
    serial = localize(str(movie), parameters_for(full))
    with open_movie(movie) as opened:
        resolved = with_maps_origin(parameters_for(full), opened.shape, opened.metadata, opened.path.name)
    assert resolved.camera_maps_origin == (20, 40)
    try:
        for parameters in (parameters_for(full), resolved):
            rows = [localize_block(str(movie), {}, block, parameters) for block in plan_blocks(0, N_FRAMES, 5, 0)]
            np.testing.assert_array_equal(np.concatenate(rows), serial)
    finally:
        close_open_movies()


def test_explicit_origin_without_roi_metadata(roi_acquisition, tmp_path):
    folder, movie, bare, full, cropped, _, _ = roi_acquisition
    reference = localize(str(bare), parameters_for(cropped))
    with_origin = localize(str(bare), parameters_for(full, camera_maps_origin=(20, 40)))
    assert len(reference) > 0
    np.testing.assert_array_equal(with_origin, reference)
    # the command line's --camera-maps-origin Y X
    code = main(
        [
            "localize",
            str(bare),
            "--quiet",
            "--detector",
            "snr",
            "--camera-maps",
            str(full),
            "--camera-maps-origin",
            "20",
            "40",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    locs, info = load_locs(tmp_path / "bare_locs.hdf5")
    np.testing.assert_array_equal(locs, reference)
    assert info[1]["Camera maps origin"] == [20, 40]
    # an explicit origin wins over the metadata's
    shifted = load_maps(
        parameters_for(full, camera_maps_origin=(0, 0)),
        (N_FRAMES, 56, 64),
        None,
        "roi.tif",
        {"Camera ROI": {"x": 40, "y": 20, "width": 64, "height": 56}},
    )
    assert shifted.origin == (0, 0)


def test_larger_maps_without_an_origin_say_how_to_fix_it(roi_acquisition, capsys):
    _, _, bare, full, _, _, _ = roi_acquisition
    with pytest.raises(InputFileError) as error:
        localize(str(bare), parameters_for(full))
    message = str(error.value)
    assert str(full) in message and "96x128" in message and "56x64" in message
    assert "--camera-maps-origin Y X" in message and "camera_maps_origin" in message and "dock" in message
    code = main(["localize", str(bare), "--quiet", "--detector", "snr", "--camera-maps", str(full)])
    assert code == 1 and "--camera-maps-origin" in capsys.readouterr().err


def test_metadata_roi_of_another_size_is_not_used(roi_acquisition):
    _, _, _, full, _, _, _ = roi_acquisition
    maps = load_camera_maps(full)
    with pytest.raises(InputFileError, match="records no camera ROI"):
        crop_to_movie(maps, (56, 64), metadata={"Camera ROI": {"x": 0, "y": 0, "width": 128, "height": 96}})


def test_maps_smaller_than_the_movie_or_roi_outside(roi_acquisition, tmp_path):
    _, movie, _, full, _, _, chip = roi_acquisition
    small = save_camera_maps(tmp_path / "small.hdf5", chip.offset_map[:40, :40], chip.variance_map[:40, :40])
    with pytest.raises(InputFileError, match=r"small.hdf5: the maps are 40x40 pixels, smaller than roi.tif's 56x64"):
        localize(str(movie), parameters_for(small))
    with pytest.raises(
        InputFileError,
        match=r"origin \(y, x\) = \(50, 40\) \(the given origin\) lie outside the "
        r"96x128 maps.*0 <= y <= 40 and 0 <= x <= 64",
    ):
        localize(str(movie), parameters_for(full, camera_maps_origin=(50, 40)))
    # a recorded ROI that does not fit the maps (maps of another camera)
    other = save_camera_maps(tmp_path / "other.hdf5", chip.offset_map[:60, :100], chip.variance_map[:60, :100])
    with pytest.raises(InputFileError, match=r"\(20, 40\) \(the camera ROI in roi.tif's metadata\) lie outside"):
        localize(str(movie), parameters_for(other))
    with pytest.raises(ParameterError, match="two whole numbers"):
        localize(str(movie), parameters_for(full, camera_maps_origin=(-1, 3)))


def test_real_micromanager_files_record_their_roi(shared_data, tmp_path):
    packed = sorted((shared_data / "mmstack-1.4").glob("*Pos_000_000.ome.tif.gz"))[0]
    path = tmp_path / packed.name[:-3]
    with gzip.open(packed, "rb") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    with open_movie(path, channel=0, z=0) as movie:
        assert movie.metadata["Camera ROI"] == {"x": 0, "y": 0, "width": 64, "height": 64}
    with open_movie(shared_data / "ndtiff" / "v3" / "ndtiff3.2_11bit_1") as movie:
        assert movie.metadata["Camera ROI"] == {"x": 0, "y": 0, "width": 64, "height": 64}
