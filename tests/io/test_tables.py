"""Other tools' localization tables: each reader on a real file of its tool (tests/data, with
the licences beside them) or, where no small one is published, on a file written in the
tool's own documented layout (tests/io/table_writers.py); conversions and round trips;
the clear errors of bad input."""

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from napari_picasso.cli import main
from napari_picasso.core.localizations import MLE_DTYPE, ellipticity
from napari_picasso.io.convert import convert_file
from napari_picasso.io.errors import InputFileError
from napari_picasso.io.locs import load_locs, save_locs
from napari_picasso.io.table_layout import PixelSizeNeeded
from napari_picasso.io.tables import TABLE_READERS, is_localization_table, read_table

sys.path.insert(0, str(Path(__file__).parent))
from table_writers import (  # noqa: E402
    PYME_FIT_DTYPE,
    write_decode_h5,
    write_pyme_h5r,
    write_smap_v73,
    write_smlm_by_spec,
)

DATA = Path(__file__).resolve().parents[1] / "data"
THUNDERSTORM = DATA / "thunderstorm" / "storm_table.csv"
RAPIDSTORM = DATA / "rapidstorm" / "rapidSTORM_dstorm_data.txt"
ELYRA = DATA / "elyra" / "Elyra_dstorm_data_first43.txt"
ONI = DATA / "oni" / "Nanoimager_dstorm_data.csv"


def _column(path, index, sep=",", skip=1, rows=None):
    lines = path.read_text(encoding="utf-8").splitlines()[skip:]
    lines = lines[:rows] if rows else lines
    return np.array([float(line.split(sep)[index]) for line in lines if line.strip()])


def _picasso_keeps_every_row(path, n):
    picasso_io = pytest.importorskip("picasso.io")
    locs, info = picasso_io.load_locs(str(path))
    assert len(locs) == n and info[0]["Width"] > 0


# -- real files of each tool ----------------------------------------------------------------
def test_thunderstorm_csv_real_file():
    """ColiCoords' ThunderSTORM table: 48 rows, x/y in nm, frames numbered from 1."""
    locs, info = read_table(THUNDERSTORM, pixelsize_nm=100)
    assert len(locs) == 48
    np.testing.assert_allclose(locs["x"] * 100, _column(THUNDERSTORM, 2), rtol=1e-6)
    np.testing.assert_allclose(locs["y"] * 100, _column(THUNDERSTORM, 3), rtol=1e-6)
    # the file's frames 1..4 (ImageJ slices, from 1) are frames 0..3
    np.testing.assert_array_equal(locs["frame"], _column(THUNDERSTORM, 1) - 1)
    assert np.bincount(locs["frame"]).tolist() == [10, 7, 16, 15]
    np.testing.assert_allclose(locs["sx"] * 100, _column(THUNDERSTORM, 4), rtol=1e-6)
    np.testing.assert_allclose(locs["lpx"] * 100, _column(THUNDERSTORM, 9), rtol=1e-6)
    np.testing.assert_allclose(locs["photons"], _column(THUNDERSTORM, 5), rtol=1e-6)
    np.testing.assert_allclose(locs["bg"], _column(THUNDERSTORM, 6), rtol=1e-6)
    # unknown columns kept, the row number dropped
    np.testing.assert_allclose(locs["chi2"], _column(THUNDERSTORM, 8), rtol=1e-6)
    assert "bkgstd_photon" in locs.dtype.names and "id" not in locs.dtype.names
    assert info[0]["Frames"] == 4 and info[1]["Pixelsize"] == 100
    assert info[1]["Fields absent from the source (written as 0)"] == ["net_gradient"]


def test_rapidstorm_real_file():
    """Locan's rapidSTORM file: 14 rows, positions in nm, ImageNumber from 0, extent from the header."""
    locs, info = read_table(RAPIDSTORM, pixelsize_nm=160)
    assert len(locs) == 14
    np.testing.assert_allclose(locs["x"] * 160, _column(RAPIDSTORM, 0, sep=" "), rtol=1e-6)
    np.testing.assert_allclose(locs["y"] * 160, _column(RAPIDSTORM, 1, sep=" "), rtol=1e-6)
    assert set(locs["frame"]) == {0}  # ImageNumber 0 is the first frame
    # amplitude and background are A/D counts: kept as they are, not taken for photons
    np.testing.assert_allclose(locs["amplitude"], _column(RAPIDSTORM, 3, sep=" "), rtol=1e-6)
    assert not locs["photons"].any()
    assert info[0]["Width"] == int(np.ceil(32716.5 / 160))  # max="3.27165e-005 m"


