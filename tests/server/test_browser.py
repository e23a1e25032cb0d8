"""End to end: the server started as a user would, History loaded in headless chromium."""

import shutil
import struct

import pytest

pytest.importorskip("streamlit")

from _server_helpers import RunningServer, free_port  # noqa: E402

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
