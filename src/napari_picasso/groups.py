"""Parameter groups: the ``groups.yaml`` a watcher localizes every movie with.

A list of mappings whose keys are the ``localize`` command's long option names, e.g.::

    - {box: 7, gradient: 5000, fit: mle, baseline: 100, sensitivity: 0.5}
    - {box: 9, gradient: 3000, fit: lq}
"""

import argparse
from pathlib import Path

import yaml

from .core.identify import check_box
from .io.camera_maps import load_camera_maps
from .io.errors import InputFileError, ParameterError
from .parameters import add_localize_options, parameters_from_args, validate_parameters


class _GroupParser(argparse.ArgumentParser):
    def error(self, message):
        raise ParameterError(message)


def _localize_parser():
    parser = _GroupParser(prog="group", add_help=False, allow_abbrev=False)
    add_localize_options(parser)
    return parser


def _long_options(parser):
    options = {}
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--"):
                options[option[2:]] = action
    return options


def parameters_from_mapping(mapping):
    """LocalizeParameters from ``{long option name: value}`` (the ``localize`` options).

    The mapping is turned into the command's arguments and parsed by the same parser as
    ``napari-picasso localize``, so names, types and defaults cannot drift.

    Raises
    ------
    ParameterError
        For an unknown option or an unusable value.
    """
    parser = _localize_parser()
    options = _long_options(parser)
    argv = []
    for raw_key, value in mapping.items():
        key = str(raw_key).replace("_", "-")
        if key not in options:
            raise ParameterError(
                f"unknown option {raw_key!r}; use the localize command's long option names: "
                f"{', '.join(sorted(options))}."
            )
        action = options[key]
        if action.nargs == 0:  # a flag such as --shared-sigma
            if not isinstance(value, bool):
                raise ParameterError(f"{raw_key!r} is a switch: write true or false, not {value!r}.")
            if value:
                argv.append(f"--{key}")
            continue
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        argv.append(f"--{key}")
        argv.extend(str(v) for v in values)
    parameters = parameters_from_args(parser.parse_args(argv))
    check_group(parameters)
    return parameters


# No movie is known when a watcher starts: bounds every frame count and size passes, so
# that only what depends on the movie (ROI inside its frame, ...) waits for the first one.
_ANY_MOVIE_SHAPE = (2**31 - 1, 2**31 - 1, 2**31 - 1)


def check_group(parameters):
    """Check a parameter group before any movie arrives (what would otherwise fail on
    every movie): the pipeline's own checks, the 3D calibration, the camera maps file.

    Raises
    ------
    ParameterError
        Saying what is wrong.
    """
    try:  # a wrong box would otherwise only show up on the first movie
        check_box(parameters.box)
    except ValueError as error:
        raise ParameterError(str(error)) from None
    validate_parameters(parameters, _ANY_MOVIE_SHAPE, name="movie")
    if parameters.camera_maps:
        try:
            load_camera_maps(parameters.camera_maps)
        except InputFileError as error:
            raise ParameterError(f"camera maps: {error}") from None


def load_groups(path):
    """The parameter groups of a ``groups.yaml`` (a list of option mappings).

    Raises
    ------
    InputFileError
        Naming the file, the group and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such groups file.")
    try:
        with open(path) as f:
            document = yaml.safe_load(f)
    except yaml.YAMLError as error:
        raise InputFileError(path, f"is not valid YAML ({error}).") from None
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list) or not document:
        raise InputFileError(
            path,
            "must hold a list of parameter groups.",
            fix="write one mapping per group, e.g. '- {box: 7, gradient: 5000, fit: mle}'.",
        )
    groups = []
    for index, mapping in enumerate(document, start=1):
        if not isinstance(mapping, dict):
            raise InputFileError(path, f"group {index} is not a mapping of option names to values.")
        try:
            groups.append(parameters_from_mapping(mapping))
        except ParameterError as error:
            raise InputFileError(path, f"group {index}: {error}") from None
    return groups
