"""``db add`` with other tools' tables: rows with quality figures from the converted table."""

from pathlib import Path

import pytest

from napari_picasso.cli import main
from napari_picasso.core.quality import quality_metrics
from napari_picasso.db import add_paths, query_rows, table_columns
from napari_picasso.io.tables import read_table

DATA = Path(__file__).resolve().parents[1] / "data"
THUNDERSTORM = DATA / "thunderstorm" / "storm_table.csv"
ELYRA = DATA / "elyra" / "Elyra_dstorm_data_first43.txt"
ONI = DATA / "oni" / "Nanoimager_dstorm_data.csv"


def test_add_tables_with_their_figures(db):
    result = add_paths(db, [THUNDERSTORM, ELYRA, ONI], pixelsize_nm=100)
    assert len(result.added) == 3 and not result.skipped
    rows = {r["filename"]: r for r in query_rows(db, columns=table_columns(db))}
    ts = rows["storm_table.csv"]
    locs, info = read_table(THUNDERSTORM, pixelsize_nm=100)
    expected = quality_metrics(locs, info[0]["Width"], info[0]["Height"], 100.0, info[0]["Frames"])
    assert ts["n_locs"] == 48 and ts["pixelsize"] == 100 and ts["locs_path"] == str(THUNDERSTORM.absolute())
    assert ts["mean_photons"] == pytest.approx(expected["mean_photons"])
    assert ts["locs_per_frame"] == pytest.approx(expected["locs_per_frame"])
    # Elyra says its pixel size: --pixelsize is only for tables that do not
    assert rows["Elyra_dstorm_data_first43.txt"]["pixelsize"] == pytest.approx(97.0873786)
    # ONI's table has no precision: its mean lpx is empty, not 0
    assert rows["Nanoimager_dstorm_data.csv"]["mean_lpx"] is None
    assert rows["Nanoimager_dstorm_data.csv"]["mean_photons"] == pytest.approx(389.2, abs=0.1)
    # unchanged files are not read again
    again = add_paths(db, [THUNDERSTORM, ELYRA, ONI], pixelsize_nm=100)
    assert len(again.unchanged) == 3


def test_db_add_command_with_a_table(db_path, capsys):
    assert main(["db", "add", str(THUNDERSTORM), "--db", str(db_path)]) == 1
    assert "does not say the camera pixel size" in capsys.readouterr().err  # skipped, with the reason
    assert main(["db", "add", str(THUNDERSTORM), "--pixelsize", "100", "--db", str(db_path)]) == 0
    assert "1 rows written" in capsys.readouterr().out