def test_elyra_real_file():
    """Locan's Zeiss Elyra export (first 43 rows): nm, First Frame from 1, pixel size from VoxelSizeX."""
    locs, info = read_table(ELYRA)
    pixelsize = 1000 * 0.0970873786
    assert len(locs) == 43
    assert info[1]["Pixelsize"] == pytest.approx(pixelsize)
    assert info[1]["Pixelsize source"] == "file (VoxelSizeX)"
    np.testing.assert_allclose(locs["x"] * pixelsize, _column(ELYRA, 4, sep="\t", rows=43), rtol=1e-6)
    np.testing.assert_allclose(locs["y"] * pixelsize, _column(ELYRA, 5, sep="\t", rows=43), rtol=1e-6)
    np.testing.assert_array_equal(locs["frame"], _column(ELYRA, 1, sep="\t", rows=43) - 1)
    assert np.bincount(locs["frame"]).tolist() == [22, 21]
    np.testing.assert_allclose(locs["lpx"] * pixelsize, _column(ELYRA, 6, sep="\t", rows=43), rtol=1e-5)
    # PSF half width (HWHM) -> sigma
    np.testing.assert_allclose(locs["sx"] * pixelsize * np.sqrt(2 * np.log(2)), _column(ELYRA, 10, "\t", 1, 43), 1e-5)
    assert info[0]["Elyra image"]["SizeX"] == "3200"
    # --pixelsize wins over the file's
    assert read_table(ELYRA, pixelsize_nm=100)[1][1]["Pixelsize source"] == "--pixelsize"


def test_oni_real_file():
    """Locan's Nanoimager export: 14 rows in two channels, nm, frames from 0, Z 0 everywhere (2D)."""
    locs, info = read_table(ONI, pixelsize_nm=117)
    assert len(locs) == 14
    order = np.argsort(_column(ONI, 1), kind="stable")  # sorted by frame
    np.testing.assert_allclose(locs["x"] * 117, _column(ONI, 2)[order], rtol=1e-6)
    np.testing.assert_allclose(locs["y"] * 117, _column(ONI, 3)[order], rtol=1e-6)
    np.testing.assert_array_equal(locs["frame"], _column(ONI, 1)[order])  # from 0, as the file
    assert info[0]["Frames"] == 4378
    np.testing.assert_allclose(locs["photons"], _column(ONI, 5)[order], rtol=1e-6)
    assert "z" not in locs.dtype.names and "Z_nm" in locs.dtype.names  # 2D: not a 3D file
    np.testing.assert_array_equal(locs["Channel"], _column(ONI, 0)[order])


# -- files in the tools' documented layouts -------------------------------------------------
def test_decode_h5_layout(tmp_path):
    """DECODE's save_h5 layout (no small DECODE file is published): px, frame_ix from 0."""
    rng = np.random.default_rng(0)
    n = 50
    xyz = np.column_stack([rng.uniform(0, 63, n), rng.uniform(0, 63, n), rng.uniform(-400, 400, n)])
    sig = np.column_stack([rng.uniform(0.05, 0.2, n), rng.uniform(0.05, 0.2, n), rng.uniform(20, 60, n)])
    frame = np.sort(rng.integers(0, 100, n))
    path = tmp_path / "emitters.h5"
    write_decode_h5(path, xyz, frame, rng.uniform(500, 5000, n), rng.uniform(10, 50, n), sig, rng.random(n))
    assert is_localization_table(path)
    locs, info = read_table(path)
    assert len(locs) == n
    np.testing.assert_allclose(locs["x"], xyz[:, 0], rtol=1e-6)
    np.testing.assert_allclose(locs["y"], xyz[:, 1], rtol=1e-6)
    np.testing.assert_allclose(locs["z"], xyz[:, 2], rtol=1e-6)  # nm, as Picasso keeps z
    np.testing.assert_allclose(locs["lpx"], sig[:, 0], rtol=1e-6)
    np.testing.assert_array_equal(locs["frame"], frame)
    assert {"prob", "id"} <= set(locs.dtype.names)
    assert info[1]["Pixelsize"] == 100 and info[1]["Pixelsize source"] == "file (meta px_size)"
    # positions in nm go through px_size
    write_decode_h5(path, xyz * [100, 100, 1], frame, np.ones(n), np.ones(n), sig, np.ones(n), xy_unit="nm")
    np.testing.assert_allclose(read_table(path)[0]["x"], xyz[:, 0], rtol=1e-5)


