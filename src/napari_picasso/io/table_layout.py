"""What the localization-table readers share: column rules, units, the Picasso layout.

A reader of another tool's table (ThunderSTORM, rapidSTORM, SMLM ...) describes the file
as a :class:`TableSource`: its columns, one :class:`ColumnRule` per column that becomes a
field of the Picasso ``locs`` layout (with the factor and offset that convert the file's
unit and frame numbering), the columns kept as extra fields, and a ``chunks()`` callable
that yields the file's rows as ``{column: array}`` pieces. :mod:`napari_picasso.io.tables`
turns those pieces into ``locs`` chunks with :meth:`LocsLayout.build`, so that every
format converts units, fills absent fields and names extra fields the same way.

Units: positions and the other lateral lengths (``x, y, sx, sy, lpx, lpy`` and the MLE
``sx_unc, sy_unc``) become camera pixels (a length in nm needs the pixel size); ``z`` and
``lpz`` stay in nm, as in Picasso's files.
"""

import dataclasses
import re
from pathlib import Path

import numpy as np

from ..core.localizations import BASE_FIELDS, GROUP_FIELDS, LINK_FIELDS, MLE_FIELDS, Z_FIELDS, ellipticity
from .errors import InputFileError

# Every field napari-picasso and Picasso know, in the order the locs layout lists them.
KNOWN_FIELDS = BASE_FIELDS + MLE_FIELDS + Z_FIELDS + LINK_FIELDS + GROUP_FIELDS
KNOWN_DTYPES = dict(KNOWN_FIELDS)
BASE_NAMES = [name for name, _ in BASE_FIELDS]

# Lateral lengths: stored in camera pixels.
PIXEL_FIELDS = ("x", "y", "sx", "sy", "lpx", "lpy", "sx_unc", "sy_unc")
# Axial lengths: stored in nm.
NM_FIELDS = ("z", "lpz")

# Length units a table may state, in nm; None marks camera pixels.
LENGTH_UNITS = {
    "nm": 1.0,
    "nanometer": 1.0,
    "nanometers": 1.0,
    "um": 1000.0,
    "µm": 1000.0,
    "μm": 1000.0,
    "micrometer": 1000.0,
    "micrometers": 1000.0,
    "micron": 1000.0,
    "m": 1e9,
    "meter": 1e9,
    "px": None,
    "pix": None,
    "pixel": None,
    "pixels": None,
    "camera pixel": None,
}

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))

_UNIT_PATTERN = re.compile(r"^\s*(?P<name>.*?)\s*[\[(](?P<unit>[^\])]*)[\])]\s*$")


def split_unit(header):
    """``"x [nm]"`` or ``"X (nm)"`` -> ``("x [nm]" name, unit)``; ``(header, None)`` without one.

    Examples
    --------
    >>> split_unit("x [nm]")
    ('x', 'nm')
    >>> split_unit("PSF Sigma X (pix)")
    ('PSF Sigma X', 'pix')
    >>> split_unit("frame")
    ('frame', None)
    """
    found = _UNIT_PATTERN.match(str(header))
    if not found:
        return str(header).strip(), None
    return found["name"], found["unit"].strip()


def field_name(name):
    """A column name as a field name: letters, digits and ``_`` (``"uncertainty_z [nm]"`` ->
    ``"uncertainty_z_nm"``), the rule Picasso's own importers follow.

    Examples
    --------
    >>> field_name("bkgstd [photon]")
    'bkgstd_photon'
    >>> field_name("2nd moment")
    '_2nd_moment'
    """
    name = re.sub(r"\W+", "_", str(name).strip()).strip("_") or "column"
    return "_" + name if name[0].isdigit() else name


def is_length_unit(unit):
    return unit is not None and unit.strip().lower() in LENGTH_UNITS


def length_unit_nm(unit):
    """nm per unit of a length unit (None for camera pixels); KeyError when not a length."""
    return LENGTH_UNITS[unit.strip().lower()]


@dataclasses.dataclass
class ColumnRule:
    """One column of the file that becomes a field: ``field = values * scale + offset``."""

    field: str
    column: object
    scale: float = 1.0
    offset: float = 0.0


@dataclasses.dataclass
class ExtraColumn:
    """A column kept as it is, as the extra field ``field`` of ``dtype``."""

    field: str
    column: object
    dtype: np.dtype
    label: str | None = None  # the column's name where ``column`` is an index


def length_rule(path, field, column, unit, pixelsize_nm, format_name):
    """The rule of a length column in ``unit``: to px for lateral fields, to nm for z/lpz.

    Raises
    ------
    InputFileError
        A length in nm (or µm ...) for a lateral field without a pixel size, or a z in pixels.
    """
    per_unit_nm = length_unit_nm(unit)
    if field in NM_FIELDS:
        if per_unit_nm is None:
            raise InputFileError(
                path, f"gives {column!r} in camera pixels; napari-picasso keeps z in nm and cannot convert it."
            )
        return ColumnRule(field, column, per_unit_nm)
    if per_unit_nm is None:
        return ColumnRule(field, column, 1.0)
    if pixelsize_nm is None:
        raise missing_pixelsize(path, format_name, column)
    return ColumnRule(field, column, per_unit_nm / pixelsize_nm)


