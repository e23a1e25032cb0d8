"""Helpers of the browser app's tests."""

import shutil
import socket
import threading
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def open_page(name, **query):
    """A page run in Streamlit's AppTest (``query``: further URL parameters); no exception allowed."""
    from streamlit.testing.v1 import AppTest

    from napari_picasso.server import APP_PATH

    at = AppTest.from_file(str(APP_PATH), default_timeout=120)
    at.query_params["page"] = name
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements):
    return [e.value for e in elements]


def wait_for(predicate, timeout_s=60.0, interval_s=0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def copy_picasso(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    shutil.copyfile(source.with_suffix(".yaml"), target.with_suffix(".yaml"))
    return target


class RunningServer:
    """``napari-picasso server`` in a child process (``with`` stops it with SIGTERM)."""

    def __init__(self, db_path, port, *options):
        import os
        import subprocess
        import sys

        environ = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
            NAPARI_PICASSO_NO_BROWSER="1",
        )
        environ.pop("NAPARI_PICASSO_TOKEN", None)  # the options given decide
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "napari_picasso", "server", "--port", str(port), "--db", str(db_path), *options],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl+C"):
                self._ready.set()

    def wait_ready(self, timeout_s=90.0):
        """Wait until the URLs are printed (True), or the process ends or time runs out (False)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._ready.wait(0.2):
                return True
            if self.process.poll() is not None:
                self._reader.join(5)
                return self._ready.is_set()
        return False

    def output(self):
        return "\n".join(self.lines)

    def stop(self, signal_number=None):
        import signal
        import subprocess

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM if signal_number is None else signal_number)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(10)
        return self.process.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def websocket_handshake(port, host, origin=None):
    """The status code of a websocket handshake to Streamlit's stream with these ``Host`` and ``Origin`` headers."""
    import base64
    import os

    lines = [
        "GET /_stcore/stream HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: streamlit",
    ] + ([f"Origin: {origin}"] if origin else [])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status = connection.recv(4096).split(b"\r\n")[0].decode()
    return int(status.split()[1])


def listening_addresses(pid, port):
    """The addresses the process ``pid`` or its children listen on at ``port``."""
    import psutil

    process = psutil.Process(pid)
    pids = {pid} | {child.pid for child in process.children(recursive=True)}
    return {
        c.laddr.ip
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid in pids
    }


def can_connect(address, port):
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except OSError:
        return False