def test_smap_v73_layout(tmp_path):
    """SMAP's _sml.mat as MATLAB v7.3 (HDF5): xnm/ynm in nm, frame from 1, pixel size from file.info."""
    rng = np.random.default_rng(1)
    n = 40
    loc = {
        "xnm": rng.uniform(0, 6400, n),
        "ynm": rng.uniform(0, 6400, n),
        "frame": np.sort(rng.integers(1, 200, n)).astype(float),
        "phot": rng.uniform(500, 3000, n),
        "bg": rng.uniform(5, 20, n),
        "locprecnm": rng.uniform(5, 20, n),
        "PSFxnm": rng.uniform(90, 140, n),
        "channel": np.ones(n),
    }
    path = tmp_path / "cell_sml.mat"
    write_smap_v73(path, loc, cam_pixelsize_um=(0.107, 0.107))
    locs, info = read_table(path)
    assert len(locs) == n and info[1]["Pixelsize"] == pytest.approx(107.0)
    np.testing.assert_allclose(locs["x"] * 107, loc["xnm"], rtol=1e-5)
    np.testing.assert_allclose(locs["y"] * 107, loc["ynm"], rtol=1e-5)
    np.testing.assert_array_equal(locs["frame"], loc["frame"] - 1)  # MATLAB counts from 1
    np.testing.assert_allclose(locs["lpy"] * 107, loc["locprecnm"], rtol=1e-5)
    np.testing.assert_allclose(locs["sy"] * 107, loc["PSFxnm"], rtol=1e-5)
    assert "channel" in locs.dtype.names


def test_smap_file_written_by_picasso(tmp_path):
    """A MATLAB v5 _sml.mat written by Picasso's own SMAP exporter reads back to its rows."""
    picasso_io = pytest.importorskip("picasso.io")
    pytest.importorskip("scipy")
    import pandas as pd

    rng = np.random.default_rng(2)
    n = 30
    frame = np.sort(rng.integers(0, 50, n)).astype(np.uint32)
    table = {"frame": frame, "x": rng.uniform(1, 30, n), "y": rng.uniform(1, 30, n)}
    table["photons"] = rng.uniform(500, 900, n)
    table.update({"sx": np.full(n, 1.1), "sy": np.full(n, 1.1), "bg": rng.uniform(5, 9, n)})
    table.update({"lpx": np.full(n, 0.1), "lpy": np.full(n, 0.1)})
    types = {k: np.uint32 if k == "frame" else np.float32 for k in table}
    frame_df = pd.DataFrame({k: np.asarray(v, dtype=types[k]) for k, v in table.items()})
    info = [{"Width": 32, "Height": 32, "Frames": 50}, {"Pixelsize": 130}]
    path = tmp_path / "export_sml.mat"
    picasso_io.export_smap(str(path), frame_df, info)
    locs, read_info = read_table(path, pixelsize_nm=130)
    assert len(locs) == n
    np.testing.assert_allclose(locs["x"], frame_df["x"], rtol=1e-5)
    np.testing.assert_array_equal(locs["frame"], frame)


def test_pyme_h5r_layout(tmp_path):
    """PYME's .h5r (PyTables FitResults of LatGaussFitFR, MetaData voxelsize in µm)."""
    pytest.importorskip("tables")
    n = 25
    rows = np.zeros(n, dtype=PYME_FIT_DTYPE)
    rng = np.random.default_rng(3)
    rows["tIndex"] = np.sort(rng.integers(0, 80, n))
    rows["fitResults"]["x0"] = rng.uniform(100, 6000, n)
    rows["fitResults"]["y0"] = rng.uniform(100, 6000, n)
    rows["fitResults"]["A"] = rng.uniform(50, 200, n)
    rows["fitResults"]["sigma"] = rng.uniform(100, 140, n)
    rows["fitResults"]["background"] = rng.uniform(5, 15, n)
    rows["fitError"]["x0"] = rng.uniform(5, 15, n)
    rows["fitError"]["y0"] = rng.uniform(5, 15, n)
    rows["nchi2"] = rng.uniform(0.5, 2, n)
    path = tmp_path / "series_A.h5r"
    write_pyme_h5r(path, rows, voxelsize_um=(0.07, 0.07))
    locs, info = read_table(path)
    assert len(locs) == n and info[1]["Pixelsize"] == pytest.approx(70.0)
    np.testing.assert_allclose(locs["x"] * 70, rows["fitResults"]["x0"], rtol=1e-5)
    np.testing.assert_allclose(locs["y"] * 70, rows["fitResults"]["y0"], rtol=1e-5)
    np.testing.assert_array_equal(locs["frame"], rows["tIndex"])  # tIndex counts from 0
    np.testing.assert_allclose(locs["lpx"] * 70, rows["fitError"]["x0"], rtol=1e-5)
    sigma = rows["fitResults"]["sigma"].astype(float)
    expected = 2 * np.pi * rows["fitResults"]["A"] * sigma**2 / 70**2
    np.testing.assert_allclose(locs["photons"], expected, rtol=1e-5)
    assert {"nchi2", "fitResults_A", "resultCode"} <= set(locs.dtype.names)
    assert info[0]["PYME MetaData"]["Camera.ADOffset"] == 100.0


