"""The Localize docks' remembered parameters: a small JSON file in the user's config folder.

``$NAPARI_PICASSO_SETTINGS`` overrides the file's path (tests point it into a temporary
folder). A missing or unreadable file gives the defaults; saving writes a temporary file
and renames it, so a crash never leaves half a file.
"""

import json
import os
from pathlib import Path

from ..io.atomic import replacing
from ..io.camera_config import user_config_dir

SETTINGS_ENV = "NAPARI_PICASSO_SETTINGS"


def settings_path():
    """Where the Localize docks remember their parameters."""
    env = os.environ.get(SETTINGS_ENV)
    return Path(env) if env else user_config_dir() / "localize.json"


def load_settings(path=None):
    """The remembered settings (an empty dict when none are stored or they are unreadable)."""
    path = Path(path) if path is not None else settings_path()
    try:
        with open(path) as f:
            settings = json.load(f)
    except (OSError, ValueError):
        return {}
    return settings if isinstance(settings, dict) else {}


def save_settings(settings, path=None):
    """Store ``settings`` (JSON-serialisable values) for the next session."""
    path = Path(path) if path is not None else settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as part, open(part, "w") as f:
        json.dump(settings, f, indent=1, sort_keys=True)
    return path
