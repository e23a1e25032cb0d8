"""Streamlit as ``napari-picasso server`` starts it: ``python -m napari_picasso.server.launch run APP ...``.

The same as ``python -m streamlit``, but for one thing: Streamlit would ask a web service
(checkip.amazonaws.com) for this computer's "external" address when it lists its URLs and
again for every request from another origin. A lab server may have no way out, and has no
business telling a web service it runs. The server knows its own address
(``--browser.serverAddress``, with ``--network``; else 127.0.0.1): Streamlit gets that one
before it starts and contacts nothing.
"""

import sys

LOCAL_ADDRESS = "127.0.0.1"
_OPTION = "--browser.serverAddress"


def server_address(argv):
    """The ``--browser.serverAddress`` of a Streamlit command line, else 127.0.0.1.

    Examples
    --------
    >>> server_address(["run", "app.py", "--browser.serverAddress", "10.0.0.5"])
    '10.0.0.5'
    >>> server_address(["run", "app.py"])
    '127.0.0.1'
    """
    for i, argument in enumerate(argv):
        if argument == _OPTION and i + 1 < len(argv):
            return argv[i + 1]
        if argument.startswith(_OPTION + "="):
            return argument.split("=", 1)[1]
    return LOCAL_ADDRESS


def give_streamlit_the_address(address):
    """Answer Streamlit's external-address question with ``address`` before it asks the web."""
    from streamlit import net_util

    # get_external_ip() returns this cached answer when it is set, without a request.
    net_util._external_ip = address


def main():
    give_streamlit_the_address(server_address(sys.argv[1:]))
    from streamlit.web.cli import main as streamlit_main

    streamlit_main(prog_name="streamlit")


if __name__ == "__main__":
    main()