class PixelSizeNeeded(InputFileError):
    """Coordinates in nm and no camera pixel size: a front end may ask for one and retry."""


def missing_pixelsize(path, format_name, column="x"):
    """The error for coordinates in nm without a known camera pixel size."""
    return PixelSizeNeeded(
        path,
        f"holds {format_name} coordinates in nm ({column!r}) and does not say the camera pixel size, "
        "which the Picasso layout (coordinates in camera pixels) needs.",
        fix="give it: --pixelsize NM on the command line (the camera pixel size in the sample, e.g. 130).",
    )


def check_pixelsize(value, path, origin="--pixelsize"):
    """A pixel size (nm) as a positive float, or None; a clear error for anything else."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputFileError(path, f"{origin} {value!r} is not a number.") from None
    if not np.isfinite(value) or value <= 0:
        raise InputFileError(path, f"{origin} {value} is not a positive pixel size in nm.")
    return value


@dataclasses.dataclass
class LocsLayout:
    """How a file's columns become the Picasso ``locs`` layout.

    The dtype holds the base fields in their order, then the known extended fields the
    file provides (MLE, z, link, group: in the locs-format order), then the extra fields.
    Base fields the file lacks are written as 0 (Picasso's loader drops NaN rows) and
    listed by :meth:`absent_fields`; ``ellipticity`` is computed from ``sx``/``sy`` when the
    file gives both.
    """

    rules: list
    extras: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        mapped = {rule.field for rule in self.rules}
        for name in ("frame", "x", "y"):
            if name not in mapped:
                raise ValueError(f"a table layout needs a rule for {name!r}")
        fields = list(BASE_FIELDS)
        fields += [(name, dtype) for name, dtype in KNOWN_FIELDS[len(BASE_FIELDS) :] if name in mapped]
        taken = {name for name, _ in fields}
        extras = []
        for extra in self.extras:
            name = extra.field
            n = 2
            while name in taken:
                name, n = f"{extra.field}_{n}", n + 1
            taken.add(name)
            extras.append(dataclasses.replace(extra, field=name, dtype=np.dtype(extra.dtype)))
        self.extras = extras
        self.dtype = np.dtype(fields + [(e.field, e.dtype) for e in extras])
        self._computed = {"ellipticity"} if {"sx", "sy"} <= mapped and "ellipticity" not in mapped else set()

    def absent_fields(self):
        """Base fields the file does not give (written as 0)."""
        mapped = {rule.field for rule in self.rules} | self._computed
        return [name for name in BASE_NAMES if name not in mapped]

    def extra_fields(self):
        """``{field: source column}`` of the columns kept as extra fields."""
        return {e.field: e.label or str(e.column) for e in self.extras}

    def build(self, columns, n_rows, path):
        """A ``locs`` chunk of ``n_rows`` rows from ``{column: array}`` (all of the file's units)."""
        locs = np.zeros(n_rows, dtype=self.dtype)
        for rule in self.rules:
            values = np.asarray(columns[rule.column], dtype=np.float64)
            if rule.scale != 1.0:
                values = values * rule.scale
            if rule.offset:
                values = values + rule.offset
            if rule.field == "frame":
                values = _frame_numbers(values, rule, path)
            elif locs.dtype[rule.field].kind in "ui":
                values = np.rint(values)
            locs[rule.field] = values
        if self._computed:
            locs["ellipticity"] = np.nan_to_num(ellipticity(locs["sx"], locs["sy"]), nan=0.0)
        for extra in self.extras:
            values = np.asarray(columns[extra.column])
            if extra.dtype.kind in "ui" and values.dtype.kind == "f":
                values = np.rint(values)
            locs[extra.field] = values
        return locs


def _frame_numbers(values, rule, path):
    finite = np.isfinite(values)
    if not finite.all():
        raise InputFileError(path, f"column {rule.column!r} holds frame numbers that are not numbers.")
    if len(values) and values.min() < 0:
        origin = "1" if rule.offset == -1 else "0"
        raise InputFileError(
            path,
            f"column {rule.column!r} holds frame number {values.min() - rule.offset:g}, below the first "
            f"frame of this format (numbered from {origin}); the file is damaged or not of this format.",
        )
    return np.rint(values)


@dataclasses.dataclass
class TableSource:
    """An opened localization table of another tool, ready to be read in pieces.

    Attributes
    ----------
    path : pathlib.Path
    format_name : str
        The tool and format (``"ThunderSTORM CSV"``).
    layout : LocsLayout
        How its columns become the locs layout.
    chunks : callable
        ``chunks()`` yields ``(columns, n_rows)``: ``{column: array}`` of consecutive rows.
    pixelsize_nm : float or None
        The camera pixel size used (the file's or the one given), None when not needed and
        not known.
    pixelsize_source : str or None
        Where it came from (``"--pixelsize"``, ``"file (meta/px_size)"`` ...).
    frame_numbers : str
        How the file numbers frames (``"from 1 (ThunderSTORM)"``); the locs count from 0.
    metadata : dict
        What the file says besides the rows (header, trailing lines, manifest ...).
    width_px, height_px, n_frames : int or None
        The image size and frame count where the file states them.
    n_rows : int or None
        Rows, where the file states them.
    """

    path: Path
    format_name: str
    layout: LocsLayout
    chunks: object
    pixelsize_nm: float | None = None
    pixelsize_source: str | None = None
    frame_numbers: str = "from 0"
    metadata: dict = dataclasses.field(default_factory=dict)
    width_px: int | None = None
    height_px: int | None = None
    n_frames: int | None = None
    n_rows: int | None = None


def choose_pixelsize(path, given_nm, file_nm, file_origin):
    """``(pixel size, source)``: ``--pixelsize`` when given, else the file's, else ``(None, None)``."""
    given_nm = check_pixelsize(given_nm, path)
    if given_nm is not None:
        return given_nm, "--pixelsize"
    file_nm = check_pixelsize(file_nm, path, origin=f"the file's pixel size ({file_origin})")
    if file_nm is not None:
        return file_nm, f"file ({file_origin})"
    return None, None


PHOTON_UNITS = (None, "", "photon", "photons", "ph")
PHOTON_FIELDS = ("photons", "bg", "photons_unc", "bg_unc", "photon_rate")


def rules_from_names(path, named, aliases, *, pixelsize_nm, format_name, dtypes, frame_offset=0, drop=()):
    """Column rules and extra columns from ``(column, name, unit)`` triples.

    A field takes the first column whose name (case-insensitive) is the field's own name
    or one of its ``aliases`` (in order), provided the column's unit fits the field:
    a length for positions, widths and precisions (none: camera pixels, or nm for z),
    photons (or none) for ``photons``/``bg``. One column may feed two fields (ThunderSTORM's
    ``sigma`` gives ``sx`` and ``sy``); the field's later candidates are not kept (they give
    the same quantity again). Every other column except those in ``drop`` is kept as an
    extra field named after it (:func:`field_name`).

    Parameters
    ----------
    named : list of tuple
        ``(column key, name, unit or None)`` for each column of the file.
    aliases : dict
        ``{field: [names]}`` of the format.
    dtypes : dict
        ``{column key: numpy dtype}`` of the columns (extra fields keep these kinds).
    frame_offset : int
        Added to the frame column (-1 for tables numbering frames from 1).
    drop : iterable of str
        Names (lower case) of columns not kept (row numbers).

    Returns
    -------
    rules : list of ColumnRule
    extras : list of ExtraColumn
    """
    lookup = {}
    for column, name, unit in named:
        lookup.setdefault(name.strip().lower(), (column, name, unit))
    rules, used = [], set()
    for field in KNOWN_DTYPES:
        candidates = []
        for alias in [field, *aliases.get(field, [])]:
            hit = lookup.get(alias.lower())
            rule = None if hit is None else _rule_for(path, field, hit, pixelsize_nm, format_name, frame_offset)
            if rule is not None:
                candidates.append(rule)
        if candidates:
            rules.append(candidates[0])
            # the other columns of the field say the same again (ThunderSTORM's "sigma" beside
            # "sx [nm]" written by napari-picasso): not kept twice
            used.update(rule.column for rule in candidates)
    extras = [
        ExtraColumn(field_name(name if not unit else f"{name} {unit}"), column, extra_dtype_of(dtypes[column]))
        for column, name, unit in named
        if column not in used and name.strip().lower() not in drop
    ]
    return rules, extras


def _rule_for(path, field, hit, pixelsize_nm, format_name, frame_offset):
    column, _, unit = hit
    unit_text = (unit or "").strip().lower()
    if field == "frame":
        return ColumnRule("frame", column, 1.0, float(frame_offset))
    if field in PIXEL_FIELDS or field in NM_FIELDS:
        if not unit_text:
            return ColumnRule(field, column, 1.0)  # our own convention: px, z in nm
        if not is_length_unit(unit_text):
            return None
        return length_rule(path, field, column, unit_text, pixelsize_nm, format_name)
    if field in PHOTON_FIELDS:
        return ColumnRule(field, column) if unit_text in PHOTON_UNITS else None
    return ColumnRule(field, column)


def extra_dtype_of(dtype):
    """The dtype an extra column of ``dtype`` keeps (integers stay integers, floats float32)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "bui":
        return np.dtype("i8") if dtype.itemsize > 4 or dtype.kind == "u" and dtype.itemsize == 4 else np.dtype("i4")
    return np.dtype("f4")
