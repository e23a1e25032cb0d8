"""Watch folders for new acquisitions and localize each with every parameter group.

No Qt here: the dock widget (:mod:`napari_picasso._widgets.watcher`) and the
``napari-picasso watch`` command both run :class:`Watcher`.
"""

from .candidates import Candidate, classify, scan
from .followup import CommandResult, command_arguments, run_command, run_followup
from .log import WatcherLog, parse_line, read_events
from .runner import Watcher, output_path
from .store import WatcherStore, default_database_path

__all__ = [
    "Candidate",
    "Watcher",
    "WatcherLog",
    "WatcherStore",
    "classify",
    "command_arguments",
    "default_database_path",
    "output_path",
    "parse_line",
    "read_events",
    "run_command",
    "scan",
    "CommandResult",
    "run_followup",
]
