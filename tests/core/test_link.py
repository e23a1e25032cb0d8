"""Linking recovers simulated binding events."""

import numpy as np
import pytest

from napari_picasso.core.link import link

from _simulated_locs import blinking_table


def true_events(truth, max_dark_frames):
    """Number and mean length (frames) of the binding events of the ground truth."""
    t = np.sort(truth, order=["site", "frame"])
    frame = t["frame"].astype(np.int64)
    new = np.ones(len(t), dtype=bool)
    new[1:] = (t["site"][1:] != t["site"][:-1]) | (frame[1:] - frame[:-1] > max_dark_frames + 1)
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], len(t)] - 1
    return len(starts), float(np.mean(frame[ends] - frame[starts] + 1))


@pytest.fixture(scope="module")
def table():
    return blinking_table(n_frames=4000, size=128, n_sites=300, precision_px=0.1, seed=11, min_distance_px=2.0)


@pytest.mark.parametrize("max_dark_frames", [0, 1, 3])
def test_link_recovers_binding_events(table, max_dark_frames):
    locs, truth = table
    result = link(locs, max_distance_px=0.6, max_dark_frames=max_dark_frames)
    n_true, mean_len_true = true_events(truth, max_dark_frames)
    assert result.n_events == pytest.approx(n_true, rel=0.05)
    assert result.mean_bright_time_frames == pytest.approx(mean_len_true, rel=0.05)
    linked = result.linked
    assert linked["n"].sum() == len(locs)
    assert np.all(linked["len"] >= linked["n"])
    assert np.all(np.diff(linked["frame"].astype(np.int64)) >= 0)
    np.testing.assert_allclose(linked["photon_rate"], linked["photons"] / linked["n"], rtol=1e-5)


def test_linked_positions_are_precision_weighted(table):
    locs, truth = table
    result = link(locs, max_distance_px=0.6, max_dark_frames=1)
    linked = result.linked
    # merged precision is lp / sqrt(n) for equal precisions
    np.testing.assert_allclose(linked["lpx"], 0.1 / np.sqrt(linked["n"]), rtol=1e-4)
    # the merged position is closer to the truth by sqrt(n)
    first_row = np.zeros(result.n_events, dtype=np.int64)
    first_row[result.event[::-1]] = np.arange(len(locs))[::-1]
    site_xy = np.stack([truth["x"], truth["y"]], 1)[first_row]
    error = np.hypot(linked["x"] - site_xy[:, 0], linked["y"] - site_xy[:, 1])
    long_events = linked["n"] >= 4
    assert np.sqrt(np.mean(error[long_events] ** 2)) < 0.1 * np.sqrt(2) / np.sqrt(4) * 1.1


def test_link_weights_by_precision():
    locs = np.zeros(3, dtype=[("frame", "u4"), ("x", "f4"), ("y", "f4"), ("photons", "f4"),
                              ("lpx", "f4"), ("lpy", "f4"), ("bg", "f4")])
    locs["frame"] = [5, 6, 8]
    locs["x"] = [10.0, 10.2, 10.1]
    locs["y"] = [3.0, 3.0, 3.3]
    locs["photons"] = [100, 200, 300]
    locs["lpx"] = [0.1, 0.2, 0.1]
    locs["lpy"] = [0.1, 0.1, 0.1]
    locs["bg"] = [1, 2, 3]
    one = link(locs, max_distance_px=0.5, max_dark_frames=1).linked
    assert len(one) == 1
    w = np.array([100, 25, 100.0])
    assert one["x"][0] == pytest.approx(np.sum(w * [10.0, 10.2, 10.1]) / w.sum(), rel=1e-6)
    assert one["lpx"][0] == pytest.approx(1 / np.sqrt(w.sum()), rel=1e-6)
    assert one["y"][0] == pytest.approx(3.1, rel=1e-6)
    assert (one["frame"][0], one["len"][0], one["n"][0]) == (5, 4, 3)
    assert one["photons"][0] == 600 and one["photon_rate"][0] == 200 and one["bg"][0] == 2
    # a gap of 2 dark frames breaks the event with max_dark_frames=1
    locs["frame"][2] = 9
    assert len(link(locs, max_distance_px=0.5, max_dark_frames=1).linked) == 2
