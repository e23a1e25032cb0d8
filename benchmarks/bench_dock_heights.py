"""Minimum heights of the docks and of the main window with every dock open.

    xvfb-run -a -s "-screen 0 1366x768x24" python benchmarks/bench_dock_heights.py

Opens napari with each napari-picasso dock (Plugins menu order, as a user would) and prints
each dock's minimum height and the window's size and minimum height: the window must fit a
1366x768 screen (tests/widgets/test_dock_layout.py checks it).
"""

import yaml
from qtpy.QtWidgets import QApplication


def main():
    from importlib.resources import files

    import napari

    names = [
        w["display_name"]
        for w in yaml.safe_load((files("napari_picasso") / "napari.yaml").read_text())["contributions"]["widgets"]
    ]
    viewer = napari.Viewer(show=True)
    window = viewer.window._qt_window
    window.resize(1366, 740)
    for name in names:
        dock, _ = viewer.window.add_plugin_dock_widget("napari-picassosr", name)
        print(f"{name:<22} dock minimum height {dock.minimumSizeHint().height():5d} px")
    for _ in range(20):
        QApplication.instance().processEvents()
    size, hint = window.size(), window.minimumSizeHint()
    print(f"window {size.width()}x{size.height()} px, minimum height {hint.height()} px (screen 768 px)")
    viewer.close()


if __name__ == "__main__":
    main()
