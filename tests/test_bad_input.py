"""Bad input: a clear message naming the file and the problem, and no partial output."""

import numpy as np
import pytest
import tifffile

from napari_picasso.cli import main
from napari_picasso.io.errors import InputFileError, ParameterError
from napari_picasso.io.movies import open_movie
from napari_picasso.io.raw import write_raw_info
from napari_picasso.pipeline import LocalizeParameters, localize_file


@pytest.fixture
def raw_movie(tmp_path):
    frames = np.random.default_rng(0).poisson(100, (20, 32, 32)).astype("<u2")
    path = tmp_path / "movie.raw"
    frames.tofile(path)
    write_raw_info(path, 32, 32, 20)
    return path


def outputs(folder):
    return sorted(p.name for p in folder.iterdir() if "_locs" in p.name or p.name.endswith(".part"))


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="no such file") as error:
        localize_file(tmp_path / "nope.raw", LocalizeParameters())
    assert "nope.raw" in str(error.value)


def test_truncated_tiff(tmp_path):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, np.zeros((50, 64, 64), np.uint16), contiguous=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError) as error:
        localize_file(path, LocalizeParameters())
    assert "cut.tif" in str(error.value) and "truncated" in str(error.value)
    assert outputs(tmp_path) == []


def test_not_a_tiff(tmp_path):
    path = tmp_path / "fake.tiff"
    path.write_text("this is not an image")
    with pytest.raises(InputFileError, match="not a readable TIFF"):
        open_movie(path)


def test_raw_shorter_than_its_yaml(raw_movie):
    write_raw_info(raw_movie, 32, 32, 30)
    with pytest.raises(InputFileError, match="truncated or the .yaml is wrong") as error:
        localize_file(raw_movie, LocalizeParameters())
    assert "movie.raw" in str(error.value) and "30 frames" in str(error.value)
    assert outputs(raw_movie.parent) == []


def test_raw_without_yaml_names_the_keys(raw_movie):
    raw_movie.with_suffix(".yaml").unlink()
    with pytest.raises(InputFileError) as error:
        open_movie(raw_movie)
    message = str(error.value)
    assert "movie.yaml" in message
    for key in ("Width", "Height", "Frames", "Data Type", "Byte Order"):
        assert key in message


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(box=6), "odd"),
        (dict(roi=(0, 0, 40, 20)), "outside"),
        (dict(roi=(10, 10, 12, 30)), "smaller than one box"),
        (dict(frame_range=(5, 25)), "outside the movie.raw's 20 frames"),
        (dict(fit_method="spline"), "unknown fit method"),
    ],
)
def test_bad_parameters(raw_movie, params, match):
    with pytest.raises(ParameterError, match=match):
        localize_file(raw_movie, LocalizeParameters(**params))
    assert outputs(raw_movie.parent) == []


def test_cli_reports_errors_and_keeps_going(raw_movie, tmp_path, capsys):
    missing = tmp_path / "gone.tif"
    code = main(["localize", "-q", str(missing), str(raw_movie), "--gradient", "1e9"])
    captured = capsys.readouterr()
    assert code == 1
    assert "gone.tif" in captured.err and "no such file" in captured.err
    assert "Traceback" not in captured.err
    assert "0 localizations" in captured.out
    code = main(["localize", "-q", str(raw_movie), "--roi", "0", "0", "500", "500"])
    error = capsys.readouterr().err
    assert code == 1 and "lies outside the movie.raw's" in error
    assert error.count("movie.raw") == 1, error  # named once, not once by the CLI and once by the API


@pytest.mark.parametrize("box", [6, 8, 4])
def test_even_box_error_names_the_movie_and_the_fix(raw_movie, box):
    with pytest.raises(ParameterError) as error:
        localize_file(raw_movie, LocalizeParameters(box=box))
    message = str(error.value)
    assert "movie.raw" in message
    assert "box must be odd" in message and "e.g. 7" in message and f"got {box}" in message
    assert outputs(raw_movie.parent) == []
