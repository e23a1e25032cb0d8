"""Who may use the browser app: token, host names (DNS rebinding), data folders, no call to the outside."""

import socket

import pytest

pytest.importorskip("streamlit")

from _server_helpers import RunningServer, free_port, websocket_handshake  # noqa: E402

from napari_picasso.cli import build_parser  # noqa: E402
from napari_picasso.commands import server  # noqa: E402
from napari_picasso.server import access  # noqa: E402
from napari_picasso.server.access import PathRefused, check_data_roots, resolve_typed_path  # noqa: E402


def test_tokens_compare_in_constant_time_and_differ_per_start(monkeypatch):
    import hmac

    seen = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: seen.append((a, b)) or real(a, b))
    assert access.tokens_match("abc", "abc") and not access.tokens_match("abd", "abc")
    assert not access.tokens_match("", "abc") and not access.tokens_match(None, "abc")
    assert not access.tokens_match("abc", None)
    assert seen == [(b"abc", b"abc"), (b"abd", b"abc"), (b"", b"abc")]  # every comparison made by compare_digest
    assert access.tokens_match("é", "é") and not access.tokens_match("é", "e")  # any text typed
    tokens = {access.new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) == 32 for t in tokens)


def test_token_choice(monkeypatch):
    parse = build_parser().parse_args
    environ = {}
    assert server.choose_token(parse(["server"]), environ) is None  # this computer only: none
    first = server.choose_token(parse(["server", "--network"]), environ)
    second = server.choose_token(parse(["server", "--network"]), environ)
    assert len(first) == 32 and first != second  # random, per start
    assert server.choose_token(parse(["server", "--token", "lab-secret-2026"]), environ) == "lab-secret-2026"
    assert server.choose_token(parse(["server", "--network"]), {"NAPARI_PICASSO_TOKEN": "from-env"}) == "from-env"
    assert server.choose_token(parse(["server"]), {"NAPARI_PICASSO_TOKEN": "from-env"}) == "from-env"
    assert server.choose_token(parse(["server", "--network", "--no-token"]), {"NAPARI_PICASSO_TOKEN": "x"}) is None
    with pytest.raises(ValueError, match="empty"):
        server.choose_token(parse(["server", "--token", " "]), environ)
    with pytest.raises(SystemExit):
        parse(["server", "--token", "x", "--no-token"])
    assert server.host_names(parse(["server", "--host-name", "a"]), {"NAPARI_PICASSO_HOST_NAMES": " b, c.lab ,"}) == [
        "a",
        "b",
        "c.lab",
    ]
    assert server.with_token("http://h:1", "a/b+c") == "http://h:1/?token=a%2Fb%2Bc"
    assert server.with_token("http://h:1", None) == "http://h:1"


def test_streamlit_command_line_refuses_other_hosts_and_errors_in_the_browser():
    command = server.streamlit_arguments("app.py", 8123, network=False)
    assert command[1:4] == ["-m", "napari_picasso.server.launch", "run"]
    hosts = [command[i + 1] for i, a in enumerate(command) if a == "--server.allowedHosts"]
    assert hosts == ["localhost", "127.0.0.1", "::1"]
    options = dict(zip(command[5::2], command[6::2]))
    assert options["--server.enableXsrfProtection"] == "true"
    assert options["--server.enableCORS"] == "true"
    assert options["--client.showErrorDetails"] == "none"
    assert "--browser.serverAddress" not in command
    command = server.streamlit_arguments(
        "app.py",
        8123,
        network=True,
        hosts=access.allowed_hosts(True, extra=["Picasso.Lab.example."]),
        server_address="10.1.2.3",
    )
    hosts = [command[i + 1] for i, a in enumerate(command) if a == "--server.allowedHosts"]
    assert hosts[:3] == ["localhost", "127.0.0.1", "::1"] and "picasso.lab.example" in hosts
    assert socket.gethostname().lower() in hosts and "0.0.0.0" not in hosts
    assert command[command.index("--browser.serverAddress") + 1] == "10.1.2.3"


def test_streamlit_is_given_the_address_and_asks_no_web_service(monkeypatch):
    from streamlit import net_util

    from napari_picasso.server import launch

    def no_outside_calls(*args, **kwargs):
        raise AssertionError(f"Streamlit contacted {args[0]}")

    monkeypatch.setattr(net_util, "_make_blocking_http_get", no_outside_calls)
    monkeypatch.setattr(net_util, "_external_ip", None)
    with pytest.raises(AssertionError, match="checkip"):
        net_util.get_external_ip()  # what Streamlit does by itself
    command = server.streamlit_arguments("app.py", 1, network=True, hosts=["localhost"], server_address="10.1.2.3")
    launch.give_streamlit_the_address(launch.server_address(command))
    assert net_util.get_external_ip() == "10.1.2.3"
    assert launch.server_address(server.streamlit_arguments("app.py", 1, network=False)) == "127.0.0.1"


