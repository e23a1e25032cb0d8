"""Camera configuration (``config.yaml``): cameras, their sensitivities and EM gain.

The file holds a ``Cameras`` mapping, one entry per camera name, in the layout Picasso's
Localize reads (see ``locs-format.md``, "Camera configuration"). A movie's
Micro-Manager metadata picks the camera (its ``Camera`` value) and presets the
sensitivity categories (``<camera>-<category>`` properties), the EM gain (the camera's
``Gain Property Name``) and whether EM gain applies (its ``EM Switch Property``).

No Qt here: the Photon conversion dock, the command line and the watcher share it.
"""

import dataclasses
import os
from pathlib import Path

import yaml

from .errors import InputFileError

CONFIG_ENV = "NAPARI_PICASSO_CONFIG"
CONFIG_NAME = "config.yaml"


@dataclasses.dataclass
class CameraConfig:
    """One camera of ``config.yaml``.

    Attributes
    ----------
    name : str
    baseline : float
        Offset, counts.
    pixelsize_nm : float
    qe : float or None
        ``Quantum Efficiency`` (recorded, not used in the photon conversion).
    sensitivity : float or dict
        Electrons per count, or a mapping nested along ``categories``.
    categories : list of str
        Micro-Manager property names whose values select the sensitivity.
    gain_property : str or None
        Micro-Manager property holding the EM gain.
    em_switch_property : str or None
        Micro-Manager property saying whether EM amplification is on.
    em_switch_on : object
        The value of ``em_switch_property`` that means "on".
    """

    name: str
    baseline: float
    pixelsize_nm: float
    qe: float | None = None
    sensitivity: object = 1.0
    categories: list = dataclasses.field(default_factory=list)
    gain_property: str | None = None
    em_switch_property: str | None = None
    em_switch_on: object = None

    def category_choices(self, chosen=()):
        """The values the next category can take after ``chosen`` (one per earlier level)."""
        level = self.sensitivity
        for value in chosen:
            level = level[_key_in(level, value)]
        if not isinstance(level, dict):
            return []
        return list(level.keys())

    def sensitivity_for(self, chosen=()):
        """Electrons per count for the category values ``chosen`` (in category order).

        Missing or unknown values fall back to the first entry of their level.
        """
        level = self.sensitivity
        chosen = list(chosen)
        for depth in range(len(self.categories)):
            if not isinstance(level, dict):
                break
            value = chosen[depth] if depth < len(chosen) else None
            try:
                level = level[_key_in(level, value)]
            except KeyError:
                level = next(iter(level.values()))
        while isinstance(level, dict):
            level = next(iter(level.values()))
        return float(level)

    def default_categories(self, mm_metadata=None):
        """Category values preset from Micro-Manager metadata (``<camera>-<category>``).

        Where the metadata lacks a property or holds a value the file does not know, the
        first value of that level is used.
        """
        mm_metadata = mm_metadata or {}
        chosen = []
        for category in self.categories:
            choices = self.category_choices(chosen)
            if not choices:
                break
            value = mm_metadata.get(f"{self.name}-{category}")
            try:
                chosen.append(choices[[str(c) for c in choices].index(str(value))])
            except ValueError:
                chosen.append(choices[0])
        return chosen

    def em_gain_from(self, mm_metadata=None):
        """EM gain from Micro-Manager metadata: 1 when switched off or unknown."""
        mm_metadata = mm_metadata or {}
        if self.em_switch_property:
            switch = mm_metadata.get(f"{self.name}-{self.em_switch_property}", mm_metadata.get(self.em_switch_property))
            if switch is not None and str(switch) != str(self.em_switch_on):
                return 1.0
        if self.gain_property:
            gain = mm_metadata.get(f"{self.name}-{self.gain_property}", mm_metadata.get(self.gain_property))
            try:
                return max(1.0, float(gain))
            except (TypeError, ValueError):
                return 1.0
        return 1.0


def _key_in(level, value):
    """The key of ``level`` equal to ``value``, comparing as strings (YAML turns '10' into 10)."""
    if value in level:
        return value
    for key in level:
        if str(key) == str(value):
            return key
    raise KeyError(value)


def config_path(setting=None):
    """Where ``config.yaml`` is read from.

    ``$NAPARI_PICASSO_CONFIG`` wins, then ``setting`` (the path chosen in the Photon
    conversion dock), then ``config.yaml`` in the user's napari-picasso config folder.
    """
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    if setting:
        return Path(setting)
    return user_config_dir() / CONFIG_NAME


def user_config_dir():
    """napari-picasso's folder under the user's configuration directory."""
    import platformdirs

    return Path(platformdirs.user_config_dir("napari-picasso", appauthor=False))


def _number(path, camera, key, value):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputFileError(
            path, f"camera {camera!r}: {key} is {value!r}, not a number.", fix=f"write {key} as a number."
        ) from None


def _check_nested(path, camera, sensitivity, categories, depth=0):
    if depth == len(categories):
        _number(path, camera, "Sensitivity", sensitivity)
        return
    if not isinstance(sensitivity, dict) or not sensitivity:
        raise InputFileError(
            path,
            f"camera {camera!r}: Sensitivity must nest one mapping level per Sensitivity "
            f"Category ({', '.join(map(str, categories))}); level {depth + 1} "
            f"({categories[depth]}) is {sensitivity!r}.",
            fix="nest Sensitivity as {value of category 1: {value of category 2: electrons per count}}.",
        )
    for value in sensitivity.values():
        _check_nested(path, camera, value, categories, depth + 1)


