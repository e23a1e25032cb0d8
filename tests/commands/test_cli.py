"""The command line, run as users run it."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_picasso.cli import main
from napari_picasso.core.matching import detection_scores
from napari_picasso.db import open_database, query_rows
from napari_picasso.io.locs import load_locs
from napari_picasso.simulate import suggested_min_net_gradient


def test_localize_command(blinking_movie, tmp_path, capsys):
    path, truth, camera = blinking_movie
    gradient = suggested_min_net_gradient(1500, camera)
    code = main(
        [
            "localize",
            str(path),
            "--out",
            str(tmp_path),
            "--fit",
            "lq",
            "--gradient",
            str(gradient),
            "--baseline",
            "100",
            "--sensitivity",
            "0.5",
            "--pixelsize",
            "160",
            "--frames",
            "0",
            "200",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert "blinking_locs.hdf5" in out and "localizations in 200 frames" in out
    assert "200/200 frames" in err  # the progress bar
    locs, info = load_locs(tmp_path / "blinking_locs.hdf5")
    assert info[1]["Fit method"] == "lq" and info[1]["Pixelsize"] == 160 and info[1]["Frame Bounds"] == [0, 200]
    assert "log_likelihood" not in locs.dtype.names
    assert detection_scores(locs, truth[truth["frame"] < 200])["recall"] > 0.97


def test_several_movies_go_on_past_failures_with_a_table_and_database_rows(blinking_movie, tmp_path, capsys):
    path, _, camera = blinking_movie
    movies = []
    for name in ("a", "broken", "damaged", "b"):
        movies.append(tmp_path / f"{name}.raw" if name != "damaged" else tmp_path / "damaged.tif")
    for good in (movies[0], movies[3]):
        shutil.copy(path, good)
        shutil.copy(path.with_suffix(".yaml"), good.with_suffix(".yaml"))
    movies[1].write_bytes(b"\0" * 1000)  # no .yaml: size and type unknown
    movies[2].write_bytes(b"II*\0" + b"\xff" * 60)  # a TIFF header pointing nowhere
    database = tmp_path / "several.db"
    code = main(
        [
            "localize",
            *map(str, movies),
            "--quiet",
            "--db",
            str(database),
            "--group",
            "day1",
            "--gradient",
            str(suggested_min_net_gradient(1500, camera)),
            "--baseline",
            "100",
            "--sensitivity",
            "0.5",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1
    # The movies after a failure are localized too.
    assert (tmp_path / "a_locs.hdf5").is_file() and (tmp_path / "b_locs.hdf5").is_file()
    n_locs = len(load_locs(tmp_path / "b_locs.hdf5", with_info=False))
    assert n_locs > 50
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["status", "locs"])
    table = {movie.name: next(line for line in lines[header + 2 :] if str(movie) in line.split()) for movie in movies}
    assert table["a.raw"].split()[:2] == ["done", f"{n_locs:,}"]
    assert table["broken.raw"].startswith("failed") and "no broken.yaml" in table["broken.raw"]
    assert table["damaged.tif"].startswith("failed") and "damaged" in table["damaged.tif"]
    assert table["b.raw"].startswith("done")
    assert lines[header + 6] == f"2 of 4 movies localized, 2 failed, {2 * n_locs:,} localizations"
    assert "no broken.yaml" in err  # said when it happens too
    assert "warning" not in err, err
    db = open_database(database)
    try:
        rows = {
            Path(r["locs_path"]).name: r
            for r in query_rows(db, columns=["movie_path", "locs_path", "status", "n_locs", "reason", "group_name"])
        }
    finally:
        db.close()
    assert {name: r["status"] for name, r in rows.items()} == {
        "a_locs.hdf5": "ok",
        "broken_locs.hdf5": "failed",
        "damaged_locs.hdf5": "failed",
        "b_locs.hdf5": "ok",
    }
    assert "no broken.yaml" in rows["broken_locs.hdf5"]["reason"] and rows["b_locs.hdf5"]["n_locs"] == n_locs
    assert rows["broken_locs.hdf5"]["movie_path"] == str(movies[1])
    assert {r["group_name"] for r in rows.values()} == {"day1"}


def test_each_failing_movie_is_named_once(blinking_movie, tmp_path, capsys):
    path, _, _ = blinking_movie
    movies = [tmp_path / "a.raw", tmp_path / "b.raw"]
    for movie in movies:
        shutil.copy(path, movie)
        shutil.copy(path.with_suffix(".yaml"), movie.with_suffix(".yaml"))
    # The pipeline's message names the movie ("... outside the a.raw's 64x64 frame").
    code = main(["localize", *map(str, movies), "--roi", "0", "0", "500", "500", "--quiet", "--no-db"])
    err = capsys.readouterr().err
    assert code == 1
    for movie in movies:
        line = next(line for line in err.splitlines() if movie.name in line)
        assert "lies outside" in line and line.count(movie.name) == 1, line


def test_an_ndtiff_stack_file_names_its_dataset_output(blinking_movie, tmp_path, capsys):
    """Given a dataset's stack file, the output is the dataset's, as for its folder."""
    ndstorage = pytest.importorskip("ndstorage")
    import contextlib
    import io

    from napari_picasso.io.movies import open_movie

    with open_movie(blinking_movie[0]) as movie:
        frames = movie.read_frames(0, 60)
    dataset = ndstorage.NDTiffDataset(str(tmp_path), name="paint", writable=True)
    dataset.initialize({"Core-Camera": "Simulation"})
    with contextlib.redirect_stdout(io.StringIO()):
        for i, frame in enumerate(frames):
            dataset.put_image({"time": i}, np.ascontiguousarray(frame), {"Camera": "Simulation"})
        dataset.finish()
    folder = tmp_path / "paint_1"
    stack = next(folder.rglob("*_NDTiffStack*.tif"))
    for given in (stack, folder):
        assert main(["localize", str(given), "--no-db", "--quiet"]) == 0
        assert sorted(p.name for p in tmp_path.rglob("*_locs.hdf5")) == ["paint_1_locs.hdf5"]
        assert load_locs(tmp_path / "paint_1_locs.hdf5", with_info=False)["frame"].max() > 50
        (tmp_path / "paint_1_locs.hdf5").unlink()
    assert "paint_1_locs.hdf5" in capsys.readouterr().out


def test_demo_runs_as_a_program(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "napari_picasso", "demo", "--folder", str(tmp_path), "--frames", "200", "--size", "48"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "against ground truth: recall" in done.stdout
    recall = float(done.stdout.split("recall ")[1].split(",")[0])
    assert recall > 0.95
    assert np.all(load_locs(tmp_path / "demo_locs.hdf5", with_info=False)["photons"] > 0)
