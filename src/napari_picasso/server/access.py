"""Who may use the browser app: its token, the host names browsers may reach it by, its data folders.

No Streamlit here: ``napari-picasso server`` uses it before Streamlit starts, the app's
pages while they run.
"""

import hmac
import os
import secrets
import socket
from pathlib import Path

TOKEN_BYTES = 24
"""Random bytes of a token made per start (32 URL-safe characters)."""

SHORT_TOKEN_CHARS = 16

LOCAL_HOST_NAMES = ("localhost", "127.0.0.1", "::1")
"""The names a browser on this computer uses; the only ones allowed without ``--network``."""


def new_token():
    """A random token for one run of the server (URL-safe text).

    Examples
    --------
    >>> len(new_token())
    32
    """
    return secrets.token_urlsafe(TOKEN_BYTES)


def tokens_match(given, expected):
    """Whether ``given`` is the token, compared in constant time (no timing tells how much of it is right).

    Examples
    --------
    >>> tokens_match("s3cret", "s3cret"), tokens_match("s3cre", "s3cret"), tokens_match(None, "s3cret")
    (True, False, False)
    """
    if not expected or given is None:
        return False
    return hmac.compare_digest(str(given).encode("utf-8"), str(expected).encode("utf-8"))


def network_address():
    """This computer's address on the network (the interface of the default route), or None.

    Found without sending anything: a UDP socket "connected" to an unroutable address only
    picks the outgoing interface. (Streamlit would ask a web service for it instead.)
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 1))
            address = probe.getsockname()[0]
        except OSError:
            address = None
    if not address or address.startswith("127."):
        try:
            address = socket.gethostbyname(socket.gethostname())
        except OSError:
            return None
    return None if address.startswith("127.") else address


def this_computer_names():
    """The names and addresses the lab's browsers may use for this computer (host name, its fully
    qualified name, the addresses the name resolves to, the network address)."""
    names = []
    hostname = socket.gethostname()
    for name in (hostname, hostname.split(".")[0], socket.getfqdn()):
        names.append(name)
    try:
        for *_, sockaddr in socket.getaddrinfo(hostname, None, type=socket.SOCK_STREAM):
            names.append(sockaddr[0])
    except OSError:
        pass
    address = network_address()
    if address:
        names.append(address)
    return names


def allowed_hosts(network, *, extra=()):
    """The host names a browser's request may carry (Streamlit's ``server.allowedHosts``).

    A page on another site whose name an attacker points at 127.0.0.1 (DNS rebinding)
    reaches a server on this computer with its own name in the ``Host`` header: only the
    names below are answered.

    Parameters
    ----------
    network : bool
        Listening on the network (``--network``): this computer's names and addresses too;
        else only ``localhost``, ``127.0.0.1`` and ``::1``.
    extra : sequence of str
        Further names (``--host-name``: a DNS alias, a reverse proxy's name).

    Examples
    --------
    >>> allowed_hosts(False, extra=["picasso.lab.example"])
    ['localhost', '127.0.0.1', '::1', 'picasso.lab.example']
    """
    names = list(LOCAL_HOST_NAMES) + (this_computer_names() if network else []) + list(extra)
    cleaned = (str(name).strip().lower().rstrip(".") for name in names)
    return list(dict.fromkeys(name for name in cleaned if name and name not in ("0.0.0.0", "::")))


class PathRefused(ValueError):
    """A path typed into a page that the server will not use; the message says why."""


def data_roots_from(text):
    """The data folders in ``$NAPARI_PICASSO_DATA_ROOTS`` (``os.pathsep``-separated), resolved."""
    return [Path(part).resolve() for part in (text or "").split(os.pathsep) if part]


def check_data_roots(folders):
    """``--data-root`` folders resolved (links followed); ValueError naming one that is not a folder."""
    roots = []
    for folder in folders:
        path = Path(folder).expanduser()
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise ValueError(f"--data-root {folder}: no such folder.") from None
        if not resolved.is_dir():
            raise ValueError(f"--data-root {folder}: not a folder.")
        roots.append(resolved)
    return list(dict.fromkeys(roots))


def resolve_typed_path(text, roots=()):
    """A server path typed into a page: absolute, existing, links and ``..`` resolved, inside ``roots``.

    The check is made on the resolved path, so ``..`` and symbolic links cannot lead out
    of the data folders, and it comes before the existence check, so the answers tell
    nothing about what exists outside them. The resolved path is what the server uses.

    Parameters
    ----------
    text : str
        As typed (surrounding quotes and spaces dropped, ``~`` expanded).
    roots : sequence of Path
        Resolved data folders (:func:`check_data_roots`); empty: anywhere.

    Raises
    ------
    PathRefused
        Saying why.

    Examples
    --------
    >>> resolve_typed_path("/") == Path("/").resolve()
    True
    >>> try:
    ...     resolve_typed_path("/tmp/../etc", roots=[Path("/tmp").resolve()])
    ... except PathRefused as error:
    ...     print(str(error).split(":")[1].strip())
    outside the data folders of this server (/tmp).
    """
    typed = str(text).strip().strip('"').strip("'")
    path = Path(typed).expanduser()
    if not path.is_absolute():
        raise PathRefused(f"`{typed}`: give an absolute path (the server's folders, not your computer's).")
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a loop of symbolic links
        raise PathRefused(f"`{typed}`: cannot be resolved (a loop of symbolic links?).") from None
    if roots and not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise PathRefused(f"`{typed}`: outside the data folders of this server ({', '.join(str(r) for r in roots)}).")
    if not resolved.exists():
        raise PathRefused(f"`{typed}`: no such file or folder on the server.")
    return resolved
