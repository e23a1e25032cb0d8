"""A fresh install: the Localize dock compiles numba's kernels in the background and says so."""

import threading

import pytest

from napari_picasso import kernel_cache
from napari_picasso._widgets import localize as localize_dock


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_PICASSO_SETTINGS", str(tmp_path / "settings" / "localize.json"))
    monkeypatch.setenv("NAPARI_PICASSO_CONFIG", str(tmp_path / "settings" / "no-config.yaml"))


def test_first_open_compiles_kernels_in_the_background_and_says_so(make_napari_viewer, qtbot, monkeypatch):
    # A fresh install as the dock sees it: no compiled kernels on disk until compiled.
    compiled = threading.Event()
    release = threading.Event()
    threads = []

    def compile_kernels(parameters):
        threads.append(threading.current_thread().name)
        assert release.wait(30)
        compiled.set()
        return 0.0

    monkeypatch.setattr(
        localize_dock, "first_run_notice", lambda p: None if compiled.is_set() else kernel_cache.FIRST_RUN_NOTICE
    )
    monkeypatch.setattr(localize_dock, "compile_kernels", compile_kernels)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-picassosr", "Localize")
    assert widget.kernels_busy
    assert widget.fit.status.value == "preparing numerical kernels, first run only (this takes up to a minute)"
    assert widget.preview.status.value == kernel_cache.FIRST_RUN_NOTICE
    qtbot.waitUntil(lambda: bool(threads), timeout=5000)
    assert threads[0] != threading.main_thread().name
    release.set()
    qtbot.waitUntil(lambda: not widget.kernels_busy, timeout=10000)
    assert widget.fit.status.value == "" and widget.preview.status.value == ""

    # Compiled: a second dock has nothing to prepare.
    viewer.window.remove_dock_widget("all")
    _, again = viewer.window.add_plugin_dock_widget("napari-picassosr", "Localize")
    assert not again.kernels_busy and again.fit.status.value == ""


def test_compile_kernels_makes_the_first_run_notice_go(tmp_path):
    """The real compilation on a tiny movie: afterwards the kernels are in the disk cache."""
    parameters = localize_dock.LocalizeParameters(fit_method="lq")
    assert kernel_cache.compile_kernels(parameters) >= 0
    assert kernel_cache.first_run_notice(parameters) is None
