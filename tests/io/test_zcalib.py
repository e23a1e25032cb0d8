"""3D calibration files: Picasso's keys, round trip, bad files."""

import numpy as np
import pytest
import yaml

from napari_picasso.core import zfit
from napari_picasso.io.errors import InputFileError
from napari_picasso.io.zcalib import calibration_path_for, load_calibration, save_calibration
from napari_picasso.pipeline import LocalizeParameters
from napari_picasso.simulate import AstigmaticPSF

PICASSO_KEYS = [
    "X Coefficients",
    "Y Coefficients",
    "Number of frames",
    "Step size in nm",
    "Magnification factor",
    "Path",
    "Frame bounds",
]


def _calibration(path=None):
    psf = AstigmaticPSF()
    z = zfit.frame_positions_nm(61, 25.0)
    sx, sy = psf.widths(z)
    return zfit.calibrate(np.arange(61), sx, sy, 61, 25.0, 0.8, frame_bounds=(0, 60), path=path)[0]


def test_round_trip_with_picassos_key_names(tmp_path):
    path = calibration_path_for(tmp_path / "beads.ome.tif")
    assert path.name == "beads_3d_calib.yaml"
    calibration = _calibration(path)
    save_calibration(path, calibration)
    assert not list(tmp_path.glob("*.part"))
    # A plain single-document YAML mapping with Picasso's keys, as Picasso's loader reads it
    with open(path) as f:
        raw = yaml.full_load(f)
    assert list(raw)[:7] == PICASSO_KEYS
    assert isinstance(raw["X Coefficients"], list) and len(raw["X Coefficients"]) == 7
    assert all(isinstance(c, float) for c in raw["X Coefficients"] + raw["Y Coefficients"])
    assert raw["Number of frames"] == 61 and raw["Step size in nm"] == 25.0
    assert raw["Magnification factor"] == 0.8 and raw["Path"] == str(path) and raw["Frame bounds"] == [0, 60]
    loaded = load_calibration(path)
    assert loaded == calibration
    # highest power first, as numpy.polyfit gives them: the constant term is the width at 0
    assert loaded["X Coefficients"][-1] == pytest.approx(np.polyval(loaded["X Coefficients"], 0.0))


def test_a_picasso_written_calibration_loads_and_fits(tmp_path):
    # Picasso writes yaml.dump(calibration, default_flow_style=False): keys sorted, no range key.
    calibration = _calibration()
    picasso = {k: calibration[k] for k in PICASSO_KEYS}
    picasso.update({"Frames per step": 1, "Frame order": "fov", "Z binning": 1})
    path = tmp_path / "picasso_3d_calib.yaml"
    path.write_text(yaml.dump(picasso, default_flow_style=False))
    loaded = load_calibration(path)
    assert zfit.calibrated_range(loaded) == zfit.DEFAULT_RANGE_NM
    wx, wy = zfit.calibration_widths(loaded, np.array([-300.0, 250.0]))
    z, _, _ = zfit.fit_z(wx, wy, loaded)
    np.testing.assert_allclose(z, [-300.0 * 0.8, 250.0 * 0.8], atol=0.05)


def test_calibration_travels_in_the_locs_yaml():
    calibration = _calibration("/data/beads_3d_calib.yaml")
    params = LocalizeParameters(fit_method="mle-3d", z_calibration=calibration)
    info = params.to_info()
    for key in PICASSO_KEYS:
        assert info[key] == calibration[key]
    assert info["Calibration path"] == "/data/beads_3d_calib.yaml"
    assert LocalizeParameters.from_info(yaml.safe_load(yaml.safe_dump(info))) == params
    assert "X Coefficients" not in LocalizeParameters(fit_method="mle", z_calibration=calibration).to_info()


@pytest.mark.parametrize(
    "text, problem",
    [
        ("X Coefficients: [1, 2, 3]\nY Coefficients: [1, 2, 3, 4, 5, 6, 7]\n", "7 numbers"),
        ("Width: 10\n---\nFrames: 3\n", "one YAML mapping"),
        (
            "X Coefficients: [1, 2, 3, 4, 5, 6, 7]\nY Coefficients: [1, 2, 3, 4, 5, 6, 7]\nMagnification factor: -1\n",
            "Magnification factor",
        ),
        ("[unclosed", "YAML"),
    ],
)
def test_bad_calibration_files_say_what_is_wrong(tmp_path, text, problem):
    path = tmp_path / "bad_3d_calib.yaml"
    path.write_text(text)
    with pytest.raises(InputFileError, match=problem) as info:
        load_calibration(path)
    assert str(path) in str(info.value) and "calibrate-z" in str(info.value)
    with pytest.raises(InputFileError, match="does not exist"):
        load_calibration(tmp_path / "missing.yaml")
