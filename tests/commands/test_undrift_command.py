"""``napari-picasso undrift --method aim|fiducials|rcc`` on real files: outputs Picasso
opens, 3D drift, fiducials picked or found, the database row, and bad input refused
with nothing written."""

import numpy as np
import pytest
import yaml

from napari_picasso.cli import main
from napari_picasso.db import open_database, query_rows
from napari_picasso.io.drift import load_drift
from napari_picasso.io.locs import load_locs, save_locs
from napari_picasso.io.picks import save_fiducial_picks
from napari_picasso.simulate import drifting_locs

PIXELSIZE_NM = 130.0


def write_sim(folder, name, **kwargs):
    sim = drifting_locs(**{"n_locs": 300_000, "n_frames": 6000, "width": 128, "height": 128, **kwargs})
    path = folder / f"{name}_locs.hdf5"
    save_locs(path, sim.locs, sim.info)
    return path, sim


def rms_error_nm(drift, truth_nm):
    drift = np.array(drift, dtype=np.float64)
    drift[:, :2] *= PIXELSIZE_NM
    error = drift - truth_nm
    error -= error.mean(axis=0)
    return np.sqrt(np.mean(error**2, axis=0))


def outputs(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def sim_3d(tmp_path_factory):
    return write_sim(tmp_path_factory.mktemp("sim3d"), "sim3d", z_range_nm=(-300.0, 300.0), seed=2)


def test_aim_on_a_3d_file_writes_what_picasso_reads(sim_3d, tmp_path, capsys):
    source, sim = sim_3d
    path = tmp_path / source.name
    for suffix in (".hdf5", ".yaml"):
        path.with_suffix(suffix).write_bytes(source.with_suffix(suffix).read_bytes())
    db_path = tmp_path / "rows.db"
    assert main(["undrift", str(path), "--method", "aim", "--db", str(db_path)]) == 0
    printed = capsys.readouterr().out
    assert "AIM drift range" in printed and "split-halves error" in printed
    target = tmp_path / "sim3d_locs_undrift.hdf5"
    drift = load_drift(tmp_path / "sim3d_locs_drift.txt", with_z=True)
    assert drift.shape == (6000, 3)  # x, y px and z nm
    assert np.all(rms_error_nm(drift, sim.drift_nm) < 1.0)
    undrifted, info = load_locs(target)
    last = info[-1]
    assert last["Undrift"] == "AIM" and last["Segmentation"] == 100 and last["Intersect distance (nm)"] == 20.0
    assert last["Drift Z range (nm)"] == pytest.approx(np.ptp(sim.drift_nm[:, 2]), abs=3.0)
    for axis in "XYZ":
        assert 0 < last[f"Split-halves error {axis} (nm)"] < 1.0
    # positions back where frame 0 saw them: z spread about each site shrinks to its precision
    assert len(undrifted) >= len(sim.locs) - 50  # a few background localizations leave the field
    # Picasso 0.11.3 opens the file and the drift file as they are
    from picasso import io as picasso_io

    picasso_locs, picasso_info = picasso_io.load_locs(str(target))
    assert len(picasso_locs) == len(undrifted) and picasso_info[-1]["Undrift"] == "AIM"
    picasso_drift = picasso_io.load_drift(str(tmp_path / "sim3d_locs_drift.txt"))
    assert list(picasso_drift.columns)[-3:] == ["x", "y", "z"]
    np.testing.assert_allclose(picasso_drift["z"].to_numpy(), drift[:, 2], atol=1e-4)
    # the database row: method, range and split-halves error
    with open_database(db_path) as db:
        (row,) = query_rows(db)
    assert row["undrift_method"] == "AIM"
    assert row["undrift_x_range_nm"] == pytest.approx(last["Drift X range (nm)"])
    assert row["undrift_error_z_nm"] == pytest.approx(last["Split-halves error Z (nm)"])
    assert 0 < row["undrift_error_nm"] < 1.0


def test_fiducials_found_automatically_leave_the_output(tmp_path):
    path, sim = write_sim(tmp_path, "beads", n_fiducials=5, seed=3)
    assert main(["undrift", str(path), "--method", "fiducials", "--no-db"]) == 0
    undrifted, info = load_locs(tmp_path / "beads_locs_undrift.hdf5")
    last = info[-1]
    assert last["Undrift"] == "fiducials" and last["Number of picks"] == 5 and not last["Fiducials picked"]
    n_fiducial = int(sim.is_fiducial.sum())
    assert last["Fiducial localizations removed"] == pytest.approx(n_fiducial, rel=0.002)
    assert len(undrifted) == pytest.approx(len(sim.locs) - n_fiducial, rel=0.002)
    assert np.all(rms_error_nm(load_drift(tmp_path / "beads_locs_drift.txt"), sim.drift_nm) < 0.5)


@pytest.mark.parametrize("layout", ["ours", "picasso"])
def test_fiducials_from_a_picks_file(tmp_path, layout):
    path, sim = write_sim(tmp_path, "picked", n_fiducials=4, seed=4)
    centres = sim.fiducials_px + sim.drift_px[0]
    picks = tmp_path / "picks.yaml"
    if layout == "ours":
        save_fiducial_picks(picks, np.column_stack([centres, np.full(4, 4.0)]))
    else:  # Picasso Render's "Save picks" (circles, diameter in nm)
        regions = {"Diameter (nm)": 8.0 * PIXELSIZE_NM, "Centers": centres.tolist(), "Shape": "Circle"}
        picks.write_text(yaml.safe_dump(regions))
    assert main(["undrift", str(path), "--method", "fiducials", "--fiducials", str(picks), "--no-db"]) == 0
    _, info = load_locs(tmp_path / "picked_locs_undrift.hdf5")
    assert info[-1]["Fiducials picked"] and info[-1]["Number of picks"] == 4
    assert info[-1]["Pick radius (nm)"] == pytest.approx(4.0 * PIXELSIZE_NM)
    assert np.all(rms_error_nm(load_drift(tmp_path / "picked_locs_drift.txt"), sim.drift_nm) < 0.5)


def test_bad_input_is_refused_and_nothing_is_written(tmp_path, capsys):
    sparse, _ = write_sim(tmp_path, "sparse", n_locs=3000, n_frames=6000, seed=5)
    before = outputs(tmp_path)
    assert main(["undrift", str(sparse), "--method", "aim", "--segment", "20", "--no-db"]) == 1
    error = capsys.readouterr().err
    assert "sparse_locs.hdf5" in error and "too few localizations per segment" in error and "longer segment" in error
    assert outputs(tmp_path) == before

    plain, _ = write_sim(tmp_path, "plain", seed=6)
    before = outputs(tmp_path)
    assert main(["undrift", str(plain), "--method", "fiducials", "--no-db"]) == 1
    error = capsys.readouterr().err
    assert "plain_locs.hdf5" in error and "no fiducial found" in error and "--fiducials PICKS.yaml" in error
    assert outputs(tmp_path) == before

    picks = tmp_path / "far.yaml"
    save_fiducial_picks(picks, [[40.0, 40.0, 2.0], [300.0, 12.0, 2.0]])
    before = outputs(tmp_path)
    assert main(["undrift", str(plain), "--method", "fiducials", "--fiducials", str(picks), "--no-db"]) == 1
    error = capsys.readouterr().err
    assert "far.yaml" in error and "pick 2 at x 300" in error and "outside the 128 x 128 px field" in error
    assert outputs(tmp_path) == before
    assert not list(tmp_path.glob("*.part"))


def test_rcc_stays_the_default(tmp_path):
    path, sim = write_sim(tmp_path, "default", n_locs=200_000, n_frames=5000, seed=7)
    assert main(["undrift", str(path), "--no-db"]) == 0
    _, info = load_locs(tmp_path / "default_locs_undrift.hdf5")
    assert info[-1]["Undrift"] == "RCC" and info[-1]["Segmentation"] == 1000
    assert load_drift(tmp_path / "default_locs_drift.txt").shape == (5000, 2)