def test_smlm_by_specification(tmp_path):
    """An .smlm laid out by the specification (uint32 frame, float32 columns, two channels)."""
    rng = np.random.default_rng(4)
    dtype = [("frame", "<u4"), ("x", "<f4"), ("y", "<f4"), ("intensity", "<f4"), ("x_precision", "<f4")]
    units = ["frame", "nm", "nm", "photon", "nm"]
    tables = []
    for channel, n in (("alexa647", 20), ("cy3b", 12)):
        rows = np.zeros(n, dtype=dtype)
        rows["frame"] = np.sort(rng.integers(0, 40, n))
        rows["x"] = rng.uniform(0, 5000, n)
        rows["y"] = rng.uniform(0, 5000, n)
        rows["intensity"] = rng.uniform(100, 900, n)
        rows["x_precision"] = rng.uniform(5, 20, n)
        tables.append((f"{channel}.bin", channel, rows, units))
    path = tmp_path / "two_colours.smlm"
    write_smlm_by_spec(path, tables, pixel_size=160.0)
    locs, info = read_table(path)
    assert len(locs) == 32 and info[1]["Pixelsize"] == 160.0
    both = np.concatenate([t[2] for t in tables])
    order = np.argsort(both["frame"], kind="stable")
    np.testing.assert_allclose(locs["x"] * 160, both["x"][order], rtol=1e-6)
    np.testing.assert_array_equal(locs["frame"], both["frame"][order])
    np.testing.assert_allclose(locs["lpx"] * 160, both["x_precision"][order], rtol=1e-6)
    assert sorted(np.bincount(locs["channel"]).tolist()) == [12, 20]


# -- round trips ------------------------------------------------------------------------------
@pytest.fixture
def our_locs(tmp_path):
    """A _locs.hdf5 in our MLE layout with valid values in every field."""
    rng = np.random.default_rng(5)
    n = 400
    locs = np.zeros(n, dtype=MLE_DTYPE)
    locs["frame"] = np.sort(rng.integers(0, 500, n))
    locs["x"] = rng.uniform(0, 63.9, n)
    locs["y"] = rng.uniform(0, 63.9, n)
    locs["photons"] = rng.uniform(300, 5000, n)
    locs["sx"] = rng.uniform(0.8, 1.4, n)
    locs["sy"] = rng.uniform(0.8, 1.4, n)
    locs["bg"] = rng.uniform(10, 60, n)
    locs["lpx"] = rng.uniform(0.02, 0.2, n)
    locs["lpy"] = rng.uniform(0.02, 0.2, n)
    locs["ellipticity"] = ellipticity(locs["sx"], locs["sy"])
    locs["net_gradient"] = rng.uniform(1000, 9000, n)
    locs["log_likelihood"] = rng.uniform(-300, -100, n)
    locs["iterations"] = rng.integers(3, 20, n)
    for name in ("photons_unc", "bg_unc", "sx_unc", "sy_unc"):
        locs[name] = rng.uniform(0.01, 5, n)
    info = [{"Width": 64, "Height": 64, "Frames": 500}, {"Pixelsize": 130.0, "Fit method": "mle"}]
    path = tmp_path / "movie_locs.hdf5"
    save_locs(path, locs, info)
    return path, locs