def test_typed_paths_stay_in_the_data_folders(tmp_path):
    root, outside = tmp_path / "lab-data", tmp_path / "private"
    (root / "day1").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret_locs.hdf5").write_bytes(b"x")
    (root / "out").symlink_to(outside)  # a link out of the root
    (root / "day1" / "latest").symlink_to(root / "day1")  # a link that stays inside
    (root / "loop").symlink_to(root / "loop")
    (roots,) = [check_data_roots([root])]
    assert roots == [root.resolve()]

    assert resolve_typed_path(f"  '{root}/day1'  ", roots) == root.resolve() / "day1"
    assert resolve_typed_path(str(root / "day1" / "latest"), roots) == root.resolve() / "day1"
    assert resolve_typed_path(str(root), roots) == root.resolve()
    refused = {
        str(outside): "outside the data folders",
        f"{root}/../private": "outside the data folders",
        f"{root}/day1/../../private/secret_locs.hdf5": "outside the data folders",
        str(root / "out"): "outside the data folders",
        str(root / "out" / "secret_locs.hdf5"): "outside the data folders",
        f"{root}-other": "outside the data folders",  # a name that only starts like the root
        str(outside / "no-such-file"): "outside the data folders",  # says nothing of what exists outside
        str(root / "day1" / "no-such-file"): "no such file or folder",
        str(root / "loop"): "cannot be resolved",
        "day1": "give an absolute path",
    }
    for typed, reason in refused.items():
        with pytest.raises(PathRefused, match=reason):
            resolve_typed_path(typed, roots)
    assert resolve_typed_path(str(outside), []) == outside.resolve()  # no --data-root: anywhere
    with pytest.raises(ValueError, match="no-such-folder: no such folder"):
        check_data_roots([tmp_path / "no-such-folder"])
    with pytest.raises(ValueError, match="not a folder"):
        check_data_roots([outside / "secret_locs.hdf5"])


def test_a_missing_data_root_stops_the_command(tmp_path, capsys):
    args = build_parser().parse_args(["server", "--db", str(tmp_path / "a.db"), "--data-root", str(tmp_path / "nope")])
    assert args.func(args) == 2
    assert f"--data-root {tmp_path / 'nope'}: no such folder" in capsys.readouterr().err


def test_localhost_server_refuses_other_host_names(tmp_path):
    """DNS rebinding: a page of evil.example whose name now points at 127.0.0.1 cannot open the stream."""
    port = free_port()
    with RunningServer(tmp_path / "lab.db", port) as running:
        assert running.wait_ready(), running.output()
        assert "?token=" not in running.output()  # this computer only: no token unless asked
        assert websocket_handshake(port, f"localhost:{port}", f"http://localhost:{port}") == 101
        assert websocket_handshake(port, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}") == 101
        assert websocket_handshake(port, f"evil.example:{port}", f"http://evil.example:{port}") == 403
        assert websocket_handshake(port, f"evil.example:{port}") == 403
        assert websocket_handshake(port, f"{socket.gethostname()}:{port}") == 403
        # Another site's page opening the stream of localhost: refused without asking the web
        # for this computer's external address (Streamlit alone asks checkip.amazonaws.com here).
        assert websocket_handshake(port, f"localhost:{port}", "http://evil.example") == 403
    assert running.process.returncode == 0
    assert "Did not auto detect external IP" not in running.output()


def test_network_server_answers_its_names_and_warns_without_token(tmp_path):
    port = free_port()
    with RunningServer(
        tmp_path / "lab.db", port, "--network", "--no-token", "--host-name", "picasso.lab.example"
    ) as running:
        assert running.wait_ready(), running.output()
        output = running.output()
        assert "warning: --no-token: anyone who can reach port" in output
        assert "?token=" not in output
        assert websocket_handshake(port, f"picasso.lab.example:{port}") == 101
        assert websocket_handshake(port, f"{socket.gethostname()}:{port}") == 101
        address = access.network_address()
        if address is not None:
            assert websocket_handshake(port, f"{address}:{port}") == 101
        assert websocket_handshake(port, f"evil.example:{port}") == 403
        assert websocket_handshake(port, f"localhost:{port}", "http://evil.example") == 403
    assert "Did not auto detect external IP" not in running.output()


def test_server_prints_its_addresses_with_the_token(tmp_path):
    port = free_port()
    with RunningServer(tmp_path / "lab.db", port, "--network", "--token", "lab token") as running:
        assert running.wait_ready(), running.output()
        output = running.output()
    assert f"Local URL:   http://localhost:{port}/?token=lab%20token" in output
    assert f"Host name:   http://{socket.gethostname()}:{port}/?token=lab%20token" in output
    assert "warning: the token is short (9 characters); use at least 16" in output
