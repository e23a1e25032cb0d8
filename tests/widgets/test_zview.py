"""3D localizations in a real napari viewer: points, z-coloured rendering, calibration plot."""

import numpy as np

from napari_picasso._widgets.zview import add_z_layers, show_calibration_plot
from napari_picasso.core import zfit
from napari_picasso.core.zrender import render_z, z_colors
from napari_picasso.layer_data import z_layer_data
from napari_picasso.simulate import AstigmaticPSF


def _two_depths(n=400, seed=0):
    """A deep cluster (z = -300 nm) at x = 10 px and a shallow one (z = +300 nm) at x = 30 px."""
    rng = np.random.default_rng(seed)
    locs = np.zeros(
        2 * n,
        dtype=[
            ("frame", "u4"),
            ("x", "f4"),
            ("y", "f4"),
            ("z", "f4"),
            ("photons", "f4"),
            ("lpx", "f4"),
            ("lpy", "f4"),
            ("lpz", "f4"),
        ],
    )
    locs["x"][:n], locs["x"][n:] = 10, 30
    locs["x"] += rng.normal(0, 0.1, 2 * n)
    locs["y"] = 20 + rng.normal(0, 0.1, 2 * n)
    locs["z"][:n], locs["z"][n:] = -300, 300
    locs["lpx"] = locs["lpy"] = 0.1
    locs["photons"] = 1000
    return locs


def test_z_render_colours_follow_depth():
    locs = _two_depths()
    rgb, viewport, z_range = render_z(locs, oversampling=4, z_range_nm=(-400, 400))
    assert rgb.shape[2] == 3 and rgb.dtype == np.float32 and 0 <= rgb.min() and rgb.max() <= 1
    deep = rgb[int(20 * 4), int(10 * 4)]
    shallow = rgb[int(20 * 4), int(30 * 4)]
    assert deep[2] > deep[0] and shallow[0] > shallow[2]  # blue deep, red shallow
    np.testing.assert_allclose(deep / deep.max(), z_colors(0.125) / z_colors(0.125).max(), atol=0.05)
    assert rgb[5, 5].max() == 0  # nothing rendered where there are no localizations


def test_3d_layers_in_the_viewer(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    locs = _two_depths()
    image, points = add_z_layers(viewer, locs, pixelsize_nm=130.0, name="demo", oversampling=4)
    assert image.rgb and points.ndim == 3
    np.testing.assert_allclose(points.data[:, 0], locs["z"] / 130.0, rtol=1e-6)
    np.testing.assert_allclose(points.data[:, 2], locs["x"], rtol=1e-6)
    # the rendering lines up with the points in camera px
    assert np.allclose(image.data_to_world((20 * 4, 10 * 4)), (20 - 0.5 + 0.125, 10 - 0.5 + 0.125))
    colours = points.face_color
    assert colours[0, 2] > colours[0, 0] and colours[-1, 0] > colours[-1, 2]
    viewer.dims.ndisplay = 3
    viewer.screenshot(tmp_path / "z.png", canvas_only=False)
    assert (tmp_path / "z.png").stat().st_size > 0


def test_layer_data_needs_z():
    locs = np.zeros(3, dtype=[("x", "f4"), ("y", "f4"), ("lpx", "f4"), ("lpy", "f4")])
    try:
        z_layer_data(locs, 130.0)
    except ValueError as error:
        assert "mle-3d" in str(error)
    else:
        raise AssertionError("expected a ValueError")


def test_calibration_plot_docks(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    psf = AstigmaticPSF()
    z = zfit.frame_positions_nm(61, 20.0)
    sx, sy = psf.widths(z)
    calibration, curves = zfit.calibrate(np.arange(61), sx, sy, 61, 20.0)
    dock = show_calibration_plot(viewer, calibration, curves, pixelsize_nm=130.0)
    assert "3D calibration" in viewer.window.dock_widgets
    canvas = dock.widget()
    axes = canvas.figure.axes[0]
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert {"mean sx", "mean sy", "fit wx(z)", "fit wy(z)"} <= set(lines)
    # widths drawn in nm: the per-step means and the fitted curve at the crossing
    np.testing.assert_allclose(lines["mean sx"].get_ydata(), curves["mean_sx"] * 130.0)
    assert len(axes.collections) == 2  # the +-1 std bands
    canvas.draw()
    viewer.screenshot(tmp_path / "calib.png", canvas_only=False)


def test_calibration_widget_calibrates_a_bead_movie(make_napari_viewer, qtbot, tmp_path):
    from napari_picasso._widgets.zcalib import CalibrateZWidget
    from napari_picasso.io.zcalib import load_calibration
    from napari_picasso.simulate import CameraModel, bead_stack, write_movie

    camera = CameraModel(baseline=100.0, sensitivity=0.5, read_noise_e=1.5)
    truth = bead_stack(25.0, 57, 40, 40, spacing_px=14, photons=20000, seed=3)
    movie = write_movie(tmp_path / "beads.tif", truth, 57, 40, 40, bg_photons=50, camera=camera, seed=3)
    viewer = make_napari_viewer()
    widget = CalibrateZWidget(viewer)
    viewer.window.add_dock_widget(widget, name="3D calibration")
    widget.movie.value = movie
    widget.step_nm.value = 25.0
    widget.min_net_gradient.value = 3000
    widget.sensitivity.value = 0.5
    widget.button.clicked.emit()
    qtbot.waitUntil(lambda: widget.calibration is not None or widget.status.value.startswith("Error"), timeout=120_000)
    assert widget.calibration is not None, widget.status.value
    saved = tmp_path / "beads_3d_calib.yaml"
    assert widget.calibration_path == saved and load_calibration(saved)["Step size in nm"] == 25.0
    assert int(widget.status.value.split(" z steps")[0].split()[-1]) >= 50  # of 57
    assert widget.canvas is not None and widget.canvas.figure.axes[0].get_lines()
    qtbot.waitUntil(lambda: widget.button.enabled, timeout=10_000)
    viewer.screenshot(tmp_path / "widget.png", canvas_only=False)


def test_calibration_widget_asks_for_a_movie(make_napari_viewer):
    from napari_picasso._widgets.zcalib import CalibrateZWidget

    widget = CalibrateZWidget(make_napari_viewer())
    widget.movie.value = "/nonexistent/beads.tif"
    widget.run()
    assert "Choose the bead z-stack" in widget.status.value and widget.calibration is None