def test_round_trip_through_thunderstorm_csv(our_locs, tmp_path):
    path, locs = our_locs
    convert_file(path, tmp_path / "movie.csv")
    convert_file(tmp_path / "movie.csv", tmp_path / "back_locs.hdf5", pixelsize_nm=130)
    back, info = load_locs(tmp_path / "back_locs.hdf5")
    for name in locs.dtype.names:  # every field, bit for bit (x/y through nm and back)
        np.testing.assert_array_equal(back[name], locs[name], err_msg=name)
    assert set(back.dtype.names) - set(locs.dtype.names) == {"bkgstd_photon"}  # ThunderSTORM's column
    header = (tmp_path / "movie.csv").read_text().splitlines()[0]
    assert header.startswith(
        '"id","frame","x [nm]","y [nm]","sigma [nm]","intensity [photon]","offset [photon]",'
        '"bkgstd [photon]","uncertainty [nm]"'
    )
    _picasso_keeps_every_row(tmp_path / "back_locs.hdf5", len(locs))


def test_round_trip_through_smlm(our_locs, tmp_path):
    path, locs = our_locs
    convert_file(path, tmp_path / "movie.smlm")
    convert_file(tmp_path / "movie.smlm", tmp_path / "back_locs.hdf5")  # pixel_size from the file
    back, info = load_locs(tmp_path / "back_locs.hdf5")
    assert back.dtype == locs.dtype
    np.testing.assert_array_equal(back["frame"], locs["frame"])
    np.testing.assert_array_equal(back["iterations"], locs["iterations"])
    for name in ("x", "y", "sx", "sy", "lpx", "lpy"):  # float32 nm and back: 1e-5 px at 64 px
        np.testing.assert_allclose(back[name], locs[name], rtol=2e-7, atol=2e-5, err_msg=name)
    for name in ("photons", "bg", "ellipticity", "net_gradient", "log_likelihood", "photons_unc"):
        np.testing.assert_array_equal(back[name], locs[name], err_msg=name)
    assert info[1]["Pixelsize"] == 130.0
    _picasso_keeps_every_row(tmp_path / "back_locs.hdf5", len(locs))


def test_picasso_file_round_trips(shared_data, tmp_path):
    source = shared_data / "raw-picasso" / "testdata_locs.hdf5"
    locs, _ = load_locs(source)
    for suffix, pixelsize in ((".csv", 160), (".smlm", None)):
        convert_file(source, tmp_path / f"t{suffix}", pixelsize_nm=160)
        convert_file(tmp_path / f"t{suffix}", tmp_path / f"t{suffix[1:]}_locs.hdf5", pixelsize_nm=pixelsize)
        back, _ = load_locs(tmp_path / f"t{suffix[1:]}_locs.hdf5")
        assert len(back) == len(locs)
        for name in locs.dtype.names:
            np.testing.assert_allclose(back[name], locs[name], rtol=1e-6, atol=3e-5, err_msg=f"{suffix} {name}")


@pytest.mark.parametrize("sample", [THUNDERSTORM, RAPIDSTORM, ELYRA, ONI])
def test_converted_tables_open_in_picasso(sample, tmp_path):
    target = tmp_path / (sample.stem + "_locs.hdf5")
    result = convert_file(sample, target, pixelsize_nm=None if sample == ELYRA else 100)
    assert target.with_suffix(".yaml").is_file() and not list(tmp_path.glob("*.part"))
    _picasso_keeps_every_row(target, result.n_locs)


def test_convert_command(our_locs, tmp_path, capsys):
    path, locs = our_locs
    assert main(["convert", str(path), str(tmp_path / "out.smlm")]) == 0
    assert "400 localizations (Picasso localizations -> SMLM)" in capsys.readouterr().out
    assert main(["convert", str(THUNDERSTORM), str(tmp_path / "ts_locs.hdf5"), "--pixelsize", "100"]) == 0
    assert len(load_locs(tmp_path / "ts_locs.hdf5")[0]) == 48


# -- bad input ----------------------------------------------------------------------------------
def test_csv_without_coordinate_columns(tmp_path, capsys):
    path = tmp_path / "counts.csv"
    path.write_text("frame,intensity [photon]\n1,200\n2,300\n")
    with pytest.raises(InputFileError, match=r"counts.csv: has no x/y coordinate columns \(its columns: frame"):
        read_table(path)
    assert main(["convert", str(path), str(tmp_path / "c_locs.hdf5")]) == 2
    error = capsys.readouterr().err
    assert "has no x/y coordinate columns" in error and "Traceback" not in error
    assert not list(tmp_path.glob("c_locs*"))


