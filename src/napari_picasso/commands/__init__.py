"""Sub-commands of the ``napari-picasso`` command line.

Each module defines ``add_parser(subparsers)``, which registers the sub-command and sets
``func`` to the function that runs it (taking the parsed arguments, returning an exit
code).
"""

from . import db, demo, localize

COMMAND_MODULES = [localize, demo, db]
