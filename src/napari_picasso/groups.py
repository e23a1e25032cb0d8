"""Parameter groups: the ``groups.yaml`` a watcher localizes every movie with.

A list of mappings whose keys are the ``localize`` command's long option names (see
:func:`napari_picasso.parameters.from_mapping`), e.g.::

    - {box: 7, gradient: 5000, fit: mle, baseline: 100, sensitivity: 0.5}
    - {box: 9, gradient: 3000, fit: lq}
    - {fit: mle-3d, zcalib: beads_3d_calib.yaml}   # a path relative to this file

Groups are checked when they are read, before any movie arrives.
"""

from pathlib import Path

import yaml

from .io.camera_maps import load_camera_maps
from .io.errors import InputFileError, ParameterError
from .parameters import from_mapping, validate_parameters

# No movie is known when a watcher starts: bounds every frame count and size passes, so
# that only what depends on the movie (ROI inside its frame, ...) waits for the first one.
_ANY_MOVIE_SHAPE = (2**31 - 1, 2**31 - 1, 2**31 - 1)


def parameters_from_mapping(mapping, *, folder=None, check_path=None):
    """One group: :func:`~napari_picasso.parameters.from_mapping`, then :func:`check_group`.

    Raises
    ------
    ParameterError
        For an unknown option or an unusable value.
    """
    parameters = from_mapping(mapping, folder=folder, check_path=check_path)
    check_group(parameters)
    return parameters


def check_group(parameters):
    """Check a parameter group before any movie arrives (what would otherwise fail on
    every movie): the pipeline's own checks, the 3D calibration, the camera maps file.

    Raises
    ------
    ParameterError
        Saying what is wrong.
    """
    shape = _ANY_MOVIE_SHAPE
    if parameters.channels and getattr(parameters, "splitter", "none") != "none":
        # any movie of the camera frame the channel calibration was made on
        shape = (shape[0], parameters.channels["camera_height"], parameters.channels["camera_width"])
    validate_parameters(parameters, shape, name=None)
    if parameters.camera_maps:
        try:
            load_camera_maps(parameters.camera_maps)
        except InputFileError as error:
            raise ParameterError(f"camera maps: {error}") from None


def parse_groups(text, *, source="groups", folder=None, check_path=None):
    """The parameter groups of a ``groups.yaml`` text (a list of option mappings, or one).

    ``source`` names the text in errors (a file path, "the form"); relative paths in it
    are taken from ``folder``; ``check_path`` may refuse a file path before it is read (see
    :func:`~napari_picasso.parameters.from_mapping`).

    Raises
    ------
    InputFileError
        Naming the source, the group and what is wrong.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InputFileError(source, f"is not valid YAML ({error}).") from None
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list) or not document:
        raise InputFileError(
            source,
            "must hold a list of parameter groups.",
            fix="write one mapping per group, e.g. '- {box: 7, gradient: 5000, fit: mle}'.",
        )
    groups = []
    for index, mapping in enumerate(document, start=1):
        if not isinstance(mapping, dict):
            raise InputFileError(source, f"group {index} is not a mapping of option names to values.")
        try:
            groups.append(parameters_from_mapping(mapping, folder=folder, check_path=check_path))
        except ParameterError as error:
            raise InputFileError(source, f"group {index}: {error}") from None
    return groups


def load_groups(path):
    """The parameter groups of a ``groups.yaml`` file (see :func:`parse_groups`).

    Raises
    ------
    InputFileError
        Naming the file, the group and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such groups file.")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(path, f"cannot be read ({error}).") from None
    return parse_groups(text, source=path, folder=path.resolve().parent)
