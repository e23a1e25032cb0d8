"""Identification by net gradient, checked against a plain-numpy reading of the definition."""

import numpy as np
import pytest

from napari_picasso.core.identify import identify


def net_gradient_reference(frame, y, x, box):
    """The definition in localization-methods.md, written out pixel by pixel."""
    r = box // 2
    total = 0.0
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy == 0 and dx == 0:
                continue
            yy, xx = y + dy, x + dx
            gy = float(frame[yy + 1, xx]) - float(frame[yy - 1, xx])
            gx = float(frame[yy, xx + 1]) - float(frame[yy, xx - 1])
            norm = np.hypot(dy, dx)
            total += gy * (-dy / norm) + gx * (-dx / norm)
    return total


def gaussian_spot(shape, y, x, amplitude, sigma=1.0, offset=100.0):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return offset + amplitude * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))


def test_single_spot_found_with_reference_net_gradient():
    frame = gaussian_spot((32, 32), 15.3, 17.8, 500.0).astype(np.float32)
    f, y, x, ng = identify(frame, 100, box=7)
    assert list(zip(y, x)) == [(15, 18)]
    assert f.tolist() == [0]
    assert ng[0] == pytest.approx(net_gradient_reference(frame, 15, 18, 7), rel=1e-5)
    assert ng[0] > 1000


def test_flat_and_sloped_backgrounds_score_near_zero():
    yy, xx = np.mgrid[:40, :40]
    flat = np.full((40, 40), 300.0, np.float32)
    slope = (100 + 3.0 * xx + 2.0 * yy).astype(np.float32)
    for frame in (flat, slope):
        _, _, _, ng = identify(frame, -1e9, box=7)
        assert np.all(np.abs(ng) < 1e-3)
    # A small bump has a clearly positive score, the slope beside it stays near zero.
    bumped = slope + gaussian_spot((40, 40), 20, 20, 200.0, offset=0).astype(np.float32)
    _, y, x, ng = identify(bumped, 50, box=7)
    assert (20, 20) in set(zip(y.tolist(), x.tolist()))


def test_threshold_box_roi_and_edges():
    frame = np.full((48, 48), 100.0, np.float32)
    for cy, cx in [(10, 10), (10, 30), (30, 30), (2, 24)]:
        frame += gaussian_spot((48, 48), cy, cx, 400.0, offset=0).astype(np.float32)
    _, y, x, ng = identify(frame, 500, box=7)
    # The spot 2 px from the top edge has no full box inside the frame.
    assert set(zip(y.tolist(), x.tolist())) == {(10, 10), (10, 30), (30, 30)}
    _, y, x, _ = identify(frame, 500, box=7, roi=(5, 25, 40, 40))
    assert set(zip(y.tolist(), x.tolist())) == {(10, 30), (30, 30)}
    _, y, _, _ = identify(frame, float(ng.max()) + 1, box=7)
    assert len(y) == 0
    with pytest.raises(ValueError, match="odd"):
        identify(frame, 500, box=6)


def test_ties_give_exactly_one_candidate():
    frame = np.full((20, 20), 10.0, np.float32)
    frame[9:11, 9:11] = 500.0  # a 2x2 plateau: four equal maxima
    _, y, x, _ = identify(frame, 0, box=5)
    assert list(zip(y.tolist(), x.tolist())) == [(9, 9)]


def test_frames_processed_independently_and_sorted():
    rng = np.random.default_rng(0)
    frames = rng.poisson(100, (6, 32, 32)).astype(np.float32)
    frames[2] += gaussian_spot((32, 32), 8, 8, 800, offset=0)
    frames[5] += gaussian_spot((32, 32), 20, 12, 800, offset=0)
    f, y, x, ng = identify(frames, 2000, box=7)
    assert f.tolist() == [2, 5]
    for k in range(2):
        single = identify(frames[f[k]], 2000, box=7)
        assert single[1][0] == y[k] and single[2][0] == x[k]
        assert single[3][0] == pytest.approx(ng[k])
