"""End to end: the server started as a user would, History loaded in headless chromium."""

import os
import shutil
import signal
import sqlite3
import struct
import urllib.parse
from contextlib import closing

import pytest

pytest.importorskip("streamlit")

from _server_helpers import RunningServer, copy_picasso, free_port, wait_for  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
]


@pytest.fixture
def browser(tmp_path):
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run does)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the [testing] extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def png_size(path):
    with open(path, "rb") as f:
        header = f.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_history_in_a_real_browser(lab, browser, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port()
    with RunningServer(lab["db"], port) as running:
        assert running.wait_ready(), running.output()
        browser.get(f"http://localhost:{port}/?page=History")
        # Streamlit draws the page from its websocket after the HTML loads.
        WebDriverWait(browser, 60).until(lambda b: "cell1_pg_2_locs.hdf5" in b.page_source)
        WebDriverWait(browser, 30).until(lambda b: "testdata_locs.hdf5" in b.page_source)
        assert "History" in browser.page_source
        screenshot = tmp_path / "history.png"
        assert browser.save_screenshot(str(screenshot))
    assert running.process.returncode == 0
    width, height = png_size(screenshot)
    assert width > 800 and height > 600
    assert screenshot.stat().st_size > 20_000  # a drawn page, not a blank one


def _token_of(running):
    """The token in the Local URL the server printed."""
    line = next(line for line in running.lines if "Local URL:" in line)
    return urllib.parse.parse_qs(urllib.parse.urlsplit(line.split()[-1]).query)["token"][0]


def _wait_text(browser, text, timeout_s=90):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout_s).until(lambda b: text in b.page_source)