def test_nm_without_pixel_size(tmp_path, capsys):
    with pytest.raises(PixelSizeNeeded, match=r"storm_table.csv: holds ThunderSTORM CSV coordinates in nm.*--pixel"):
        read_table(THUNDERSTORM)
    assert main(["convert", str(THUNDERSTORM), str(tmp_path / "ts_locs.hdf5")]) == 2
    assert "does not say the camera pixel size" in capsys.readouterr().err
    # and the other way: a _locs.hdf5 without Pixelsize cannot become nm
    locs = np.zeros(3, dtype=MLE_DTYPE)
    save_locs(tmp_path / "nopx_locs.hdf5", locs, [{"Width": 8, "Height": 8, "Frames": 1}])
    with pytest.raises(InputFileError, match="gives no Pixelsize.*--pixelsize"):
        convert_file(tmp_path / "nopx_locs.hdf5", tmp_path / "nopx.csv")


@pytest.mark.parametrize(
    "manifest, message",
    [
        ('{"format_version": "0.2", "formats": {', "its manifest.json is not valid JSON"),
        ('{"format_version": "0.2", "files": []}', "its manifest.json has no 'formats' object"),
        ("[1, 2]", "its manifest.json is not a JSON object"),
    ],
)
def test_smlm_with_broken_manifest(tmp_path, manifest, message):
    rows = np.zeros(3, dtype=[("frame", "<u4"), ("x", "<f4"), ("y", "<f4")])
    path = tmp_path / "broken.smlm"
    write_smlm_by_spec(path, [("t.bin", "default", rows, ["frame", "nm", "nm"])], manifest_text=manifest)
    with pytest.raises(InputFileError, match=f"broken.smlm: {message}.*damaged or not an .smlm file"):
        read_table(path, pixelsize_nm=100)


def test_smlm_with_wrong_sizes_and_no_manifest(tmp_path):
    rows = np.zeros(3, dtype=[("frame", "<u4"), ("x", "<f4"), ("y", "<f4")])
    path = tmp_path / "short.smlm"
    write_smlm_by_spec(path, [("t.bin", "default", rows, ["frame", "nm", "nm"])])
    manifest = json.loads(zipfile.ZipFile(path).read("manifest.json"))
    manifest["files"][0]["rows"] = 5
    write_smlm_by_spec(path, [("t.bin", "default", rows, ["frame", "nm", "nm"])], manifest_text=json.dumps(manifest))
    with pytest.raises(InputFileError, match="holds 36 bytes, but 5 rows of 12 bytes were declared"):
        read_table(path, pixelsize_nm=100)
    with zipfile.ZipFile(tmp_path / "nomanifest.smlm", "w") as archive:
        archive.writestr("t.bin", b"")
    with pytest.raises(InputFileError, match="a ZIP archive without manifest.json"):
        read_table(tmp_path / "nomanifest.smlm")
    (tmp_path / "text.smlm").write_text("not a zip")
    with pytest.raises(InputFileError, match="is not a ZIP archive"):
        read_table(tmp_path / "text.smlm")


def test_damaged_tables(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('"frame","x [nm]","y [nm]"\n1,100,200\n2,abc,300\n')
    with pytest.raises(InputFileError, match=r"column 'x \[nm\]' holds 'abc', which is not a number"):
        read_table(bad, pixelsize_nm=100)
    zero = tmp_path / "zero.csv"
    zero.write_text('"frame","x [nm]","y [nm]"\n0,100,200\n')
    with pytest.raises(InputFileError, match="frame number 0, below the first frame of this format"):
        read_table(zero, pixelsize_nm=100)
    header = RAPIDSTORM.read_text().splitlines()[0]
    (tmp_path / "r.txt").write_text(header.replace("</localizations>", "") + "\n1 2 0 1 1 1\n")
    with pytest.raises(InputFileError, match="rapidSTORM header is not valid XML"):
        read_table(tmp_path / "r.txt", pixelsize_nm=100)
    (tmp_path / "notes.txt").write_text("just notes\n")
    with pytest.raises(InputFileError, match="is not a localization table napari-picasso reads"):
        read_table(tmp_path / "notes.txt")
    with pytest.raises(InputFileError, match="no such file"):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(InputFileError, match="is the input file; inputs are never overwritten"):
        convert_file(THUNDERSTORM, THUNDERSTORM)
    with pytest.raises(InputFileError, match="not an output format"):
        convert_file(THUNDERSTORM, tmp_path / "out.xls")


def test_readers_are_an_explicit_ordered_list():
    names = [name for name, _, _ in TABLE_READERS]
    assert names.index("ONI Nanoimager") < names.index("ThunderSTORM CSV")  # both .csv: ONI is told first
    assert len(names) == 8
