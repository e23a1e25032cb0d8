"""The npe2 manifest (napari.yaml) validates, its python names import, and a broken one is refused."""

import os
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

import napari_picasso

PROJECT = Path(__file__).resolve().parents[1]
MANIFEST = Path(napari_picasso.__file__).with_name("napari.yaml")


def npe2_validate(manifest):
    """``npe2 validate MANIFEST --imports`` with this tree's package first on the path."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(napari_picasso.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    done = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", str(manifest), "--imports"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    return done.returncode, done.stdout + done.stderr


def test_manifest_validates_with_its_imports():
    code, output = npe2_validate(MANIFEST)
    assert code == 0, output
    assert "valid" in output


def test_manifest_name_is_the_distribution_and_entry_point():
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert manifest["name"] == project["name"]
    assert project["entry-points"]["napari.manifest"] == {project["name"]: "napari_picasso:napari.yaml"}
    for command in manifest["contributions"]["commands"]:
        assert command["id"].startswith(project["name"] + ".")


def test_validate_refuses_a_manifest_whose_python_name_is_missing(tmp_path):
    # The check above can fail: a command pointing at a function that does not exist.
    manifest = yaml.safe_load(MANIFEST.read_text())
    manifest["contributions"]["commands"][0]["python_name"] = "napari_picasso._reader:no_such_function"
    broken = tmp_path / "napari.yaml"
    broken.write_text(yaml.safe_dump(manifest))
    code, output = npe2_validate(broken)
    assert code != 0 and "no_such_function" in output, output
