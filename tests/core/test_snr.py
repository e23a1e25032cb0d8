"""SNR-threshold detection against ground truth on simulated cameras (sCMOS with hot pixels)."""

import numpy as np
import pytest

from napari_picasso.core.identify import identify
from napari_picasso.core.snr_detect import snr_identify
from napari_picasso.simulate import CameraModel, expected_photons, isolated_spots, render_movie, scmos_camera

HOT_VARIANCE = 100.0  # counts^2: the simulated chip's hot pixels lie above this


def match_candidates(fi, y, x, truth, radius_px=1.5):
    """Boolean per candidate (within radius of an emitter of its frame) and recall."""
    matched = np.zeros(len(fi), dtype=bool)
    found = 0
    for f in np.unique(truth["frame"]):
        t = truth[truth["frame"] == f]
        sel = np.flatnonzero(fi == f)
        if len(sel) == 0:
            continue
        d = np.hypot(y[sel, None] - t["y"][None], x[sel, None] - t["x"][None])
        matched[sel] = d.min(axis=1) <= radius_px
        found += int((d.min(axis=0) <= radius_px).sum())
    return matched, found / len(truth)


def hot_false_positive_rate(fi, y, x, matched, hot, n_frames):
    """False candidates within 1 px of a hot pixel, per hot pixel and frame."""
    hy, hx = np.nonzero(hot)
    false = ~matched
    near = np.zeros(len(fi), dtype=bool)
    if false.any():
        d = np.maximum(np.abs(y[false, None] - hy[None]), np.abs(x[false, None] - hx[None]))
        near[np.flatnonzero(false)] = (d <= 1).any(axis=1)
    return near.sum() / (len(hy) * n_frames)


@pytest.fixture(scope="module")
def scmos_scene():
    height = width = 96
    n_frames = 30
    camera = scmos_camera(height, width, hot_fraction=0.03, seed=5)
    truth = isolated_spots(n_frames, height, width, spacing_px=12, photons=700, sigma_px=1.0, seed=5)
    movie = render_movie(truth, n_frames, height, width, bg_photons=3.0, camera=camera, seed=5)
    return movie, truth, camera


def test_snr_factor_one_rejects_hot_pixels_and_keeps_recall(scmos_scene):
    movie, truth, camera = scmos_scene
    ppc = 1.0 / camera.gain_map
    hot = camera.variance_map > HOT_VARIANCE
    assert 0.02 < hot.mean() < 0.04
    fi, y, x, snr = snr_identify(
        movie, 1.0, camera.offset_map, ppc, camera.variance_map * ppc**2, excess=1.0, debounce_px=4, box=7
    )
    matched, recall = match_candidates(fi, y, x, truth)
    fp_hot = hot_false_positive_rate(fi, y, x, matched, hot, len(movie))
    assert recall >= 0.98
    assert fp_hot < 0.01
    assert np.all(snr > 1.0)
    # The same detector told a uniform read noise (the chip's median) is fooled by the hot
    # pixels: the map is what keeps them out.
    uniform = np.full_like(camera.variance_map, np.median(camera.variance_map)) * ppc**2
    fi_u, y_u, x_u, _ = snr_identify(movie, 1.0, camera.offset_map, ppc, uniform, excess=1.0, debounce_px=4, box=7)
    matched_u, _ = match_candidates(fi_u, y_u, x_u, truth)
    assert hot_false_positive_rate(fi_u, y_u, x_u, matched_u, hot, len(movie)) > fp_hot
    assert (~matched_u).sum() >= 10 * max(1, (~matched).sum())


@pytest.mark.parametrize(
    "camera",
    [
        CameraModel(baseline=100, sensitivity=0.5, em_gain=1, read_noise_e=1.5),  # CCD/uniform sCMOS
        CameraModel(baseline=400, sensitivity=20.0, em_gain=200, read_noise_e=40.0),  # EMCCD
    ],
    ids=["ccd", "emccd"],
)
def test_factor_one_works_across_cameras(camera):
    truth = isolated_spots(20, 72, 72, spacing_px=12, photons=600, sigma_px=1.0, seed=3)
    movie = render_movie(truth, 20, 72, 72, bg_photons=20.0, camera=camera, seed=3)
    excess = 2.0 if camera.em_gain > 1 else 1.0
    fi, y, x, _ = snr_identify(
        movie,
        1.0,
        camera.baseline,
        camera.sensitivity / camera.em_gain,
        (camera.read_noise_e / camera.em_gain) ** 2,
        excess,
        debounce_px=4,
        box=7,
    )
    matched, recall = match_candidates(fi, y, x, truth)
    assert recall >= 0.98
    assert (~matched).sum() <= 0.01 * len(truth)


def test_debounce_keeps_the_brighter_of_close_candidates():
    truth = np.zeros(2, dtype=isolated_spots(1, 32, 32).dtype)
    truth["x"] = [13.0, 18.0]
    truth["y"] = [16.0, 16.0]
    truth["photons"] = [3000.0, 1500.0]
    truth["sx"] = truth["sy"] = 1.0
    frame = expected_photons(truth, 1, 32, 32, 5.0)[0] + 100.0  # noise-free counts, offset 100
    _, y, x, _ = snr_identify(frame, 1.0, 100.0, 1.0, 1.0, debounce_px=6.0, box=7)
    assert list(zip(y, x)) == [(16, 13)]
    _, y, x, _ = snr_identify(frame, 1.0, 100.0, 1.0, 1.0, debounce_px=2.0, box=7)
    assert list(zip(y, x)) == [(16, 13), (16, 18)]


def test_same_output_layout_as_net_gradient_and_roi(scmos_scene):
    movie, truth, camera = scmos_scene
    roi = (10, 20, 80, 70)
    a = snr_identify(movie[:3], 1.0, camera.offset_map, 1 / camera.gain_map, 1.0, roi=roi)
    b = identify(movie[:3], 500.0, 7, roi)
    assert [v.dtype for v in a] == [v.dtype for v in b]
    fi, y, x, _ = a
    assert np.all(np.diff(fi) >= 0)
    assert y.min() >= roi[0] + 3 and y.max() < roi[2] - 3 and x.min() >= roi[1] + 3 and x.max() < roi[3] - 3


def test_bad_arguments():
    frame = np.zeros((20, 20), np.uint16)
    with pytest.raises(ValueError, match="threshold"):
        snr_identify(frame, -1.0)
    with pytest.raises(ValueError, match="offset map"):
        snr_identify(frame, 1.0, offset=np.zeros((10, 10)))
    with pytest.raises(ValueError, match="box"):
        snr_identify(frame, 1.0, box=4)
