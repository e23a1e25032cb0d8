"""The parameter schema: every parameter reaches the command line, groups.yaml, the dock and
``_locs.yaml``, and a new one (or a new fit method) does so without touching those modules.
"""

import contextlib
import io

import numpy as np
import pytest
import yaml

from napari_picasso import fitters, parameters
from napari_picasso.calibrate.psf import calibration_from_volume
from napari_picasso.cli import build_parser, main
from napari_picasso.core import zfit
from napari_picasso.fitters.base import Fitter
from napari_picasso.fitters.gaussian import AVERAGE
from napari_picasso.groups import load_groups
from napari_picasso.io.camera_maps import save_camera_maps
from napari_picasso.io.channels import map_document, save_channels
from napari_picasso.io.errors import ParameterError
from napari_picasso.io.locs import load_info, load_locs, save_locs
from napari_picasso.io.psf_calib import save_psf_calibration
from napari_picasso.io.zcalib import save_calibration
from napari_picasso.parameters import SCHEMA, LocalizeParameters, Parameter
from napari_picasso.simulate import scmos_camera


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A real 3D calibration and real sCMOS maps for the file parameters."""
    folder = tmp_path_factory.mktemp("files")
    z_nm = zfit.frame_positions_nm(81, 20.0)
    sx = 1.0 + 0.5 * ((z_nm - 200) / 400) ** 2
    sy = 1.0 + 0.5 * ((z_nm + 200) / 400) ** 2
    frame = np.repeat(np.arange(81), 5)
    calibration, _ = zfit.calibrate(frame, np.repeat(sx, 5), np.repeat(sy, 5), 81, 20.0, 0.79)
    chip = scmos_camera(16, 16, seed=1)
    channels = {
        "map": map_document([1.0, 1.0, 0.0], [-1.0, 0.0, 1.0]),
        "rms_residual_nm": 1.0,
        "splitter": "left-right",
    }
    channels.update(camera_width=32, camera_height=16)
    yy, xx = np.mgrid[-3:4, -3:4]
    volume = np.stack([np.exp(-(xx**2 / w + yy**2 * w) / 2) for w in np.linspace(0.5, 2.0, 9)])
    psf = calibration_from_volume(volume, step_nm=50.0, pixelsize_nm=parameters.parameter("pixelsize_nm").default)
    return {
        "channels": save_channels(folder / "beads_channels.yaml", {**channels, "flip": False}),
        "channels_flip": save_channels(folder / "flipped_channels.yaml", {**channels, "flip": True}),
        "psf": save_psf_calibration(folder / "beads_spline_calib.hdf5", psf),
        "zcalib": save_calibration(folder / "beads_3d_calib.yaml", calibration),
        "maps": save_camera_maps(folder / "maps.hdf5", chip.offset_map, chip.variance_map, chip.gain_map),
    }


def example_value(item, files):
    """A value other than the default, as a user would give it (text or YAML)."""
    special = {
        "fit_method": "mle-3d",  # the method that reads the most fit-scope parameters
        "box": 9,
        "roi": [2, 3, 14, 15],
        "rois": [[1, 1, 9, 9], [10, 10, 15, 15]],
        "frame_range": [2, 30],
        "camera_maps_origin": [4, 6],
        "background_frames": "-10:0",
        "detector": "snr",
        "background_statistic": "mean",
        "camera": "Andor iXon",
        "camera_maps": str(files["maps"]),
        "z_calibration": str(files["zcalib"]),
        "qe": 0.8,
        "em_gain": 3.0,
        "tolerance_px": 0.01,
        "dark_frames": "0:20",
        "device": "cpu",  # "gpu" is refused on a machine without one
        "splitter": "left-right",
        "channels": str(files["channels"]),
        "colours": "red:0:0.45 far-red:0.45:1",
        "psf": str(files["psf"]),
    }
    if item.name in special:
        return special[item.name]
    if item.kind == "bool":
        return not item.default
    if item.kind == "int":
        return item.default + 3
    if item.kind == "float":
        return 0.4 if item.default is None else item.default * 2 + 0.25
    raise AssertionError(f"no example for {item.name} ({item.kind}): add one to example_value")


def run_with(item, value, files=None):
    """Values that let ``item`` apply: fit-scope parameters need the fit method reading them."""
    values = {item.name: value}
    if item.name in ("splitter", "splitter_flip", "channels", "colours") and files is not None:
        values.update(fit_method="mle-ratio", splitter="left-right")
        values.setdefault("channels", str(files["channels_flip" if item.name == "splitter_flip" else "channels"]))
    if item.name == "psf":
        values["fit_method"] = "spline-mle"
    if item.scope == "fit" and item.name != "shared_sigma":
        users = [name for name in fitters.names() if fitters.get(name).uses(item.name)]
        values.setdefault("fit_method", "mle-3d" if "mle-3d" in users else users[0])
    if item.name == "subtract_background":
        values["background_frames"] = "-10:0"
    if item.name == "dark_frames":
        values["baseline"] = "auto"
    return values


def help_text(*arguments):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args([*arguments, "--help"])
    return " ".join(out.getvalue().split())


@pytest.mark.parametrize("item", SCHEMA, ids=lambda item: item.name)
def test_every_parameter_is_an_option_with_its_default_shown(item):
    text = help_text("localize")
    start = text.index(item.flag + " ", text.index("localization:"))
    entry = text[start : start + 900]
    assert f"(default: {item.default_text()})" in entry, entry


@pytest.mark.parametrize("item", SCHEMA, ids=lambda item: item.name)
def test_every_parameter_is_a_groups_yaml_key(item, files, tmp_path):
    value = example_value(item, files)
    values = run_with(item, value, files)
    if values.get("fit_method", "").endswith("-3d"):
        values.setdefault("z_calibration", str(files["zcalib"]))
    group = {parameters.parameter(name).key: v for name, v in values.items()}
    path = tmp_path / "groups.yaml"
    path.write_text(yaml.safe_dump([group]))
    (loaded,) = load_groups(path)
    assert getattr(loaded, item.name) == item.convert(value)


@pytest.mark.parametrize("item", SCHEMA, ids=lambda item: item.name)
def test_every_parameter_round_trips_through_locs_yaml(item, files, tmp_path):
    values = {
        name: parameters.parameter(name).convert(v)
        for name, v in run_with(item, example_value(item, files), files).items()
    }
    if values.get("fit_method", "").endswith("-3d"):
        values.setdefault("z_calibration", parameters.parameter("z_calibration").convert(str(files["zcalib"])))
    if item.name == "rois":
        values["roi"] = None
    original = LocalizeParameters(**values)
    assert getattr(original, item.name) != item.default
    info = [{"Width": 16, "Height": 16, "Frames": 40}, original.to_info()]
    path = save_locs(tmp_path / "m_locs.hdf5", np.zeros(0, dtype=fitters.get(original.fit_method).dtype), info)
    assert LocalizeParameters.from_info(load_info(path)[1]) == original
    assert len(load_locs(path, with_info=False)) == 0


def test_every_parameter_is_in_the_dock(make_napari_viewer, files, tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_PICASSO_SETTINGS", str(tmp_path / "localize.json"))
    monkeypatch.setenv("NAPARI_PICASSO_CONFIG", str(tmp_path / "no-config.yaml"))
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((40, 16, 16), np.uint16), name="movie")
    _, dock = viewer.window.add_plugin_dock_widget("napari-picassosr", "Localize")
    sections = {"identification": dock.identification, "photons": dock.photons, "fit": dock.fit}
    # Drawn by hand in their sections: the widget that sets each.
    custom = {
        "roi": dock.identification.roi_text,
        "rois": dock.identification.roi_text,
        "frame_range": dock.identification.last_frame,
        "camera": dock.photons.camera,
        "em_gain": dock.photons.em_gain,
    }
    for item in SCHEMA:
        if item.dock == "custom":
            assert item.name in custom, f"{item.name}: a custom dock parameter without its widget"
            continue
        section = sections[item.section]
        assert item.name in section.fields, f"{item.name} has no field in the {item.section} section"
        assert getattr(section, item.name) is section.fields[item.name]
    # Each field reaches the parameters, typed as a user types.
    from napari_picasso._widgets._fields import show_value

    dock.fit.fit_method.value = "mle-3d"
    dock.fit.z_calibration.value = str(files["zcalib"])
    for item in SCHEMA:
        if item.dock == "custom" or item.name in ("fit_method", "z_calibration"):
            continue
        value = example_value(item, files)
        field = sections[item.section].fields[item.name]
        users = [name for name in fitters.names() if fitters.get(name).uses(item.name)]
        if item.scope == "fit" and "mle-3d" not in users:  # shared sigma: mle; max emitters: mle-multi
            dock.fit.fit_method.value = users[0]
        show_value(item, field, value)
        assert getattr(dock.parameters(), item.name) == item.convert(value), item.name
        show_value(item, field, item.default)
        dock.fit.fit_method.value = "mle-3d"
    dock.identification.roi_text.value = "2, 3, 14, 15"
    assert dock.parameters().roi == (2, 3, 14, 15)
    dock.identification.roi_text.value = "1, 1, 9, 9; 10, 10, 15, 15"
    assert dock.parameters().rois == ((1, 1, 9, 9), (10, 10, 15, 15))
    dock.identification.last_frame.value = 29
    assert dock.parameters().frame_range == (0, 30)
    dock.photons.em_gain.value = 3.0
    assert dock.parameters().em_gain == 3.0


EXAMPLE = Parameter(
    "example_threshold",
    1.5,
    "float",
    "an example threshold only this test declares",
    "--example-threshold",
    "Example threshold",
    minimum=0,
    label="example threshold",
    section="fit",
)


def test_a_new_parameter_reaches_every_front_end(make_napari_viewer, tmp_path, monkeypatch, capsys):
    """One declaration, and the option, the groups key, the dock field and the YAML key exist."""
    monkeypatch.setenv("NAPARI_PICASSO_SETTINGS", str(tmp_path / "localize.json"))
    monkeypatch.setenv("NAPARI_PICASSO_CONFIG", str(tmp_path / "no-config.yaml"))
    assert "--example-threshold" not in help_text("localize")
    with parameters.added(EXAMPLE):
        assert "--example-threshold EXAMPLE_THRESHOLD an example threshold" in help_text("localize")
        assert "(default: 1.5)" in help_text("localize")
        args = build_parser().parse_args(["localize", "m.tif", "--example-threshold", "2.5"])
        assert parameters.from_arguments(args).example_threshold == 2.5
        # refused like any number out of its limits
        with pytest.raises(SystemExit) as exited:
            main(["localize", str(tmp_path / "m.tif"), "--example-threshold", "-1"])
        assert exited.value.code == 2
        assert "example threshold (--example-threshold) must be a number >= 0; got '-1'" in capsys.readouterr().err
        groups = tmp_path / "groups.yaml"
        groups.write_text("- {example-threshold: 3.0, gradient: 800}\n")
        assert load_groups(groups)[0].example_threshold == 3.0
        viewer = make_napari_viewer()
        viewer.add_image(np.zeros((10, 16, 16), np.uint16), name="movie")
        _, dock = viewer.window.add_plugin_dock_widget("napari-picassosr", "Localize")
        assert dock.fit.example_threshold.label == "example threshold"
        dock.fit.example_threshold.value = 4.0
        chosen = dock.parameters()
        assert chosen.example_threshold == 4.0
        info = chosen.to_info()
        assert info["Example threshold"] == 4.0
        assert LocalizeParameters.from_info(yaml.safe_load(yaml.safe_dump(info))) == chosen
    assert "--example-threshold" not in help_text("localize")
    assert not hasattr(LocalizeParameters(), "example_threshold")


def _centroid_columns(locs, fit, parameters):
    AVERAGE.columns(locs, fit, parameters)
    locs["spot_max"] = fit["spot_max"]


def _centroid_fit(spots, parameters, extra_variance):
    fit = AVERAGE.fit(spots, parameters, extra_variance)
    fit["spot_max"] = spots.max(axis=(1, 2))
    return fit


CENTROID = Fitter(
    name="centroid-test",
    title="Centroid with peak (test)",
    fields=(("spot_max", "f4"),),
    parameters=(),
    fit=_centroid_fit,
    columns=_centroid_columns,
)


@pytest.fixture
def centroid_fitter():
    fitters.register(CENTROID)
    try:
        yield CENTROID
    finally:
        fitters.unregister(CENTROID.name)


def test_a_new_fit_method_runs_everywhere(centroid_fitter, blinking_movie, tmp_path, make_napari_viewer, monkeypatch):
    """A fit method registered in one place: --fit, groups, the dock's menu, the pipeline."""
    monkeypatch.setenv("NAPARI_PICASSO_SETTINGS", str(tmp_path / "localize.json"))
    path, _, camera = blinking_movie
    assert "centroid-test" in help_text("localize")
    options = ["--fit", "centroid-test", "--gradient", "1500", "--baseline", "100", "--sensitivity", "0.5"]
    assert main(["localize", str(path), "--out", str(tmp_path), "--no-db", "--quiet", *options]) == 0
    locs, info = load_locs(tmp_path / "blinking_locs.hdf5")
    assert locs.dtype == centroid_fitter.dtype and len(locs) > 50
    assert (locs["spot_max"] > 0).all()
    assert info[1]["Fit method name"] == "Centroid with peak (test)"
    assert "Max. Iterations" not in info[1]  # it reads no iteration limit
    groups = tmp_path / "groups.yaml"
    groups.write_text("- {fit: centroid-test}\n")
    assert load_groups(groups)[0].fit_method == "centroid-test"
    viewer = make_napari_viewer()
    _, dock = viewer.window.add_plugin_dock_widget("napari-picassosr", "Localize")
    assert "centroid-test" in dock.fit.fit_method.choices
    dock.fit.fit_method.value = "centroid-test"
    assert not dock.fit.max_iterations.enabled  # hidden: the method does not read it


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--gradient", "nan", "min net gradient (--gradient) must be a number >= 0; got 'nan'"),
        ("--gradient", "-1000", "must be a number >= 0; got '-1000'"),
        ("--pixelsize", "0", "pixel size (nm) (--pixelsize) must be a number > 0 and <= 100000; got '0'"),
        ("--baseline", "nan", "baseline (counts) (--baseline) must be a number >= 0 or auto; got 'nan'"),
        ("--sensitivity", "-1", "must be a number > 0"),
        ("--box", "6", "box must be odd and >= 3"),
        ("--max-iterations", "2.5", "must be a whole number >= 1"),
        ("--fit", "spline", "invalid choice: 'spline'"),
    ],
)
def test_values_out_of_their_limits_are_refused(option, value, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["localize", str(tmp_path / "m.tif"), option, value])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_fit_option_for_another_method_is_refused():
    with pytest.raises(ParameterError, match="applies to the mle-3d and lq-3d fit methods only"):
        parameters.check_values(LocalizeParameters(fit_method="mle", max_d_zcalib=0.1))


def test_convert_reads_text_yaml_and_numbers_alike():
    box = parameters.parameter("box")
    assert box.convert("9") == box.convert(9) == box.convert(9.0) == 9
    with pytest.raises(ParameterError):
        box.convert(True)
    origin = parameters.parameter("camera_maps_origin")
    assert origin.convert("4 6") == origin.convert("4, 6") == origin.convert([4, 6]) == (4, 6)
    assert origin.convert("") is None
    rois = parameters.parameter("rois")
    assert rois.convert("1,1,9,9; 10,10,15,15") == rois.convert([[1, 1, 9, 9], [10, 10, 15, 15]])
