"""A lab's database with real rows for the browser app's tests.

Rows come from the real writers: a simulated movie localized with two parameter groups
(one family), Picasso's own ``testdata_locs.hdf5`` imported by ``add_paths``, a copy of it
that is then deleted (a moved file), a recorded failure, and a real watcher that localizes a
movie appearing in its folder and keeps running (its log is the Watchers page's input).
"""

import os

import pytest

pytest.importorskip("streamlit", reason="the browser app needs the [server] extra (streamlit)")

from _server_helpers import copy_picasso, wait_for  # noqa: E402

from napari_picasso.db import add_paths, open_database, record_failure, record_localization  # noqa: E402
from napari_picasso.pipeline import LocalizeParameters, localize_file  # noqa: E402
from napari_picasso.simulate import blinking_sites, suggested_min_net_gradient, write_movie  # noqa: E402

SERVER_ENV = (
    "NAPARI_PICASSO_WATCHER_LOGS",
    "NAPARI_PICASSO_TOKEN",
    "NAPARI_PICASSO_DATA_ROOTS",
    "NAPARI_PICASSO_SERVER_NETWORK",
)


@pytest.fixture
def use_db(monkeypatch):
    """``use(path)``: the app shows database ``path``, with none of the server's other settings."""

    def use(path):
        monkeypatch.setenv("NAPARI_PICASSO_DB", str(path))
        for name in SERVER_ENV:
            monkeypatch.delenv(name, raising=False)
        return path

    return use


@pytest.fixture(scope="session")
def picasso_locs(shared_data):
    path = shared_data / "raw-picasso" / "testdata_locs.hdf5"
    assert path.with_suffix(".yaml").is_file()
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory, camera, picasso_locs):
    """``dict`` with ``db`` (path), ``root``, ``watched`` (the watcher's folder), ``watcher``, ``files``."""
    from napari_picasso.watcher import Watcher
    from napari_picasso.watcher.log import default_log_path

    root = tmp_path_factory.mktemp("lab")
    db_path = root / "database" / "napari_picasso.db"
    day = root / "acquisitions" / "2026-11-20"
    day.mkdir(parents=True)
    truth = blinking_sites(
        60, 40, 40, n_sites=8, photons=2000, mean_on_frames=3, mean_off_frames=8, min_distance_px=8, seed=5
    )
    movie = write_movie(day / "cell1.raw", truth, 60, 40, 40, bg_photons=40, camera=camera, seed=5)
    gradient = suggested_min_net_gradient(2000, camera)
    db = open_database(db_path)
    files = {}
    try:
        for group, factor in ((1, 1.0), (2, 4.0)):
            params = LocalizeParameters(
                box=7,
                min_net_gradient=gradient * factor,
                baseline=camera.baseline,
                sensitivity=camera.sensitivity,
                em_gain=camera.em_gain,
            )
            locs_path = day / f"cell1_pg_{group}_locs.hdf5"
            localize_file(movie, params, locs_path)
            record_localization(db, locs_path, group="sim")
            files[f"pg{group}"] = locs_path
        files["picasso"] = copy_picasso(picasso_locs, root / "picasso" / "testdata_locs.hdf5")
        files["moved"] = copy_picasso(picasso_locs, root / "picasso" / "moved_locs.hdf5")
        result = add_paths(db, [root / "picasso"], group="picasso")
        assert len(result.added) == 2, result
        files["moved"].unlink()  # moved away after it was recorded
        record_failure(db, day / "broken.tif", "not a TIFF file (truncated header)", group="sim")
    finally:
        db.close()

    # A real watcher on its own folder: a movie appears, it is localized and recorded.
    watched = root / "watched"
    staging = root / "staging"
    watched.mkdir()
    staging.mkdir()
    truth = blinking_sites(
        30, 32, 32, n_sites=5, photons=2000, mean_on_frames=3, mean_off_frames=6, min_distance_px=8, seed=6
    )
    staged = write_movie(staging / "w1.raw", truth, 30, 32, 32, bg_photons=40, camera=camera, seed=6)
    params = LocalizeParameters(
        box=7,
        min_net_gradient=gradient,
        baseline=camera.baseline,
        sensitivity=camera.sensitivity,
        em_gain=camera.em_gain,
    )
    watcher = Watcher(
        [watched],
        [params],
        db_path=db_path,
        log_path=default_log_path(watched),
        settle_seconds=0.3,
        rescan_seconds=0.5,
        use_events=False,
    )
    watcher.start()
    os.replace(staged.with_suffix(".yaml"), watched / "w1.yaml")
    os.replace(staged, watched / "w1.raw")
    try:
        assert wait_for(lambda: watcher.counts["finished"] >= 1 or watcher.error is not None), watcher.counts
        assert watcher.error is None
        files["watched"] = watched / "w1_locs.hdf5"
        yield {"db": db_path, "root": root, "watched": watched, "watcher": watcher, "files": files}
    finally:
        watcher.stop(timeout=30)
