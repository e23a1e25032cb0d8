"""``--baseline auto``: the camera offset measured on a movie's dark frames, in every front end."""

import numpy as np
import pytest
import yaml

from napari_picasso.cli import main
from napari_picasso.groups import load_groups
from napari_picasso.io.locs import load_locs
from napari_picasso.io.raw import write_raw_info
from napari_picasso.pipeline import localize_file
from napari_picasso.simulate import CameraModel, dark_start_movie, true_offset

CAMERA = CameraModel(baseline=113.4, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)


def write_raw(path, frames):
    frames.astype("<u2").tofile(path)
    n, h, w = frames.shape
    write_raw_info(path, w, h, n, "uint16", "<")
    return path


@pytest.fixture(scope="module")
def dark_start(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dark")
    frames, _ = dark_start_movie(120, n_dark_frames=20, camera=CAMERA, seed=4, n_sites=20, photons=1500)
    return write_raw(folder / "dark_start.raw", frames)


@pytest.fixture(scope="module")
def lit_from_start(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lit")
    frames, _ = dark_start_movie(120, n_dark_frames=0, camera=CAMERA, seed=5, n_sites=20, photons=1500)
    return write_raw(folder / "lit.raw", frames)


def localization_document(locs_path):
    return [d for d in yaml.safe_load_all(open(locs_path.with_suffix(".yaml"))) if "Baseline" in d][0]


def test_command_line_measures_and_records_the_offset(dark_start, tmp_path, capsys):
    options = ["--gradient", "1500", "--sensitivity", "0.5", "--no-db", "-q"]
    assert main(["localize", str(dark_start), "--out", str(tmp_path / "auto"), "--baseline", "auto", *options]) == 0
    locs_path = tmp_path / "auto" / "dark_start_locs.hdf5"
    doc = localization_document(locs_path)
    assert abs(doc["Baseline"] - true_offset(CAMERA)) < 0.5
    assert doc["Baseline source"] == "dark frames (automatically)" and doc["Dark frames"] == [0, 20]
    assert "Dark frames requested" not in doc
    # The run is the run with that number given: the file records what reproduces it.
    given = ["--baseline", str(doc["Baseline"])]
    assert main(["localize", str(dark_start), "--out", str(tmp_path / "given"), *given, *options]) == 0
    auto_locs = load_locs(locs_path, with_info=False)
    assert len(auto_locs) > 50
    assert auto_locs.tobytes() == load_locs(tmp_path / "given" / "dark_start_locs.hdf5", with_info=False).tobytes()


def test_frames_given_by_hand(dark_start, tmp_path):
    options = ["--baseline", "auto", "--dark-frames", "2:15", "--gradient", "1500", "--no-db", "-q"]
    assert main(["localize", str(dark_start), "--out", str(tmp_path), *options]) == 0
    doc = localization_document(tmp_path / "dark_start_locs.hdf5")
    assert doc["Baseline source"] == "dark frames (given)" and doc["Dark frames"] == [2, 15]
    assert abs(doc["Baseline"] - true_offset(CAMERA)) < 0.5


def test_a_movie_without_dark_frames_is_refused(lit_from_start, tmp_path, capsys):
    code = main(["localize", str(lit_from_start), "--out", str(tmp_path), "--baseline", "auto", "--no-db", "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "no dark frames found" in err and "--baseline N" in err and "Traceback" not in err
    assert not list(tmp_path.glob("*_locs.*"))


def test_dark_frames_without_auto_are_refused(dark_start, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["localize", str(dark_start), "--dark-frames", "0:x"])
    assert exited.value.code == 2 and "START:STOP" in capsys.readouterr().err
    assert main(["localize", str(dark_start), "--out", str(tmp_path), "--dark-frames", "0:10", "--no-db"]) == 1
    assert "give --baseline auto" in capsys.readouterr().err


def test_a_watcher_group_takes_auto(dark_start, tmp_path):
    groups = tmp_path / "groups.yaml"
    groups.write_text("- {baseline: auto, gradient: 1500, sensitivity: 0.5}\n")
    (group,) = load_groups(groups)
    assert group.baseline == "auto"
    result = localize_file(dark_start, group, tmp_path / "g_locs.hdf5")
    assert localization_document(result.locs_path)["Baseline source"] == "dark frames (automatically)"


def test_the_dock_offers_auto(make_napari_viewer, qtbot, dark_start, tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_PICASSO_SETTINGS", str(tmp_path / "localize.json"))
    monkeypatch.setenv("NAPARI_PICASSO_CONFIG", str(tmp_path / "no-config.yaml"))
    viewer = make_napari_viewer()
    viewer.open(dark_start, plugin="napari-picassosr")
    _, dock = viewer.window.add_plugin_dock_widget("napari-picassosr", "Localize")
    baseline = dock.photons.baseline
    baseline.value = baseline.min  # the spin box's lowest entry reads "auto"
    assert baseline.native.text() == "auto"
    dock.identification.min_net_gradient.value = 1500
    dock.photons.sensitivity.value = 0.5
    dock.fit.out_folder.value = str(tmp_path)
    assert dock.parameters().baseline == "auto"
    dock.preview.preview.value = True  # the preview measures the offset too
    viewer.dims.set_current_step(0, 60)
    qtbot.waitUntil(lambda: not dock.preview_busy and (dock.preview_result or {}).get("frame") == 60, timeout=60000)
    assert "error" not in dock.preview_result and len(dock.preview_result["x"]) > 0
    dock.start_localize()
    qtbot.waitUntil(lambda: not dock.localize_busy, timeout=60000)
    doc = localization_document(tmp_path / "dark_start_locs.hdf5")
    assert doc["Baseline source"] == "dark frames (automatically)"
    assert np.isclose(doc["Baseline"], true_offset(CAMERA), atol=0.5)
    # remembered as "auto", not as the number of one movie
    assert dock.settings()["baseline"] == "auto"
