"""The experiment database: one SQLite file with a row of quality figures per localized file.

Location
--------
``open_database(path)``; without a path ``$NAPARI_PICASSO_DB``, else
``~/.picasso/napari_picasso.db`` (the folder is created). The file uses write-ahead
logging (WAL) and a 60 s busy timeout, so a watcher process, the napari viewer and the
command line write at the same time; every write is one ``BEGIN IMMEDIATE`` transaction,
so a killed writer leaves the database as it was before its transaction.

Schema (version 2)
------------------
``meta`` (key TEXT PRIMARY KEY, value TEXT)
    ``schema_version``, ``created``, ``migrated`` (ISO times, UTC).

``localizations``: one row per localization file, keyed by its absolute path.

=================  =======  ==========================================================
column             type     meaning
=================  =======  ==========================================================
id                 INTEGER  row id
locs_path          TEXT     absolute path of the ``.hdf5`` (UNIQUE)
filename           TEXT     its file name
movie_path         TEXT     the movie it came from (YAML ``File``; None for Picasso's)
family             TEXT     ``<folder>/<movie>``: files of one movie (``_pg_<i>``
                            parameter groups, ``_locs_undrift`` ...) share it
parameter_group    INTEGER  ``i`` of ``_pg_<i>`` in the name, else NULL
group_name         TEXT     the user's group/tag
status             TEXT     ``ok``, ``missing`` (file moved/deleted), ``failed``
reason             TEXT     why missing/failed
file_created       TEXT     the file's modification time (when it was written), UTC ISO
entered            TEXT     when the row was (last) written, UTC ISO
file_size          INTEGER  bytes, with file_mtime (REAL): "unchanged since imported"
n_locs             INTEGER  localizations in the file
width, height      INTEGER  movie frame size, px (first YAML document)
frames             INTEGER  movie frames
info_json          TEXT     all YAML documents of the file, as JSON
commands_pending   TEXT     follow-up commands a watcher has still to run on the file
                            (JSON list; NULL: none); added on first use
<parameters>       any      every key of the localization document (``Box Size`` ->
                            ``box_size``, ``Min. Net Gradient`` -> ``min_net_gradient``,
                            ``Pixelsize``, ``Fit method``, ``Baseline`` ...); lists as JSON
<metrics>          REAL     every key :func:`core.quality.quality_metrics` returns
undrift_method     TEXT     for an undrifted file: ``RCC``, ``AIM`` or ``fiducials``, and
undrift_*          REAL     the drift it was corrected for: range per axis
                            (``undrift_x_range_nm`` ...) and split-halves error
                            (``undrift_error_x_nm`` ..., ``undrift_error_nm`` the RMS of
                            x and y); :func:`.store.undrift_figures`
=================  =======  ==========================================================

``columns`` (name TEXT PRIMARY KEY, kind TEXT, source TEXT): every column of
``localizations`` with its kind (``file``, ``parameter``, ``metric``) and the YAML key or
metric name it came from. Parameter and metric columns are added on first sight; a name
that would clash gets the kind's initial as prefix (``p_``, ``m_``).

Migrations
----------
:data:`~napari_picasso.db.schema.MIGRATIONS` lists functions, migration ``i`` taking the
schema from version ``i`` to ``i + 1``; opening a file applies the missing ones in order in
one transaction (1: meta + localizations; 2: families, file identity, ``columns``, indexes).

Functions
---------
Writing (:mod:`.store`): :func:`record_localization`, :func:`record_file` (open, record, close:
after a localization), :func:`record_failure`,
:func:`add_paths` (also other tools' tables:
:func:`record_table`), :func:`mark_missing`, :func:`set_group`, :func:`set_pending_commands`
(:func:`pending_commands` reads them). Reading (:mod:`.query`):
:func:`query_rows`, :func:`groups`, :func:`families`, :func:`family_rows`,
:func:`numeric_columns`, :func:`summary`. Shaping rows for plots (:mod:`.views`) and
reading files for Compare/Preview (:mod:`.compare`) serve the explorer and the browser app.
"""

from .query import (
    column_kinds,
    data_version,
    display_columns,
    families,
    family_rows,
    get_row,
    groups,
    numeric_columns,
    query_rows,
    summary,
    table_columns,
)
from .schema import (
    DB_ENV_VAR,
    MIGRATIONS,
    SCHEMA_VERSION,
    DatabaseUnusable,
    database_error,
    database_path_source,
    database_setting,
    default_database_path,
    family_of,
    migrate,
    open_database,
    schema_version,
    set_database_setting,
    transaction,
)
from .store import (
    AddResult,
    add_paths,
    compute_metrics,
    file_present,
    iter_add_paths,
    localization_files,
    mark_missing,
    missing_now,
    movie_signature,
    pending_commands,
    record_failure,
    record_file,
    record_localization,
    record_table,
    running_command,
    set_group,
    set_pending_commands,
    set_running_command,
)

__all__ = [
    "AddResult",
    "DB_ENV_VAR",
    "DatabaseUnusable",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "add_paths",
    "column_kinds",
    "compute_metrics",
    "database_error",
    "data_version",
    "database_path_source",
    "database_setting",
    "default_database_path",
    "display_columns",
    "families",
    "family_of",
    "family_rows",
    "file_present",
    "get_row",
    "groups",
    "iter_add_paths",
    "localization_files",
    "mark_missing",
    "migrate",
    "missing_now",
    "numeric_columns",
    "open_database",
    "movie_signature",
    "pending_commands",
    "query_rows",
    "record_failure",
    "record_file",
    "record_localization",
    "record_table",
    "schema_version",
    "set_database_setting",
    "set_group",
    "running_command",
    "set_pending_commands",
    "set_running_command",
    "summary",
    "table_columns",
    "transaction",
]
