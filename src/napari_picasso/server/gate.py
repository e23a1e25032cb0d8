"""The token page: with a token set, a browser tab sees nothing from the database before it gives it.

The token comes in the address (``?token=...``, as ``napari-picasso server`` prints it) or
is typed into the page. Once accepted it is kept for the tab: in its Streamlit session
(page changes, a dropped connection) and in the tab's ``sessionStorage`` (a reload sends it
again, once). It is taken out of the address at once, so that a page link copied from the
address bar does not carry it. Other tabs, and other browsers, ask again.
"""

import json
import os
import time

import streamlit as st

from . import TOKEN_ENV
from .access import tokens_match

ACCEPTED_KEY = "token_accepted"
TO_REMEMBER_KEY = "token_to_remember"
STORAGE_KEY = "napari-picasso-token"
REFUSAL_DELAY_S = 1.0
"""Each refused token costs its sender this long (a short ``--token`` is not guessed quickly)."""

# Run in the tab on the token page: a token the tab was given before (a reload) is sent
# again in the address, and dropped from storage first, so a refused one is tried once.
_RESEND = """<script>
(function () {
  var key = %(key)s;
  var token = window.sessionStorage.getItem(key);
  var url = new URL(window.location.href);
  if (token && !url.searchParams.has("token")) {
    window.sessionStorage.removeItem(key);
    url.searchParams.set("token", token);
    window.location.replace(url.toString());
  }
})();
</script>"""
_REMEMBER = "<script>window.sessionStorage.setItem(%(key)s, %(token)s);</script>"


def server_token():
    """The token browsers must give (``$NAPARI_PICASSO_TOKEN``, set by ``napari-picasso server``), or None."""
    return os.environ.get(TOKEN_ENV) or None


def _script_value(text):
    # A JSON string inside <script>: "<" escaped, so no value can close the element.
    return json.dumps(str(text)).replace("<", "\\u003c")


def _run_script(template, **values):
    st.html(template % {k: _script_value(v) for k, v in values.items()}, unsafe_allow_javascript=True)


def _accept(token):
    st.session_state[ACCEPTED_KEY] = True
    st.session_state[TO_REMEMBER_KEY] = token


def unlocked():
    """True when this tab may see the database; otherwise draw the token page and return False."""
    token = server_token()
    if token is None:
        return True
    refused = None
    given = st.query_params.get("token")
    if given is not None:
        del st.query_params["token"]  # never left in the address bar, bookmarks or copied links
        if tokens_match(given, token):
            _accept(given)
        else:
            refused = (
                "The token in the address is not this server's. Unless it was started with `--token`, "
                "the server makes a new one each time it starts: use the address it printed last."
            )
    if st.session_state.get(ACCEPTED_KEY):
        remember = st.session_state.pop(TO_REMEMBER_KEY, None)
        if remember is not None:
            _run_script(_REMEMBER, key=STORAGE_KEY, token=remember)
        return True

    st.title("napari-picasso")
    st.markdown(
        "This server asks for its **token** before it shows the database. It is in the address "
        "`napari-picasso server` printed when it started (`...?token=...`); ask whoever runs the server."
    )
    with st.form("token_form"):
        typed = st.text_input("Token", type="password", key="token_input")
        submitted = st.form_submit_button("Open")
    if submitted:
        if tokens_match(typed.strip(), token):
            _accept(typed.strip())
            st.rerun()
        refused = "Wrong token."
    if refused:
        time.sleep(REFUSAL_DELAY_S)
        st.error(refused)
    else:
        _run_script(_RESEND, key=STORAGE_KEY)
    return False
