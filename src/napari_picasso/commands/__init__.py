"""Sub-commands of the ``napari-picasso`` command line.

Each module defines ``add_parser(subparsers)``, which registers the sub-command and sets
``func`` to the function that runs it (taking the parsed arguments, returning an exit
code).
"""

from . import (
    calibrate_channels,
    calibrate_psf,
    calibrate_z,
    camera_calibrate,
    convert,
    db,
    dbscan,
    demo,
    link,
    localize,
    register,
    server,
    undrift,
    watch,
)

COMMAND_MODULES = [
    localize,
    demo,
    undrift,
    link,
    dbscan,
    camera_calibrate,
    calibrate_z,
    calibrate_channels,
    register,
    calibrate_psf,
    convert,
    db,
    watch,
    server,
]
