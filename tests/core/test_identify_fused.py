"""The one-pass identification finds exactly the candidates of the pixel-by-pixel rule.

The reference is the earlier kernel: every pixel checked against its whole box
(:func:`~napari_picasso.core.identify._is_box_maximum`), the net gradient where it is
the box's first maximum. Random frames of integer counts (many ties), of floats and
with NaN, every odd box from 3 to 15, regions of interest at and away from the edges,
frames smaller than a box.
"""

import numba
import numpy as np
import pytest

from napari_picasso.core.identify import _is_box_maximum, _net_gradient, identify, unit_vectors_to_centre


@numba.njit(cache=False)
def _reference(frames, box, rm, min_net_gradient, y0, x0, y1, x1, uy, ux):
    r = box // 2
    n_frames, height, width = frames.shape
    out_f = np.empty(n_frames * height * width, np.int64)
    out_y = np.empty(n_frames * height * width, np.int32)
    out_x = np.empty(n_frames * height * width, np.int32)
    out_ng = np.empty(n_frames * height * width, np.float32)
    n = 0
    for f in range(n_frames):
        frame = frames[f]
        for y in range(y0 + r, y1 - r):
            for x in range(x0 + r, x1 - r):
                if _is_box_maximum(frame, y, x, rm):
                    ng = _net_gradient(frame, y, x, r, uy, ux)
                    if ng > min_net_gradient:
                        out_f[n], out_y[n], out_x[n], out_ng[n] = f, y, x, ng
                        n += 1
    return out_f[:n], out_y[:n], out_x[:n], out_ng[:n]


def reference(frames, min_net_gradient, box, roi=None, rm=None):
    frames = np.ascontiguousarray(frames, dtype=np.float32)
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    y0, x0, y1, x1 = roi if roi is not None else (0, 0, *frames.shape[1:])
    uy, ux = unit_vectors_to_centre(box)
    rm = box // 2 if rm is None else rm
    return _reference(frames, box, rm, np.float32(min_net_gradient), y0, x0, y1, x1, uy, ux)


def assert_same(found, expected):
    for a, b in zip(found, expected):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def random_frames(kind, shape, rng):
    if kind == "counts":  # small integer range: ties everywhere
        return rng.poisson(20, shape).astype(np.float32)
    if kind == "camera":
        return (100 + rng.poisson(200, shape) + 0.0).astype(np.uint16)
    frames = rng.normal(300, 30, shape).astype(np.float32)
    if kind == "nan":
        frames[rng.random(shape) < 0.02] = np.nan
    return frames


@pytest.mark.parametrize("box", [3, 5, 7, 9, 11, 13, 15])
@pytest.mark.parametrize("kind", ["counts", "camera", "float", "nan"])
def test_same_candidates_as_pixel_by_pixel_rule(box, kind):
    rng = np.random.default_rng(box * 7 + len(kind))
    frames = random_frames(kind, (6, 37, 41), rng)
    for threshold in (-1e9, 0.0, 50.0):
        assert_same(identify(frames, threshold, box=box), reference(frames, threshold, box))
    for roi in [(0, 0, 37, 41), (1, 2, 36, 40), (3, 5, 20, 33), (0, 10, 37, 11 + box), (5, 0, 5 + box, 41)]:
        assert_same(identify(frames, 0.0, box=box, roi=roi), reference(frames, 0.0, box, roi))


@pytest.mark.parametrize("shape", [(2, 1, 1), (2, 3, 3), (2, 4, 9), (2, 9, 4), (3, 7, 7), (1, 8, 8)])
@pytest.mark.parametrize("box", [3, 5, 7])
def test_frames_about_the_size_of_a_box(shape, box):
    frames = random_frames("counts", shape, np.random.default_rng(1))
    assert_same(identify(frames, -1e9, box=box), reference(frames, -1e9, box))


def test_flat_plateaus_keep_their_first_pixel():
    frame = np.full((20, 20), 5.0, np.float32)
    frame[5:8, 5:8] = 9.0  # a plateau: only its first pixel in row-major order is a maximum
    frame[14, 14] = 9.0
    assert_same(identify(frame, -1e9, box=5), reference(frame, -1e9, 5))
    _, y, x, _ = identify(frame, -1e9, box=5)
    assert (5, 5) in set(zip(y.tolist(), x.tolist())) and (6, 6) not in set(zip(y.tolist(), x.tolist()))


@pytest.mark.parametrize("box, radius", [(5, 1), (7, 1), (7, 2), (9, 2), (9, 3), (11, 4)])
@pytest.mark.parametrize("kind", ["counts", "float", "nan"])
def test_a_smaller_maximum_neighbourhood_follows_the_same_rule(box, radius, kind):
    rng = np.random.default_rng(box * 11 + radius)
    frames = random_frames(kind, (4, 31, 35), rng)
    for roi in [None, (2, 3, 28, 30)]:
        found = identify(frames, 0.0, box=box, roi=roi, maximum_radius_px=radius)
        assert_same(found, reference(frames, 0.0, box, roi, rm=radius))


def test_a_spot_three_pixels_from_a_brighter_one_gets_its_own_box():
    frame = np.full((30, 30), 10.0, np.float32)
    yy, xx = np.mgrid[:30, :30]
    for y, x, height in ((15, 12, 300.0), (15, 15, 250.0)):
        frame += height * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 2.0)
    _, y_box, x_box, _ = identify(frame, 100.0, box=7)
    _, y_five, x_five, _ = identify(frame, 100.0, box=7, maximum_radius_px=2)
    assert list(zip(y_box, x_box)) == [(15, 12)]
    assert list(zip(y_five, x_five)) == [(15, 12), (15, 15)]


@pytest.mark.parametrize("radius", [0, 4, 1.5])
def test_a_maximum_radius_outside_the_box_is_refused(radius):
    with pytest.raises(ValueError, match="maximum_radius_px must be a whole number from 1 to 3"):
        identify(np.zeros((20, 20), np.float32), 0.0, box=7, maximum_radius_px=radius)
