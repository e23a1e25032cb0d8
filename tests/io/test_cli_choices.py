"""The command line opens multi-movie files with --choose, and says how when it is missing."""

import h5py
import nd2
import numpy as np

from napari_picasso.cli import main
from napari_picasso.io.locs import load_locs


def test_localize_cli_with_choices(shared_data, tmp_path, capsys):
    movie = shared_data / "nd2" / "cluster.nd2"
    code = main(["localize", str(movie), "--out", str(tmp_path), "-q"])
    assert code == 1
    err = capsys.readouterr().err
    assert "cluster.nd2" in err and "--choose z=..." in err and "--choose channel=..." in err
    assert not list(tmp_path.iterdir())

    code = main(
        [
            "localize",
            str(movie),
            "--out",
            str(tmp_path),
            "-q",
            "--gradient",
            "2000",
            "--choose",
            "channel=1",
            "--choose",
            "z=4",
        ]
    )
    assert code == 0, capsys.readouterr().err
    # the choices, by the reader's labels, are part of the name: each plane has its own output
    output = tmp_path / "cluster_z-4_channel-FM_4-64_2_CHAPS_locs.hdf5"
    locs, info = load_locs(output)
    assert info[0]["Frames"] == 3 and info[0]["Width"] == 38 and info[0]["Height"] == 31
    assert info[0]["Choices"] == {"z": 4, "channel": "FM 4-64/2% CHAPS"}
    assert info[0]["Camera"] == "Nikon A1plus"
    # spots found sit on bright pixels of the chosen plane
    frames = nd2.imread(movie)[:, 4, 1]
    assert len(locs) > 0
    values = frames[locs["frame"], np.rint(locs["y"]).astype(int), np.rint(locs["x"]).astype(int)]
    assert np.median(values) > np.median(frames)
    with h5py.File(output) as f:
        assert "locs" in f


def test_bad_choose_option(tmp_path, capsys, shared_data):
    code = main(["localize", str(shared_data / "raw-picasso" / "testdata.raw"), "--choose", "channel"])
    assert code == 2 and "AXIS=VALUE" in capsys.readouterr().err
