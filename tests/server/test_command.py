"""``napari-picasso server``: listening address, URLs, browser policy, clean stop."""

import signal
import urllib.request

import pytest

pytest.importorskip("streamlit")

from _server_helpers import RunningServer, can_connect, listening_addresses  # noqa: E402

from napari_picasso.cli import build_parser  # noqa: E402
from napari_picasso.commands import server  # noqa: E402


def test_options_and_defaults():
    args = build_parser().parse_args(["server"])
    assert (args.port, args.network, args.db, args.no_browser) == (8501, False, None, False)
    command = server.streamlit_arguments("app.py", 8123, network=False)
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[command.index("--browser.gatherUsageStats") + 1] == "false"
    command = server.streamlit_arguments("app.py", 8123, network=True)
    assert command[command.index("--server.address") + 1] == "0.0.0.0"


def test_browser_is_opened_only_where_there_is_one(monkeypatch):
    monkeypatch.setattr(server.sys, "platform", "linux")
    assert server.should_open_browser(environ={"DISPLAY": ":0"})
    assert not server.should_open_browser(no_browser=True, environ={"DISPLAY": ":0"})
    assert not server.should_open_browser(environ={"DISPLAY": ":0", "CI": "true"})
    assert not server.should_open_browser(environ={"DISPLAY": ":0", server.NO_BROWSER_ENV: "1"})
    assert not server.should_open_browser(environ={})  # a headless lab server


def test_without_network_only_this_computer_can_connect(lab):
    from _server_helpers import free_port

    port = free_port()
    with RunningServer(lab["db"], port) as running:
        assert running.wait_ready(), running.output()
        assert f"Local URL:   http://localhost:{port}" in running.output()
        assert "Network URL" not in running.output()
        assert listening_addresses(running.process.pid, port) == {"127.0.0.1"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=10) as response:
            assert response.read() == b"ok"
        address = server.network_address()
        if address is not None:
            assert not can_connect(address, port)  # refused on the network interface
        running.stop(signal.SIGINT)  # Ctrl+C
    assert running.process.returncode == 0
    assert "server stopped" in running.output()
    assert not can_connect("127.0.0.1", port)  # Streamlit stopped with it


def test_with_network_the_lab_can_connect(lab):
    from _server_helpers import free_port

    address = server.network_address()
    if address is None:
        pytest.skip("this machine has no network address")
    port = free_port()
    with RunningServer(lab["db"], port, "--network") as running:
        assert running.wait_ready(), running.output()
        assert f"Network URL: http://{address}:{port}" in running.output()
        assert listening_addresses(running.process.pid, port) == {"0.0.0.0"}
        assert can_connect(address, port)


def test_a_busy_port_is_reported(lab):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with RunningServer(lab["db"], port) as running:
            assert not running.wait_ready(60)
            running.process.wait(30)
        assert running.process.returncode == 1
        assert f"port {port} is already in use" in running.output()
        assert f"--port {port + 1}" in running.output()


def test_another_server_on_the_port_is_not_taken_for_ours(lab):
    """Something already answering Streamlit's health check there: an error, never its URL."""
    import http.server
    import threading

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server API)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    port = other.server_address[1]
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=10) as response:
            assert response.status == 200  # it does look like a Streamlit server
        with RunningServer(lab["db"], port) as running:
            assert not running.wait_ready(60), running.output()
            running.process.wait(30)
        assert running.process.returncode == 1
        assert "Local URL" not in running.output()
        assert f"port {port} is already in use" in running.output() and "--port" in running.output()
    finally:
        other.shutdown()
        other.server_close()
        thread.join(10)
