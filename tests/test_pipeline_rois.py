"""Several ROI rectangles: a spot is kept when its centre lies in any of them."""

import numpy as np
import pytest

from napari_picasso.detection import detect_frame
from napari_picasso.io.errors import ParameterError
from napari_picasso.io.locs import load_locs
from napari_picasso.io.movies import open_movie
from napari_picasso.pipeline import LocalizeParameters, localize, localize_file
from napari_picasso.simulate import suggested_min_net_gradient as gradient_for


def test_rectangles_keep_spots_centred_inside_any(blinking_movie, tmp_path):
    path, truth, camera = blinking_movie
    base = LocalizeParameters(
        box=7,
        min_net_gradient=gradient_for(1500, camera),
        baseline=camera.baseline,
        sensitivity=camera.sensitivity,
        em_gain=camera.em_gain,
    )
    everything = localize(path, base)
    rois = ((4, 4, 30, 30), (34, 30, 60, 60))
    params = base.replace(rois=rois)
    kept = localize(path, params)
    iy, ix = np.rint(everything["y"]).astype(int), np.rint(everything["x"]).astype(int)
    assert 0 < len(kept) < len(everything)
    # Every kept spot's box centre is in a rectangle; the fit may move it by < 1 px.
    for loc in kept:
        assert any(r[0] - 1 <= loc["y"] < r[2] + 1 and r[1] - 1 <= loc["x"] < r[3] + 1 for r in rois)
    # The spots of the full run centred well inside a rectangle are all kept.
    inside = np.zeros(len(everything), bool)
    for y0, x0, y1, x1 in rois:
        inside |= (iy >= y0 + 4) & (iy < y1 - 4) & (ix >= x0 + 4) & (ix < x1 - 4)
    assert inside.sum() > 10

    def key(a):
        return set(zip(a["frame"].tolist(), np.round(a["x"], 3).tolist()))

    assert key(everything[inside]) <= key(kept)
    # Nothing from the empty quadrants (top right, bottom left).
    assert not np.any((kept["y"] < 30) & (kept["x"] > 34)) and not np.any((kept["y"] > 34) & (kept["x"] < 26))
    # The preview's test detection keeps the same spots in a frame.
    with open_movie(path) as movie:
        frame_no = int(kept["frame"][0])
        found = detect_frame(movie, frame_no, params)
    in_frame = kept[kept["frame"] == frame_no]
    assert len(found) >= len(in_frame) > 0
    for loc in in_frame:
        assert np.min(np.hypot(found["y"] - loc["y"], found["x"] - loc["x"])) < 1.5
    for spot in found:
        assert any(r[0] <= spot["y"] < r[2] and r[1] <= spot["x"] < r[3] for r in rois)
    # Recorded in the _locs.yaml and read back.
    result = localize_file(path, params, tmp_path / "rois_locs.hdf5", chunk_frames=16)
    locs, info = load_locs(result.locs_path)
    assert len(locs) == len(kept)
    assert info[1]["ROIs"] == [list(r) for r in rois] and info[1]["ROI"] == [4, 4, 60, 60]
    assert LocalizeParameters.from_info(info[1]).rois == rois


def test_rectangles_outside_the_frame_are_refused(blinking_movie):
    path, _, _ = blinking_movie
    with pytest.raises(ParameterError, match="outside"):
        localize(path, LocalizeParameters(rois=((0, 0, 10, 10), (50, 50, 70, 70))))
    with pytest.raises(ParameterError, match="not both"):
        localize(path, LocalizeParameters(roi=(0, 0, 20, 20), rois=((0, 0, 10, 10),)))
