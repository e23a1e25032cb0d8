"""config.yaml: sensitivity categories, Micro-Manager matching, fallback, bad files."""

import pytest
import tifffile

from napari_picasso.io.camera_config import (
    CONFIG_ENV,
    camera_settings,
    config_path,
    load_cameras,
    match_camera,
)
from napari_picasso.io.errors import InputFileError
from napari_picasso.io.movies import open_movie

CONFIG = """
Cameras:
  Andor iXon:
    Pixelsize: 130
    Baseline: 100
    Quantum Efficiency: 0.95
    Sensitivity Categories:
      - ReadoutMode
      - Pre-Amp Gain
    Sensitivity:
      30 MHz:
        Gain 1: 5.3
        Gain 2: 2.8
      17 MHz:
        Gain 1: 4.1
        Gain 2: 2.2
    Gain Property Name: Gain
    EM Switch Property:
      Name: Output_Amplifier
      True: Electron Multiplying
      False: Conventional
  Hamamatsu:
    Pixelsize: 108
    Baseline: 400
    Sensitivity: 0.46
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return path


def test_categories_nest_and_choose_sensitivity(config_file):
    ixon, hamamatsu = load_cameras(config_file)
    assert ixon.name == "Andor iXon" and ixon.categories == ["ReadoutMode", "Pre-Amp Gain"]
    assert ixon.category_choices() == ["30 MHz", "17 MHz"]
    assert ixon.category_choices(["17 MHz"]) == ["Gain 1", "Gain 2"]
    assert ixon.sensitivity_for(["17 MHz", "Gain 2"]) == 2.2
    assert ixon.sensitivity_for(["30 MHz", "Gain 2"]) == 2.8
    assert ixon.qe == 0.95 and ixon.em_switch_property == "Output_Amplifier"
    assert ixon.em_switch_on == "Electron Multiplying"
    assert hamamatsu.sensitivity_for() == 0.46 and hamamatsu.categories == []


def test_micromanager_metadata_picks_camera_categories_and_gain(config_file):
    cameras = load_cameras(config_file)
    metadata = {
        "Camera": "Andor iXon",
        "Micro-Manager Metadata": {
            "Camera": "Andor iXon",
            "Andor iXon-ReadoutMode": "17 MHz",
            "Andor iXon-Pre-Amp Gain": "Gain 2",
            "Andor iXon-Gain": "200",
            "Andor iXon-Output_Amplifier": "Electron Multiplying",
        },
    }
    camera, matched = match_camera(cameras, metadata)
    assert matched and camera.name == "Andor iXon"
    settings = camera_settings(camera, metadata)
    assert settings["categories"] == ["17 MHz", "Gain 2"]
    assert settings["sensitivity"] == 2.2 and settings["em_gain"] == 200.0
    assert settings["baseline"] == 100.0 and settings["pixelsize_nm"] == 130.0 and settings["qe"] == 0.95
    # Conventional amplifier: the EM gain property is ignored.
    metadata["Micro-Manager Metadata"]["Andor iXon-Output_Amplifier"] = "Conventional"
    assert camera_settings(camera, metadata)["em_gain"] == 1.0
    # The user's choice overrides the metadata.
    assert camera_settings(camera, metadata, categories=["30 MHz", "Gain 1"])["sensitivity"] == 5.3


def test_second_camera_matched_from_a_real_micromanager_tiff(config_file, tmp_path):
    # A Micro-Manager-style TIFF (per-frame tag 51123 holding JSON) written by tifffile.
    import json

    import numpy as np

    path = tmp_path / "movie_MMStack_Pos0.ome.tif"
    tags = json.dumps({"Camera": "Hamamatsu", "Hamamatsu-Binning": "1x1"})
    with tifffile.TiffWriter(path) as tif:
        for _ in range(3):
            tif.write(np.zeros((16, 16), np.uint16), contiguous=False, extratags=[(51123, "s", 0, tags, True)])
    with open_movie(path) as movie:
        metadata = movie.metadata
    camera, matched = match_camera(load_cameras(config_file), metadata)
    assert matched and camera.name == "Hamamatsu"
    assert camera_settings(camera, metadata)["sensitivity"] == 0.46


def test_unknown_camera_falls_back_to_the_first(config_file):
    cameras = load_cameras(config_file)
    camera, matched = match_camera(cameras, {"Camera": "Simulation"})
    assert not matched and camera.name == "Andor iXon"
    settings = camera_settings(camera, {})
    assert settings["categories"] == ["30 MHz", "Gain 1"] and settings["sensitivity"] == 5.3
    assert settings["em_gain"] == 1.0
    camera, matched = match_camera(cameras, None)
    assert not matched and camera.name == "Andor iXon"


@pytest.mark.parametrize(
    "text, words",
    [
        ("Cameras: [a, b]", "no 'Cameras' mapping"),
        ("Cameras:\n  Cam:\n    Baseline: 100\n", "lacks Pixelsize, Sensitivity"),
        ("Cameras:\n  Cam:\n    Baseline: hundred\n    Pixelsize: 1\n    Sensitivity: 1\n", "Baseline is 'hundred'"),
        (
            "Cameras:\n  Cam:\n    Baseline: 1\n    Pixelsize: 1\n    Sensitivity Categories: [Mode]\n"
            "    Sensitivity: 2\n",
            "must nest one mapping level",
        ),
        ("Cameras:\n  Cam: {Baseline: 1\n", "not valid YAML"),
    ],
)
def test_malformed_files_say_what_is_wrong(tmp_path, text, words):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(InputFileError) as error:
        load_cameras(path)
    assert str(path) in str(error.value) and words in str(error.value)


def test_config_path_env_var_wins(tmp_path, monkeypatch):
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert config_path(tmp_path / "mine.yaml") == tmp_path / "mine.yaml"
    assert config_path().name == "config.yaml"
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "env.yaml"))
    assert config_path(tmp_path / "mine.yaml") == tmp_path / "env.yaml"
    with pytest.raises(InputFileError, match="no such camera configuration"):
        load_cameras(config_path())
