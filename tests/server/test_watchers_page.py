"""The Watchers page's form (AppTest): every field checked before anything starts, paths kept in the data folders."""

import pytest

pytest.importorskip("streamlit")

from _server_helpers import open_page, texts  # noqa: E402

from napari_picasso.server.panels.watchers import watchers_folder  # noqa: E402
from napari_picasso.watcher import detached  # noqa: E402


@pytest.fixture
def lab_data(tmp_path, use_db, monkeypatch):
    """A database path and a data root with a folder inside, one outside and links out of it."""
    db_path = use_db(tmp_path / "db" / "lab.db")
    root, outside = tmp_path / "lab-data", tmp_path / "elsewhere"
    (root / "incoming").mkdir(parents=True)
    outside.mkdir()
    (outside / "maps.npz").write_bytes(b"not read")
    (root / "out").symlink_to(outside)
    (root / "maps-link.npz").symlink_to(outside / "maps.npz")
    monkeypatch.setenv("NAPARI_PICASSO_DATA_ROOTS", str(root.resolve()))
    monkeypatch.setenv("NAPARI_PICASSO_SERVER_NETWORK", "1")
    return {"db": db_path, "root": root, "outside": outside}


def submit(at, folders="", groups="", commands=""):
    at.text_area(key="watcher_folders").input(folders)
    at.text_area(key="watcher_groups").input(groups)
    at.text_area(key="watcher_commands").input(commands)
    next(b for b in at.button if b.label == "Start watcher").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return texts(at.error)


def assert_nothing_started(lab_data):
    assert not watchers_folder(lab_data["db"]).exists()  # no log, no groups file written
    assert not lab_data["db"].exists()
    assert detached._children == []


def test_folders_outside_the_data_root_are_refused(lab_data):
    root, outside = lab_data["root"], lab_data["outside"]
    at = open_page("Watchers")
    typed = [
        str(outside),  # outside
        f"{root}/../elsewhere",  # a .. trick
        f"{root}/incoming/../../elsewhere",
        str(root / "out"),  # a link out of it
        f"{root}-x",  # a neighbour whose name starts like the root
    ]
    errors = submit(at, folders="\n".join(typed))
    assert len(errors) == len(typed)
    for line, error in zip(typed, errors):
        assert error.startswith(f"Folders: `{line}`: outside the data folders of this server ({root.resolve()})")
    assert_nothing_started(lab_data)
    # Inside, but not there / not a folder / relative.
    errors = submit(at, folders=f"{root}/incoming/not-yet\n{root}/maps-link.npz\nincoming")
    assert errors[0].endswith("no such file or folder on the server.")
    assert errors[1] == f"Folders: `{root}/maps-link.npz`: outside the data folders of this server ({root.resolve()})."
    assert "give an absolute path" in errors[2]
    errors = submit(at, folders="")
    assert errors == ["Folders: type at least one folder on the server."]
    assert_nothing_started(lab_data)


def test_groups_and_commands_are_checked_inline_before_starting(lab_data):
    root = lab_data["root"]
    at = open_page("Watchers")
    errors = submit(
        at,
        folders=str(root / "incoming"),
        groups="- {box: 7, gradient: 5000}\n- {boxsize: 9}",
        commands="napari-picasso undrift $FILENAME\necho 'unclosed",
    )
    assert errors[0].startswith("Parameter groups: group 2: unknown option 'boxsize'")
    assert errors[1].startswith("Commands, line 2: ") and "quotation" in errors[1]
    assert len(errors) == 2
    assert submit(at, folders=str(root / "incoming"), groups="- {box: 7\n")[0].startswith(
        "Parameter groups: is not valid YAML"
    )
    assert submit(at, folders=str(root / "incoming"), groups="- {fit: mle-3d}")[0].startswith(
        "Parameter groups: group 1: fit method 'mle-3d' needs a 3D calibration"
    )
    # A file a group reads is a typed path too: kept in the data folders.
    errors = submit(at, folders=str(root / "incoming"), groups=f"- {{camera-maps: {lab_data['outside']}/maps.npz}}")
    assert errors == [
        f"Parameter groups: group 1: camera-maps: `{lab_data['outside']}/maps.npz`: "
        f"outside the data folders of this server ({root.resolve()})."
    ]
    errors = submit(at, folders=str(root / "incoming"), groups=f"- {{zcalib: '{root}/maps-link.npz'}}")
    assert len(errors) == 1 and "zcalib: " in errors[0] and "outside the data folders" in errors[0]
    assert_nothing_started(lab_data)


def test_on_the_network_without_data_root_starting_is_off(tmp_path, use_db, monkeypatch):
    use_db(tmp_path / "lab.db")
    monkeypatch.setenv("NAPARI_PICASSO_SERVER_NETWORK", "1")
    at = open_page("Watchers")
    info = " ".join(texts(at.info))
    assert "Starting watchers from the browser is off" in info and "--data-root" in info
    assert "watcher_folders" not in [t.key for t in at.text_area]
    assert not any(b.label == "Start watcher" for b in at.button)
    # This computer only: the form, folders anywhere.
    monkeypatch.setenv("NAPARI_PICASSO_SERVER_NETWORK", "0")
    at = open_page("Watchers")
    assert "watcher_folders" in [t.key for t in at.text_area]
    errors = submit(at, folders=str(tmp_path / "nowhere"))
    assert errors == [f"Folders: `{tmp_path / 'nowhere'}`: no such file or folder on the server."]
