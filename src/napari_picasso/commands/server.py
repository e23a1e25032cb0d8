"""``napari-picasso server``: the experiment database in a web browser, until interrupted.

Without ``--network`` the server listens on 127.0.0.1 only: other computers cannot connect.
With ``--network`` it listens on every interface, asks every browser tab for a token (a new
random one each start, or ``--token``) and prints the addresses with it. Pages: Status (and
adding files), History, Compare, Preview, Watchers (and starting, stopping watchers).
Needs the ``server`` extra: ``pip install -e ".[server]"`` in a clone (until the package is on PyPI).
"""

import importlib.metadata
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import webbrowser
from pathlib import Path

from ..server.access import SHORT_TOKEN_CHARS, allowed_hosts, check_data_roots, network_address, new_token

NO_BROWSER_ENV = "NAPARI_PICASSO_NO_BROWSER"
HOST_NAMES_ENV = "NAPARI_PICASSO_HOST_NAMES"
"""More ``--host-name`` values, comma-separated (a container's published name)."""
LOCAL_ADDRESS = "127.0.0.1"
NETWORK_ADDRESS = "0.0.0.0"
START_TIMEOUT_S = 90.0
MIN_STREAMLIT = (1, 61)
"""Streamlit 1.61 has ``server.allowedHosts`` (it refuses a websocket naming another host)."""

__all__ = ["add_parser", "network_address", "run", "streamlit_arguments"]


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
    access = parser.add_argument_group("who may use it")
    tokens = access.add_mutually_exclusive_group()
    tokens.add_argument(
        "--token",
        metavar="VALUE",
        help="the token every browser tab must give (also: $NAPARI_PICASSO_TOKEN); "
        "default: with --network a new random one each start, without it none",
    )
    tokens.add_argument(
        "--no-token",
        action="store_true",
        help="with --network, ask no token: anyone who reaches the port reads the database, "
        "adds files and starts watchers (a warning is printed)",
    )
    access.add_argument(
        "--data-root",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="paths typed into the pages (files to add, folders to watch) must lie in DIR (repeatable); "
        "with --network, the Watchers page starts watchers only when given",
    )
    access.add_argument(
        "--host-name",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer browsers that reach the server as NAME (a DNS alias, a reverse proxy's name, "
        f"the host of a container; repeatable; also ${HOST_NAMES_ENV}=NAME,NAME); without --network only "
        "localhost names are answered, with it also this computer's",
    )
    parser.set_defaults(func=run)


def streamlit_arguments(app_path, port, network, hosts=None, server_address=None):
    """The Streamlit command line: listening address, the host names answered, no telemetry, no reloading.

    Parameters
    ----------
    app_path : path-like
        The Streamlit script.
    port : int
        TCP port.
    network : bool
        Listen on every interface, else on 127.0.0.1.
    hosts : sequence of str, optional
        Host names a request may carry (default :func:`~napari_picasso.server.access.allowed_hosts`).
    server_address : str, optional
        The address browsers use (``--network``): given, Streamlit does not ask a web service
        for this computer's external address.
    """
    hosts = allowed_hosts(network) if hosts is None else hosts
    arguments = [
        sys.executable,
        "-m",
        "napari_picasso.server.launch",
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
        # A failing page shows one line (ours); tracebacks go to the server's log only.
        "--client.showErrorDetails",
        "none",
        "--server.enableXsrfProtection",
        "true",
        "--server.enableCORS",
        "true",
    ]
    for host in hosts:
        arguments += ["--server.allowedHosts", host]
    if server_address:
        arguments += ["--browser.serverAddress", server_address]
    return arguments


def streamlit_too_old():
    """The installed Streamlit's version when it is older than :data:`MIN_STREAMLIT`, else None."""
    version = importlib.metadata.version("streamlit")
    numbers = []
    for part in version.split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit())
        numbers.append(int(digits or 0))
    return version if tuple(numbers) < MIN_STREAMLIT else None


