"""``napari-picasso server``: the experiment database in a web browser, until interrupted.

Without ``--network`` the server listens on 127.0.0.1 only: other computers cannot connect.
With ``--network`` it listens on every interface and prints the address the lab's other
computers use. Pages: Status (and adding files), History, Compare, Preview, Watchers.
Needs the ``server`` extra: ``pip install -e ".[server]"`` in a clone (until the package is on PyPI).
"""

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import webbrowser
from pathlib import Path

NO_BROWSER_ENV = "NAPARI_PICASSO_NO_BROWSER"
LOCAL_ADDRESS = "127.0.0.1"
NETWORK_ADDRESS = "0.0.0.0"
START_TIMEOUT_S = 90.0


def add_parser(subparsers):
    parser = subparsers.add_parser("server", help="the experiment database in a web browser", description=__doc__)
    parser.add_argument("--port", type=int, default=8501, help="TCP port (default %(default)s)")
    parser.add_argument(
        "--network",
        action="store_true",
        help="listen on all network interfaces (the lab's computers can connect); default: this computer only",
    )
    parser.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="database file (default: $NAPARI_PICASSO_DB or ~/.picasso/napari_picasso.db)",
    )
    parser.add_argument(
        "--watcher-logs",
        type=Path,
        action="append",
        default=[],
        metavar="FOLDER",
        help="also look for watcher logs in FOLDER (repeatable)",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help=f"do not open a web browser (also: ${NO_BROWSER_ENV}=1 or $CI set)"
    )
    parser.set_defaults(func=run)


def streamlit_arguments(app_path, port, network):
    """The ``streamlit run`` command line (listening address, no telemetry, no reloading)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path),
        "--server.address",
        NETWORK_ADDRESS if network else LOCAL_ADDRESS,
        "--server.port",
        str(int(port)),
        # We print the URLs and open the browser ourselves.
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]


def network_address():
    """This computer's address on the network (the interface of the default route), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 1))  # UDP connect sends nothing: it only picks a route
            address = probe.getsockname()[0]
        except OSError:
            address = None
    if not address or address.startswith("127."):
        try:
            address = socket.gethostbyname(socket.gethostname())
        except OSError:
            return None
    return None if address.startswith("127.") else address


def should_open_browser(no_browser=False, environ=None):
    """A browser is opened unless asked not to, in CI, or on a Linux machine without a display."""
    environ = os.environ if environ is None else environ
    if no_browser or environ.get(NO_BROWSER_ENV) or environ.get("CI"):
        return False
    if sys.platform.startswith("linux") and not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        return False
    return True


def port_in_use(port, network=False):
    """True when the port is taken: something answers on it, or it cannot be bound.

    Checked before Streamlit starts: a health check cannot tell our server from another
    one (another napari-picasso server, any Streamlit app) already answering there.

    Parameters
    ----------
    port : int
        TCP port.
    network : bool
        Check the address ``--network`` listens on (all interfaces), else 127.0.0.1.
    """
    try:
        with socket.create_connection((LOCAL_ADDRESS, int(port)), timeout=1.0):
            return True
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if os.name != "nt":
            # As Streamlit's own listener does: a port left in TIME_WAIT by a server that
            # just stopped is free. (On Windows SO_REUSEADDR would bind a port in use.)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((NETWORK_ADDRESS if network else LOCAL_ADDRESS, int(port)))
        except OSError:
            return True
    return False


def port_in_use_message(port):
    """The error for a taken port, with the fix."""
    return (
        f"error: port {port} is already in use (another server, perhaps another "
        f"'napari-picasso server', listens there); choose a free one with --port, e.g. --port {int(port) + 1}"
    )


def wait_until_ready(port, process, timeout_s=START_TIMEOUT_S):
    """Poll Streamlit's health endpoint; False if the process ended or time ran out.

    An answer counts only while ``process`` is running: a Streamlit that found the port
    taken exits, and the answer came from the other server.
    """
    deadline = time.monotonic() + timeout_s
    url = f"http://{LOCAL_ADDRESS}:{port}/_stcore/health"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return process.poll() is None
        except OSError:
            pass
        time.sleep(0.25)
    return False


def run(args):
    if importlib.util.find_spec("streamlit") is None:
        print(
            'error: the browser app needs Streamlit: pip install -e ".[server]" in a clone of napari-picasso',
            file=sys.stderr,
        )
        return 2
    from ..db import DB_ENV_VAR, default_database_path
    from ..server import APP_PATH, WATCHER_LOGS_ENV

    db_path = (args.db.expanduser() if args.db else default_database_path()).absolute()
    if not db_path.is_file():
        print(f"note: no database at {db_path} yet; the Status page's 'Add' creates it", file=sys.stderr)
    environ = dict(os.environ)
    environ[DB_ENV_VAR] = str(db_path)
    folders = [str(f.expanduser().absolute()) for f in args.watcher_logs]
    if folders:
        environ[WATCHER_LOGS_ENV] = os.pathsep.join(folders)
    if port_in_use(args.port, args.network):
        print(port_in_use_message(args.port), file=sys.stderr)
        return 1
    process = subprocess.Popen(
        streamlit_arguments(APP_PATH, args.port, args.network), env=environ, stdout=subprocess.DEVNULL, stderr=None
    )

    def request_stop(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        # SIGINT too: a shell starting us in the background sets it to "ignore".
        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    else:
        previous = {}
    try:
        if not wait_until_ready(args.port, process):
            code = process.poll()
            if code is not None and port_in_use(args.port, args.network):
                # Taken between our check and Streamlit's start.
                print(port_in_use_message(args.port), file=sys.stderr)
            else:
                print(
                    f"error: the server did not start on port {args.port}"
                    + (f" (exit code {code})" if code is not None else ""),
                    file=sys.stderr,
                )
            return 1
        local_url = f"http://localhost:{args.port}"
        print(f"napari-picasso server: database {db_path}")
        print(f"  Local URL:   {local_url}")
        if args.network:
            address = network_address()
            hostname = socket.gethostname()
            if address:
                print(f"  Network URL: http://{address}:{args.port}")
            print(f"  Host name:   http://{hostname}:{args.port}")
        else:
            print("  (this computer only; --network lets the lab's computers connect)")
        print("Press Ctrl+C to stop.", flush=True)
        if should_open_browser(args.no_browser):
            try:
                webbrowser.open(local_url)
            except Exception:  # noqa: BLE001  no browser is no reason to stop the server
                pass
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        print("server stopped", file=sys.stderr)
        for number, handler in previous.items():
            signal.signal(number, handler)
