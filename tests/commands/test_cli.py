"""The command line, run as users run it."""

import subprocess
import sys

import numpy as np

from napari_picasso.cli import main
from napari_picasso.core.matching import detection_scores
from napari_picasso.io.locs import load_locs
from napari_picasso.simulate import suggested_min_net_gradient


def test_localize_command(blinking_movie, tmp_path, capsys):
    path, truth, camera = blinking_movie
    gradient = suggested_min_net_gradient(1500, camera)
    code = main(["localize", str(path), "--out", str(tmp_path), "--fit", "lq", "--gradient", str(gradient),
                 "--baseline", "100", "--sensitivity", "0.5", "--pixelsize", "160", "--frames", "0", "200"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "blinking_locs.hdf5" in out and "localizations in 200 frames" in out
    assert "200/200 frames" in err  # the progress bar
    locs, info = load_locs(tmp_path / "blinking_locs.hdf5")
    assert info[1]["Fit method"] == "lq" and info[1]["Pixelsize"] == 160 and info[1]["Frame Bounds"] == [0, 200]
    assert "log_likelihood" not in locs.dtype.names
    assert detection_scores(locs, truth[truth["frame"] < 200])["recall"] > 0.97


def test_demo_runs_as_a_program(tmp_path):
    done = subprocess.run([sys.executable, "-m", "napari_picasso", "demo", "--folder", str(tmp_path),
                           "--frames", "200", "--size", "48"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "against ground truth: recall" in done.stdout
    recall = float(done.stdout.split("recall ")[1].split(",")[0])
    assert recall > 0.95
    assert np.all(load_locs(tmp_path / "demo_locs.hdf5", with_info=False)["photons"] > 0)