def parse_cameras(document, path="config.yaml"):
    """Cameras of a parsed ``config.yaml`` document, in file order.

    Raises
    ------
    InputFileError
        Naming the file, the camera and the key that is wrong.
    """
    if not isinstance(document, dict) or not isinstance(document.get("Cameras"), dict):
        raise InputFileError(
            path,
            "has no 'Cameras' mapping.",
            fix="start the file with 'Cameras:' and one indented entry per camera name.",
        )
    cameras = []
    for name, entry in document["Cameras"].items():
        name = str(name)
        if not isinstance(entry, dict):
            raise InputFileError(path, f"camera {name!r} is {entry!r}, not a mapping of settings.")
        missing = [k for k in ("Baseline", "Pixelsize") if k not in entry]
        if "Sensitivity" not in entry:
            missing.append("Sensitivity")
        if missing:
            raise InputFileError(
                path, f"camera {name!r} lacks {', '.join(missing)}.", fix=f"add {', '.join(missing)} under {name}."
            )
        categories = entry.get("Sensitivity Categories") or []
        if not isinstance(categories, list):
            raise InputFileError(path, f"camera {name!r}: Sensitivity Categories must be a list of property names.")
        categories = [str(c) for c in categories]
        sensitivity = entry["Sensitivity"]
        _check_nested(path, name, sensitivity, categories)
        if not categories:
            sensitivity = float(sensitivity)
        switch = entry.get("EM Switch Property")
        if switch is not None and not (isinstance(switch, dict) and "Name" in switch):
            raise InputFileError(
                path,
                f"camera {name!r}: EM Switch Property must hold Name and the on value.",
                fix="write it as 'EM Switch Property: {Name: <property>, True: <value when on>}'.",
            )
        switch_on = None
        if switch is not None:
            # The on-value is written under a key meaning "on" (True / On); take the first
            # such key, else the only other value.
            others = {k: v for k, v in switch.items() if k != "Name"}
            for key in (True, "True", "true", "On", "on"):
                if key in others:
                    switch_on = others[key]
                    break
            else:
                switch_on = next(iter(others.values()), None)
        qe = entry.get("Quantum Efficiency")
        cameras.append(
            CameraConfig(
                name=name,
                baseline=_number(path, name, "Baseline", entry["Baseline"]),
                pixelsize_nm=_number(path, name, "Pixelsize", entry["Pixelsize"]),
                qe=None if qe is None else _number(path, name, "Quantum Efficiency", qe),
                sensitivity=sensitivity,
                categories=categories,
                gain_property=entry.get("Gain Property Name"),
                em_switch_property=switch["Name"] if switch else None,
                em_switch_on=switch_on,
            )
        )
    if not cameras:
        raise InputFileError(path, "its Cameras mapping is empty.", fix="add at least one camera.")
    return cameras


def load_cameras(path):
    """Read and check ``config.yaml``; a list of :class:`CameraConfig`.

    Raises
    ------
    InputFileError
        When the file is missing, not YAML or not in the camera layout.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            path, "no such camera configuration file.", fix=f"create it, or point ${CONFIG_ENV} at your config.yaml."
        )
    try:
        with open(path) as f:
            document = yaml.safe_load(f)
    except yaml.YAMLError as error:
        raise InputFileError(path, f"is not valid YAML ({error}).") from None
    return parse_cameras(document, path)


def micromanager_metadata(movie_metadata):
    """The flat Micro-Manager property mapping of a movie's metadata (may be empty)."""
    mm = (movie_metadata or {}).get("Micro-Manager Metadata") or {}
    return mm if isinstance(mm, dict) else {}


def match_camera(cameras, movie_metadata=None):
    """The camera for a movie: the one named by its Micro-Manager ``Camera``, else the first.

    Returns
    -------
    camera : CameraConfig
    matched : bool
        Whether the movie named this camera.
    """
    movie_metadata = movie_metadata or {}
    names = [movie_metadata.get("Camera"), micromanager_metadata(movie_metadata).get("Camera")]
    for wanted in names:
        for camera in cameras:
            if wanted is not None and camera.name == str(wanted):
                return camera, True
    return cameras[0], False


def camera_settings(camera, movie_metadata=None, categories=None, em_on=None):
    """Photon-conversion values of ``camera`` for a movie.

    Parameters
    ----------
    camera : CameraConfig
    movie_metadata : dict, optional
        The movie's metadata (its Micro-Manager properties preset categories and gain).
    categories : list, optional
        Chosen category values (default: from the metadata).
    em_on : bool, optional
        Whether EM gain applies (default: from the metadata's EM switch).

    Returns
    -------
    dict
        ``baseline``, ``sensitivity``, ``em_gain``, ``qe``, ``pixelsize_nm``, ``camera``
        (keyword names of :class:`~napari_picasso.pipeline.LocalizeParameters`) and
        ``categories``.
    """
    mm = micromanager_metadata(movie_metadata)
    chosen = camera.default_categories(mm) if categories is None else list(categories)
    gain = camera.em_gain_from(mm)
    if em_on is False:
        gain = 1.0
    return {
        "camera": camera.name,
        "baseline": camera.baseline,
        "sensitivity": camera.sensitivity_for(chosen),
        "em_gain": gain,
        "qe": camera.qe if camera.qe is not None else 1.0,
        "pixelsize_nm": camera.pixelsize_nm,
        "categories": chosen,
    }
