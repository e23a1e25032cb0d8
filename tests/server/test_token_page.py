"""The token page (AppTest): nothing from the database before the token, a wrong one refused."""

import pytest

pytest.importorskip("streamlit")

from _server_helpers import open_page, texts  # noqa: E402

from napari_picasso.server import PAGES  # noqa: E402

TOKEN = "the-lab-token-of-this-start"


@pytest.fixture
def locked(lab, use_db, monkeypatch):
    use_db(lab["db"])
    monkeypatch.setenv("NAPARI_PICASSO_TOKEN", TOKEN)
    return lab


def everything_shown(at):
    """All text the page shows, sidebar included, and its tables."""
    parts = []
    for kind in ("title", "markdown", "caption", "info", "warning", "error", "success", "metric", "subheader"):
        parts += [str(getattr(e, "value", "")) + str(getattr(e, "label", "")) for e in at.get(kind)]
    parts += [str(e.value) for e in at.sidebar.get("caption")]
    return " ".join(parts)


def assert_nothing_of_the_database(at, lab):
    shown = everything_shown(at)
    assert not at.dataframe and not at.metric and not at.get("image")
    for secret in ("cell1", "testdata", "napari_picasso.db", str(lab["root"])):
        assert secret not in shown, (secret, shown)
    assert texts(at.title) == ["napari-picasso"]
    assert not at.sidebar.radio  # no page navigation either


def test_without_the_token_no_page_shows_the_database(locked):
    for page in PAGES:
        at = open_page(page)
        assert_nothing_of_the_database(at, locked)
        assert at.text_input(key="token_input").label == "Token"


def test_a_wrong_token_is_refused(locked):
    at = open_page("Status", token=TOKEN[:-1])
    assert "The token in the address is not this server's." in " ".join(texts(at.error))
    assert_nothing_of_the_database(at, locked)
    at.text_input(key="token_input").input(TOKEN + "x")
    at.button[0].click().run()
    assert texts(at.error) == ["Wrong token."]
    assert_nothing_of_the_database(at, locked)


def test_the_token_in_the_address_opens_the_pages_and_leaves_the_address(locked):
    at = open_page("Status", token=TOKEN)
    assert {m.label: m.value for m in at.metric}["Files"] == "6"
    assert "token" not in at.query_params  # not left in the address (bookmarks, copied links)
    # The tab keeps it: another page in the same session.
    at.sidebar.radio(key="page").set_value("History").run()
    assert not at.exception
    assert "cell1_pg_1_locs.hdf5" in set(at.dataframe[0].value["filename"])


def test_the_token_typed_in_opens_the_pages(locked):
    at = open_page("History")
    at.text_input(key="token_input").input(f"  {TOKEN} ")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert texts(at.title) == ["History"]
    assert "testdata_locs.hdf5" in set(at.dataframe[0].value["filename"])


def test_no_token_set_no_token_page(lab, use_db):
    use_db(lab["db"])
    at = open_page("Status")
    assert texts(at.title) == ["Status"] and "token_input" not in [w.key for w in at.text_input]