def _element(browser, by, selector, timeout_s=60):
    """The element once Streamlit has drawn it."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout_s).until(expected_conditions.element_to_be_clickable((by, selector)))


def _button(browser, label):
    from selenium.webdriver.common.by import By

    return _element(browser, By.XPATH, f'//button[contains(., "{label}")]')


def _type(browser, label, text, tag="textarea"):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = _element(browser, By.CSS_SELECTOR, f'{tag}[aria-label="{label}"]')
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(text)


def _ok_rows(db_path):
    if not db_path.is_file():
        return []
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
        try:
            return [r[0] for r in db.execute("SELECT locs_path FROM localizations WHERE status = 'ok'")]
        except sqlite3.OperationalError:  # the table is being created
            return []


def test_token_and_a_watcher_started_and_stopped_in_a_real_browser(browser, tmp_path, camera, picasso_locs):
    """With --network: no database content without the token, a wrong one refused; with it the pages,
    kept for the tab across a reload; a watcher started from the Watchers page localizes a movie
    dropped into its folder, keeps running through a server restart and is stopped from the page."""
    from selenium.webdriver.support.ui import WebDriverWait

    from napari_picasso.db import add_paths, open_database
    from napari_picasso.server.panels.watchers import watchers_folder
    from napari_picasso.simulate import blinking_sites, suggested_min_net_gradient, write_movie
    from napari_picasso.watcher.log import read_events
    from napari_picasso.watcher.status import find_logs, process_alive, watcher_state

    root = tmp_path / "lab-data"
    incoming = root / "incoming"
    incoming.mkdir(parents=True)
    copy_picasso(picasso_locs, root / "old" / "testdata_locs.hdf5")
    db_path = tmp_path / "db" / "lab.db"
    db = open_database(db_path)
    try:
        add_paths(db, [root / "old"])
    finally:
        db.close()
    truth = blinking_sites(
        30, 32, 32, n_sites=5, photons=2000, mean_on_frames=3, mean_off_frames=6, min_distance_px=8, seed=9
    )
    (tmp_path / "staging").mkdir()
    staged = write_movie(tmp_path / "staging" / "drop1.raw", truth, 30, 32, 32, bg_photons=40, camera=camera, seed=9)
    gradient = suggested_min_net_gradient(2000, camera)
    groups = f"- {{box: 7, gradient: {gradient:g}, baseline: {camera.baseline:g}, sensitivity: {camera.sensitivity:g}}}"

    port = free_port()
    options = ("--network", "--data-root", str(root))
    pid = None
    try:
        with RunningServer(db_path, port, *options) as running:
            assert running.wait_ready(), running.output()
            token = _token_of(running)
            assert len(token) >= 32
            base = f"http://localhost:{port}/"

            # No token: the token page, nothing of the database.
            browser.get(base + "?page=History")
            _wait_text(browser, "asks for its")
            assert "testdata_locs" not in browser.page_source and str(db_path) not in browser.page_source
            # A wrong token typed in: refused, still nothing.
            _type(browser, "Token", "not-the-token", tag="input")
            _button(browser, "Open").click()
            _wait_text(browser, "Wrong token.")
            assert "testdata_locs" not in browser.page_source
            # ... or given in the address.
            browser.get(base + "?page=History&token=" + token[:-1])
            _wait_text(browser, "is not this server")
            assert "testdata_locs" not in browser.page_source

            # The printed address: the page, and the token leaves the address bar at once.
            browser.get(f"{base}?token={token}&page=History")
            _wait_text(browser, "testdata_locs.hdf5")
            WebDriverWait(browser, 30).until(lambda b: "token=" not in b.current_url)
            assert token not in browser.current_url
            browser.refresh()  # the tab keeps it
            _wait_text(browser, "testdata_locs.hdf5")
            assert "token=" not in browser.current_url
            first_tab = browser.current_window_handle
            browser.switch_to.new_window("tab")  # another tab asks again
            browser.get(base + "?page=History")
            _wait_text(browser, "asks for its")
            assert "testdata_locs" not in browser.page_source
            browser.close()
            browser.switch_to.window(first_tab)

            # Start a watcher from the Watchers page.
            browser.get(base + "?page=Watchers")
            _wait_text(browser, "Start a watcher")
            _type(browser, "Folders", str(incoming))
            _type(browser, "Parameter groups (YAML)", groups)
            _type(browser, "Settle seconds", "1", tag="input")
            _button(browser, "Start watcher").click()
            _wait_text(browser, "Watcher started", 180)
            (log,) = find_logs([watchers_folder(db_path)])
            state = watcher_state(log)
            pid = state["pid"]
            assert state["running"] and state["name"] == str(incoming)

            # A movie dropped into its folder is localized and recorded.
            os.replace(staged.with_suffix(".yaml"), incoming / "drop1.yaml")
            os.replace(staged, incoming / "drop1.raw")
            output = incoming / "drop1_locs.hdf5"
            assert wait_for(lambda: str(output) in _ok_rows(db_path), 240), read_events(log)[-5:]
        assert running.process.returncode == 0

        # The server stopped; the watcher did not.
        assert process_alive(pid), read_events(log)[-5:]
        with RunningServer(db_path, port, *options) as running:
            assert running.wait_ready(), running.output()
            token = _token_of(running)  # a new one: this start's
            browser.get(f"{base}?token={token}&page=Watchers")
            _wait_text(browser, "Watchers of this database")
            _wait_text(browser, f"process {pid} on")
            assert "1 running, 0 stopped" in browser.page_source
            _button(browser, "Stop").click()
            _wait_text(browser, "Stopped the watcher", 60)
            _wait_text(browser, "0 running, 1 stopped")
            screenshot = tmp_path / "watchers.png"
            assert browser.save_screenshot(str(screenshot))
        assert not process_alive(pid)
        events = read_events(log)
        assert events[-1][1] == "stopped" and "1 outputs finished, 0 failed" in events[-1][3]
        # Written: the database, the watcher's outputs and its own files beside the database; nothing else.
        assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
            "incoming/drop1.raw",
            "incoming/drop1.yaml",
            "incoming/drop1_locs.hdf5",
            "incoming/drop1_locs.yaml",
            "old/testdata_locs.hdf5",
            "old/testdata_locs.yaml",
        ]
        stem = log.with_suffix("").name
        written = sorted(str(p.relative_to(db_path.parent)) for p in db_path.parent.rglob("*") if p.is_file())
        assert [w for w in written if not w.startswith("lab.db")] == [
            f"lab-watchers/{stem}.err",
            f"lab-watchers/{stem}.groups.yaml",
            f"lab-watchers/{stem}.log",
        ]
    finally:
        if pid is not None and process_alive(pid):
            os.kill(pid, signal.SIGKILL)