def choose_token(args, environ):
    """The token browsers must give, or None: ``--token``, else ``$NAPARI_PICASSO_TOKEN``, else a
    random one with ``--network``; ``--no-token`` none."""
    from ..server import TOKEN_ENV

    if args.no_token:
        return None
    token = args.token if args.token is not None else environ.get(TOKEN_ENV)
    if token is not None:
        token = token.strip()
        if not token:
            raise ValueError("the token is empty; give one with --token VALUE, or --no-token for none")
        return token
    return new_token() if args.network else None


def host_names(args, environ):
    """The ``--host-name`` values and those of ``$NAPARI_PICASSO_HOST_NAMES`` (comma-separated)."""
    from_environment = [name.strip() for name in environ.get(HOST_NAMES_ENV, "").split(",")]
    return list(args.host_name) + [name for name in from_environment if name]


def with_token(url, token):
    """``url`` with ``?token=...`` when there is a token."""
    return f"{url}/?token={urllib.parse.quote(token, safe='')}" if token else url


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
    old = streamlit_too_old()
    if old is not None:
        print(
            f"error: Streamlit {old} cannot refuse requests naming other hosts (server.allowedHosts); "
            f'this server needs Streamlit >= {".".join(map(str, MIN_STREAMLIT))}: pip install -U "streamlit>=1.61"',
            file=sys.stderr,
        )
        return 2
    from ..db import DB_ENV_VAR, default_database_path
    from ..server import APP_PATH, DATA_ROOTS_ENV, NETWORK_ENV, TOKEN_ENV, WATCHER_LOGS_ENV

    try:
        token = choose_token(args, os.environ)
        roots = check_data_roots(args.data_root)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    db_path = (args.db.expanduser() if args.db else default_database_path()).absolute()
    if not db_path.is_file():
        print(f"note: no database at {db_path} yet; the Status page's 'Add' creates it", file=sys.stderr)
    if args.network and args.no_token:
        print(
            f"warning: --no-token: anyone who can reach port {args.port} of this computer can read the database, "
            "add files to it and start and stop watchers",
            file=sys.stderr,
        )
    elif token is not None and len(token) < SHORT_TOKEN_CHARS:
        print(
            f"warning: the token is short ({len(token)} characters); use at least {SHORT_TOKEN_CHARS}", file=sys.stderr
        )
    environ = dict(os.environ)
    environ[DB_ENV_VAR] = str(db_path)
    environ.pop(TOKEN_ENV, None)
    if token is not None:
        environ[TOKEN_ENV] = token
    environ[NETWORK_ENV] = "1" if args.network else "0"
    environ[DATA_ROOTS_ENV] = os.pathsep.join(str(r) for r in roots)
    folders = [str(f.expanduser().absolute()) for f in args.watcher_logs]
    if folders:
        environ[WATCHER_LOGS_ENV] = os.pathsep.join(folders)
    if port_in_use(args.port, args.network):
        print(port_in_use_message(args.port), file=sys.stderr)
        return 1
    address = network_address() if args.network else None
    hosts = allowed_hosts(args.network, extra=host_names(args, os.environ))
    server_address = (address or socket.gethostname()) if args.network else None
    arguments = streamlit_arguments(APP_PATH, args.port, args.network, hosts=hosts, server_address=server_address)
    process = subprocess.Popen(arguments, env=environ, stdout=subprocess.DEVNULL, stderr=None)

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
        local_url = with_token(f"http://localhost:{args.port}", token)
        print(f"napari-picasso server: database {db_path}")
        print(f"  Local URL:   {local_url}")
        if args.network:
            hostname = socket.gethostname()
            if address:
                print(f"  Network URL: {with_token(f'http://{address}:{args.port}', token)}")
            print(f"  Host name:   {with_token(f'http://{hostname}:{args.port}', token)}")
        else:
            print("  (this computer only; --network lets the lab's computers connect)")
        if token is not None:
            print("  Browsers give the token once per tab (in the address above, or typed into the page).")
        if roots:
            print("  Data folders: " + ", ".join(str(r) for r in roots))
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
