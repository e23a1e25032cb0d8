"""What a user meets first on the command line (issue 17, items 5, 7, 12-16), driven as typed.

Real files: the NDTiff and Micro-Manager samples of ``../shared/data`` (copied: outputs go
beside the movie), TIFFs cut short after tifffile wrote them, and the program run in a
subprocess where its stderr, exit code or environment is the point.
"""

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml

from napari_picasso.cli import build_parser, main
from napari_picasso.db import open_database, query_rows
from napari_picasso.io.locs import load_locs, movie_locs_path
from napari_picasso.kernel_cache import FIRST_RUN_NOTICE, first_run_notice

SRC = Path(__file__).resolve().parents[2] / "src"


def program(*args, env=None, timeout=300, cwd=None):
    """``napari-picasso ARGS`` in a subprocess, with this tree's package first on the path."""
    environment = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "napari_picasso", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=cwd,
    )


@pytest.fixture
def ndtiff_dataset(shared_data, tmp_path):
    """The NDTiff 2.0 sample (a dot in its name; channels DAPI and FITC), copied."""
    return Path(shutil.copytree(shared_data / "ndtiff" / "v2" / "ndtiffv2.0_test", tmp_path / "ndtiffv2.0_test"))


@pytest.fixture
def mmstack_set(shared_data, tmp_path):
    """The Micro-Manager 1.4 sample: 4 positions, one file each (z 2, channel Cy5/DAPI), unpacked."""
    folder = tmp_path / "mm"
    folder.mkdir()
    for packed in sorted((shared_data / "mmstack-1.4").glob("*.gz")):
        with gzip.open(packed, "rb") as src, open(folder / packed.name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    return folder


def locs_names(folder):
    return sorted(p.name for p in Path(folder).glob("*_locs.hdf5"))


# -- 12: output names unique per movie and choice ------------------------------------------------
def test_dataset_with_a_dot_and_each_channel_get_their_own_named_output(ndtiff_dataset, capsys):
    folder = ndtiff_dataset.parent
    for channel in ("DAPI", "1"):  # by name, by index (FITC)
        assert main(["localize", str(ndtiff_dataset), "--choose", f"channel={channel}", "-q", "--no-db"]) == 0
    assert locs_names(folder) == ["ndtiffv2.0_test_channel-DAPI_locs.hdf5", "ndtiffv2.0_test_channel-FITC_locs.hdf5"]
    out = capsys.readouterr().out
    assert "ndtiffv2.0_test_channel-DAPI_locs.hdf5: 23 localizations" in out
    for channel in ("DAPI", "FITC"):
        _, info = load_locs(folder / f"ndtiffv2.0_test_channel-{channel}_locs.hdf5")
        assert info[0]["Choices"] == {"channel": channel} and info[0]["Frames"] == 5
    # the 'Full resolution' folder names the dataset's output too, and channel=0 is DAPI
    main(["localize", str(ndtiff_dataset / "Full resolution"), "--choose", "channel=0", "-q", "--no-db"])
    assert locs_names(folder) == ["ndtiffv2.0_test_channel-DAPI_locs.hdf5", "ndtiffv2.0_test_channel-FITC_locs.hdf5"]
    assert "replaced the earlier" in capsys.readouterr().err


def test_a_position_choice_names_the_position_and_matches_its_own_file(mmstack_set, capsys):
    first = mmstack_set / "1.4compatTest_3_MMStack_1-Pos_000_000.ome.tif"
    plane = ["--choose", "z=0", "--choose", "channel=Cy5"]
    assert main(["localize", str(first), "--choose", "position=1", *plane, "-q", "--no-db"]) == 0
    # position 1 of the set is the file 1-Pos_001_000: the output is named after it
    chosen = mmstack_set / "1.4compatTest_3_MMStack_1-Pos_001_000_z-0_channel-Cy5_locs.hdf5"
    assert locs_names(mmstack_set) == [chosen.name]
    by_choice = load_locs(chosen, with_info=False)
    # the same movie opened from its own file: the same name (replaced, said so), the same rows
    own = mmstack_set / "1.4compatTest_3_MMStack_1-Pos_001_000.ome.tif"
    assert main(["localize", str(own), *plane, "-q", "--no-db"]) == 0
    assert locs_names(mmstack_set) == [chosen.name]
    assert "replaced the earlier" in capsys.readouterr().err
    np.testing.assert_array_equal(load_locs(chosen, with_info=False), by_choice)
    # another plane of the first position: its own name, nothing overwritten
    assert main(["localize", str(first), "--choose", "z=1", "--choose", "channel=1", "-q", "--no-db"]) == 0
    assert locs_names(mmstack_set) == sorted(
        [chosen.name, "1.4compatTest_3_MMStack_1-Pos_000_000_z-1_channel-DAPI_locs.hdf5"]
    )


def test_batches_and_the_analysis_tree_use_the_same_names(ndtiff_dataset, tmp_path, capsys):
    # a folder given: the batch path (scan, status table), results in an analysis tree
    code = main(["localize", str(tmp_path), "--choose", "channel=FITC", "--analysis-folder", "-q", "--no-db"])
    assert code == 0, capsys.readouterr().err
    assert locs_names(tmp_path / "analysis") == ["ndtiffv2.0_test_channel-FITC_locs.hdf5"]
    assert "ndtiffv2.0_test_channel-FITC_locs.hdf5" in capsys.readouterr().out  # the status table
    assert movie_locs_path(ndtiff_dataset, choices={"channel": 1}, folder=tmp_path / "analysis") == (
        tmp_path / "analysis" / "ndtiffv2.0_test_channel-FITC_locs.hdf5"
    )


# -- 7: an existing output is replaced with a word, or kept ---------------------------------------
def test_replacing_an_output_is_said_and_skip_existing_keeps_it(shared_data, tmp_path, capsys):
    for name in ("testdata.raw", "testdata.yaml"):
        shutil.copy(shared_data / "raw-picasso" / name, tmp_path / name)
    movie = tmp_path / "testdata.raw"
    output = tmp_path / "testdata_locs.hdf5"
    assert main(["localize", str(movie), "-q", "--no-db"]) == 0
    assert "replaced" not in capsys.readouterr().err  # nothing was there
    past = time.time() - 3600
    os.utime(output, (past, past))
    os.utime(output.with_suffix(".yaml"), (past, past))

    assert main(["localize", str(movie), "-q", "--no-db", "--gradient", "3000"]) == 0
    err = capsys.readouterr().err
    written = time.strftime("%Y-%m-%d %H:%M", time.localtime(past))
    assert f"note: replaced the earlier {output} and its .yaml (written {written})" in err
    assert "--skip-existing" in err
    assert load_locs(output)[1][1]["Min. Net Gradient"] == 3000

    replaced = output.read_bytes(), output.with_suffix(".yaml").read_bytes()
    assert main(["localize", str(movie), "-q", "--no-db", "--skip-existing", "--gradient", "9000"]) == 0
    out, err = capsys.readouterr()
    assert f"skipped {movie}: {output} exists (--skip-existing); kept it" in err
    assert (output.read_bytes(), output.with_suffix(".yaml").read_bytes()) == replaced
    assert "localizations in" not in out


# -- 13: values outside their range are refused with the range ------------------------------------
@pytest.mark.parametrize(
    "option, value, expected",
    [
        ("--gradient", "-1000", "min net gradient (--gradient) must be a number >= 0; got '-1000'"),
        ("--pixelsize", "0", "(--pixelsize) must be a number > 0 and <= 100000; got '0'"),
        ("--sensitivity", "-1", "(--sensitivity) must be a number > 0; got '-1'"),
        ("--box", "4", "box must be odd and >= 3"),
        ("--block-frames", "0", "frames per task (--block-frames) must be a whole number >= 1; got '0'"),
        ("--files-at-once", "-1", "(--files-at-once) must be a whole number >= 1; got '-1'"),
        ("--workers", "0", "(--workers) must be a whole number >= 1; got '0'"),
    ],
)
def test_out_of_range_values_are_refused_with_the_range(shared_data, option, value, expected, capsys):
    movie = shared_data / "raw-picasso" / "testdata.raw"
    with pytest.raises(SystemExit) as stopped:
        main(["localize", str(movie), option, value, "--no-db"])
    assert stopped.value.code == 2
    assert expected in capsys.readouterr().err


def test_other_commands_refuse_out_of_range_values(tmp_path, capsys):
    for argv, expected in [
        (["demo", "--size", "3"], "frame side (--size) must be a whole number >= 24 and <= 4096; got '3'"),
        (["watch", str(tmp_path), "--rescan-seconds", "0"], "(--rescan-seconds) must be a number > 0; got '0'"),
        (["watch", str(tmp_path), "--settle-seconds", "-1"], "(--settle-seconds) must be a number >= 0"),
    ]:
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2 and expected in capsys.readouterr().err


# -- 14: help ---------------------------------------------------------------------------------
def _parsers(parser, name="napari-picasso"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from _parsers(child, f"{name} {sub}")


def test_every_argument_has_help_with_its_default_and_no_markup():
    checked = 0
    for name, parser in _parsers(build_parser()):
        text = parser.format_help()
        assert "``" not in text and ":func:" not in text, name
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            label = f"{name} {action.option_strings or action.metavar}"
            assert action.help and action.help != argparse.SUPPRESS, f"{label} has no help"
            default = action.default
            if action.option_strings and action.nargs != 0 and default not in (None, [], argparse.SUPPRESS):
                if default is not False:
                    assert "default" in parser._get_formatter()._get_help_string(action), f"{label}: no default"
            checked += 1
    assert checked > 100


def test_help_as_the_program_prints_it():
    done = program("--help")
    assert done.returncode == 0 and "``" not in done.stdout and "localize" in done.stdout
    localize = program("localize", "--help").stdout
    assert "``" not in localize and "MOVIE                 movie files" in localize
    assert "--skip-existing" in localize and "(default: 5000)" in localize
    watch = program("watch", "--help").stdout
    # the groups example keeps its lines
    assert "    - {box: 7, gradient: 5000, fit: mle, baseline: 100, sensitivity: 0.5}" in watch
    calibrate = program("calibrate-z", "--help").stdout
    assert "--fit {mle,lq}" in calibrate and "mle-3d" not in calibrate and "--zcalib" not in calibrate


# -- 15: db list, progress into files, tifffile's lines ------------------------------------------
@pytest.fixture
def database_with_long_paths(shared_data, tmp_path):
    deep = tmp_path / ("a_rather_long_folder_name_for_an_experiment_" * 2) / "day 1"
    deep.mkdir(parents=True)
    for name in ("testdata_locs.hdf5", "testdata_locs.yaml"):
        shutil.copy(shared_data / "raw-picasso" / name, deep / name.replace("testdata", "cos7_tubulin_alexa647_run_12"))
    database = tmp_path / "lab.db"
    assert main(["db", "add", str(deep), "--db", str(database), "--group", "tubulin-2026-series"]) == 0
    return database, deep / "cos7_tubulin_alexa647_run_12_locs.hdf5"


def test_db_list_fits_the_terminal_and_writes_whole_values_into_pipes(database_with_long_paths, monkeypatch, capsys):
    database, locs_path = database_with_long_paths
    capsys.readouterr()
    with open_database(database) as db:
        entered = query_rows(db, columns=["entered"])[0]["entered"]
    from napari_picasso.db.views import format_time

    when = format_time(entered)  # local time, to the minute
    assert len(when) == 16
    columns = ["id", "locs_path", "group_name", "n_locs", "nena_nm", "entered"]
    # into a pipe (capsys): every value whole, however long
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["db", "list", "--db", str(database), "--columns", *columns]) == 0
    out = capsys.readouterr().out
    assert str(locs_path) in out and when in out and "tubulin-2026-series" in out
    # a terminal of 80 and of 250 characters: lines fit; paths are cut in the middle, times never
    for width in (80, 400):
        monkeypatch.setenv("COLUMNS", str(width))
        assert main(["db", "list", "--db", str(database), "--columns", *columns]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert all(len(line) <= width for line in lines[:-1]), lines
        row = lines[2]
        assert when in row and "564" in row
        if width == 80:
            assert "..." in row and row.split()[1].endswith("locs.hdf5")
        else:
            assert str(locs_path) in row


def test_progress_into_a_file_is_a_line_per_step(blinking_movie, tmp_path):
    path, _, _ = blinking_movie
    log = tmp_path / "run.log"
    with open(log, "w") as stderr:
        subprocess.run(
            [sys.executable, "-m", "napari_picasso", "localize", str(path), "--out", str(tmp_path), "--no-db"],
            stderr=stderr,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(SRC)},
            timeout=300,
            check=True,
        )
    text = log.read_text()
    assert "\r" not in text
    steps = [line for line in text.splitlines() if line.startswith("blinking.raw: ")]
    assert 2 <= len(steps) <= 12 and steps[-1].startswith("blinking.raw: 300/300 frames (100%)")


@pytest.mark.parametrize("flavour", ["plain", "imagej", "ome"])
def test_a_cut_tiff_gives_one_clean_error_line(tmp_path, flavour):
    frames = np.random.default_rng(0).poisson(100, (50, 32, 32)).astype(np.uint16)
    whole = tmp_path / f"whole_{flavour}.tif"
    options = {"plain": {}, "imagej": {"imagej": True}, "ome": {"ome": True, "metadata": {"axes": "TYX"}}}[flavour]
    tifffile.imwrite(whole, frames, **options)
    cut = tmp_path / f"cut_{flavour}.tif"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    done = program("localize", cut, "--no-db", "-q")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr  # one line: no tifffile log
    assert done.stderr.startswith(f"error: {cut}: is truncated")
    assert not list(tmp_path.glob("*_locs.*"))


# -- 16: demo ------------------------------------------------------------------------------------
def test_demo_cleans_up_and_leaves_the_real_database_alone(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    real = tmp_path / "real.db"
    env = {"TMPDIR": str(temporary), "NAPARI_PICASSO_DB": str(real)}
    done = program("demo", "--frames", "200", "--size", "48", env=env)
    assert done.returncode == 0, done.stderr
    assert list(temporary.iterdir()) == [] and not real.exists()
    assert "database row 1 (ok, group 'demo')" in done.stdout and "removed" in done.stdout

    kept = program("demo", "--frames", "200", "--size", "48", "--keep", env=env)
    assert kept.returncode == 0, kept.stderr
    assert f"group 'demo') in {real}" in kept.stdout
    (folder,) = temporary.iterdir()
    assert f"files kept in {folder}" in kept.stdout
    with open_database(real) as db:
        (row,) = query_rows(db, columns=["group_name", "locs_path"])
    assert row["group_name"] == "demo" and Path(row["locs_path"]) == folder / "demo_locs.hdf5"


# -- 5: the first run says why it waits ----------------------------------------------------------
def test_the_first_run_says_it_prepares_the_kernels_once(shared_data, tmp_path):
    movie = shared_data / "raw-picasso" / "testdata.raw"
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "fresh cache")}
    first = program("localize", movie, "--out", tmp_path, "--no-db", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines()[0] == FIRST_RUN_NOTICE
    again = program("localize", movie, "--out", tmp_path, "--no-db", env=env)
    assert again.returncode == 0 and FIRST_RUN_NOTICE not in again.stderr
    assert "replaced the earlier" in again.stderr


def test_first_run_notice_follows_the_fit_methods_kernels(monkeypatch):
    from napari_picasso import kernel_cache
    from napari_picasso.core import zfit
    from napari_picasso.parameters import LocalizeParameters

    modules = [m.__name__.rsplit(".", 1)[1] for m in kernel_cache.kernel_modules(LocalizeParameters(fit_method="lq"))]
    assert {"identify", "spots", "gaussfit"} <= set(modules) and "zfit" not in modules
    parameters_3d = LocalizeParameters(fit_method="mle-3d")
    assert zfit in kernel_cache.kernel_modules(parameters_3d)
    monkeypatch.setattr(
        kernel_cache, "_has_cached_code", lambda dispatcher: dispatcher.py_func.__module__ != zfit.__name__
    )
    assert first_run_notice(LocalizeParameters()) is None
    assert first_run_notice(parameters_3d) == FIRST_RUN_NOTICE


def test_yaml_of_each_named_output_says_which_movie(ndtiff_dataset):
    main(["localize", str(ndtiff_dataset), "--choose", "channel=FITC", "-q", "--no-db"])
    documents = list(yaml.safe_load_all((ndtiff_dataset.parent / "ndtiffv2.0_test_channel-FITC_locs.yaml").read_text()))
    assert documents[0]["File"] == str(ndtiff_dataset) and documents[0]["Channel"] == "FITC"
