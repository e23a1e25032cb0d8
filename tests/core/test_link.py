"""Linking recovers simulated binding events."""

import numpy as np
import pytest
from _simulated_locs import blinking_table

from napari_picasso.core._grid import FrameGrid
from napari_picasso.core.link import link


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
    locs = np.zeros(
        3,
        dtype=[
            ("frame", "u4"),
            ("x", "f4"),
            ("y", "f4"),
            ("photons", "f4"),
            ("lpx", "f4"),
            ("lpy", "f4"),
            ("bg", "f4"),
        ],
    )
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


def _reference_link(locs, max_distance, max_dark):
    """Plain sequential greedy linking (frame order, most recent frame first, nearest
    free predecessor), the rule the module docstring states; slow, for small tables.
    Rows of one frame are visited in the order link() visits them (its search index)."""
    order = FrameGrid(locs["frame"], locs["x"], locs["y"], max_distance).order
    frame = locs["frame"].astype(np.int64)
    event = np.full(len(locs), -1)
    taken = np.zeros(len(locs), dtype=bool)
    n_events = 0
    for i in order:
        best = -1
        for g in range(frame[i] - 1, max(frame[i] - 2 - max_dark, -1), -1):
            rows = np.flatnonzero((frame == g) & ~taken)
            d = np.hypot(locs["x"][rows] - locs["x"][i], locs["y"][rows] - locs["y"][i])
            if len(d) and d.min() <= max_distance:
                best = rows[np.argmin(d)]
                break
        if best >= 0:
            taken[best] = True
            event[i] = event[best]
        else:
            event[i] = n_events
            n_events += 1
    return event, n_events


@pytest.mark.parametrize("max_dark_frames", [0, 2])
def test_link_matches_sequential_reference_on_crowded_data(max_dark_frames):
    # crowded: many candidates compete for the same predecessor
    rng = np.random.default_rng(5)
    locs = np.zeros(1500, dtype=[("frame", "u4"), ("x", "f4"), ("y", "f4")])
    locs["frame"] = np.sort(rng.integers(0, 60, len(locs)))
    locs["x"] = rng.uniform(0, 6, len(locs))
    locs["y"] = rng.uniform(0, 6, len(locs))
    result = link(locs, max_distance_px=0.8, max_dark_frames=max_dark_frames)
    event, n_events = _reference_link(locs, 0.8, max_dark_frames)
    assert result.n_events == n_events
    # same partition into events
    pairs = set(zip(result.event.tolist(), event.tolist()))
    assert len(pairs) == n_events
