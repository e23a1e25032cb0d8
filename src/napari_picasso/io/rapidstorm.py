"""rapidSTORM localization files (``.txt``).

rapidSTORM (Wolter et al. 2012) writes one header line, ``# <localizations ...>`` followed
by one ``<field identifier=... semantic=... unit=... min=... max=.../>`` per column, then
the rows, space-separated. Identifiers name the quantity: ``Position-0-0`` (x),
``Position-1-0`` (y), ``Position-2-0`` (z), ``Position-0-0-uncertainty``,
``ImageNumber-0-0`` (the frame, counted from 0), ``Amplitude-0-0`` (emission strength),
``PSFWidth-0-0`` (FWHM), ``LocalBackground-0-0``, ``FitResidues-0-0``. Units are spelled
out (``nanometer``, ``A/D count``, ``frame``); the field's ``max`` gives the image
extent (``3.27165e-005 m``). The camera pixel size is not in the file.

Amplitude and background are kept as they are (extra fields ``amplitude``,
``localbackground``) unless their unit is photons: A/D counts are not photons without the
camera's conversion, which the file does not hold.
"""

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from ._text_tables import first_lines, table_chunks
from .errors import InputFileError
from .table_layout import (
    FWHM_PER_SIGMA,
    ColumnRule,
    ExtraColumn,
    LocsLayout,
    TableSource,
    choose_pixelsize,
    field_name,
    is_length_unit,
    length_rule,
    length_unit_nm,
)

FORMAT_NAME = "rapidSTORM"
HEADER_START = "# <localizations"

POSITIONS = {"Position-0-0": "x", "Position-1-0": "y", "Position-2-0": "z"}
UNCERTAINTIES = {f"{key}-uncertainty": field for key, field in (("Position-0-0", "lpx"), ("Position-1-0", "lpy"))}
UNCERTAINTIES["Position-2-0-uncertainty"] = "lpz"
WIDTHS = {"PSFWidth-0-0": "sx", "PSFWidth-1-0": "sy"}
PHOTON_IDENTIFIERS = {"Amplitude-0-0": "photons", "LocalBackground-0-0": "bg"}
FRAME_IDENTIFIER = "ImageNumber-0-0"


def is_rapidstorm(path):
    """A text file whose first line is rapidSTORM's XML header."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() not in (".txt", ".dat", ""):
        return False
    lines = first_lines(path, 1)
    return bool(lines) and lines[0].lstrip().startswith(HEADER_START)


def read_fields(path):
    """The ``<field>`` elements of the header, as dicts (identifier, semantic, unit, min, max)."""
    lines = first_lines(path, 1)
    if not lines or not lines[0].lstrip().startswith(HEADER_START):
        raise InputFileError(path, "does not start with rapidSTORM's '# <localizations' header line.")
    try:
        root = ElementTree.fromstring(lines[0].lstrip()[1:].strip())
    except ElementTree.ParseError as error:
        raise InputFileError(path, f"its rapidSTORM header is not valid XML ({error}).") from None
    if root.find("localizations") is not None:
        raise InputFileError(
            path,
            "holds tracked localizations (nested <localizations>), which are not a flat table.",
            fix="export the localizations from rapidSTORM without tracking.",
        )
    fields = [dict(element.attrib) for element in root.findall("field")]
    if not fields:
        raise InputFileError(path, "its rapidSTORM header names no fields.")
    return fields


def _quantity_nm(text):
    """``"3.27165e-005 m"`` -> nm; None when it is not a length."""
    if not text:
        return None
    parts = text.split()
    if len(parts) != 2 or not is_length_unit(parts[1]):
        return None
    per_unit = length_unit_nm(parts[1])
    return None if per_unit is None else float(parts[0]) * per_unit


def _rules(path, fields, pixelsize_nm):
    rules, extras = [], []
    for index, field in enumerate(fields):
        identifier = field.get("identifier", f"column{index}")
        unit = (field.get("unit") or "").strip()
        target = POSITIONS.get(identifier) or UNCERTAINTIES.get(identifier) or WIDTHS.get(identifier)
        if identifier == FRAME_IDENTIFIER:
            rules.append(ColumnRule("frame", index))
        elif target and is_length_unit(unit):
            rule = length_rule(path, target, index, unit, pixelsize_nm, FORMAT_NAME)
            if identifier in WIDTHS:
                rule.scale /= FWHM_PER_SIGMA
            rules.append(rule)
        elif identifier in PHOTON_IDENTIFIERS and unit.lower() in ("photon", "photons"):
            rules.append(ColumnRule(PHOTON_IDENTIFIERS[identifier], index))
        else:
            name = field_name(identifier.removesuffix("-0-0")).lower()
            dtype = np.dtype("i4" if field.get("syntax") == "integer" else "f4")
            extras.append(ExtraColumn(name, index, dtype, label=f"{identifier} [{unit}]" if unit else identifier))
    targets = {rule.field for rule in rules}
    if not {"x", "y"} <= targets:
        raise InputFileError(path, "its rapidSTORM header has no x/y positions (Position-0-0, Position-1-0).")
    if "frame" not in targets:
        raise InputFileError(path, f"its rapidSTORM header has no frame numbers ({FRAME_IDENTIFIER}).")
    if "sx" in targets and "sy" not in targets:
        sx = next(rule for rule in rules if rule.field == "sx")
        rules.append(ColumnRule("sy", sx.column, sx.scale))
    return rules, extras


def open_table(path, *, pixelsize_nm=None):
    """Open a rapidSTORM ``.txt`` table (:class:`~.table_layout.TableSource`).

    Parameters
    ----------
    path : path-like
    pixelsize_nm : float, optional
        Camera pixel size (nm); needed for positions in nm (the file does not say it).

    Examples
    --------
    >>> source = open_table("dstorm.txt", pixelsize_nm=100)  # doctest: +SKIP
    >>> source.frame_numbers  # doctest: +SKIP
    'from 0 (rapidSTORM ImageNumber)'
    """
    path = Path(path)
    fields = read_fields(path)
    pixelsize_nm, source = choose_pixelsize(path, pixelsize_nm, None, None)
    rules, extras = _rules(path, fields, pixelsize_nm)
    columns = list(range(len(fields)))
    width = height = n_frames = None
    if pixelsize_nm:
        x_max, y_max = (_quantity_nm(fields[i].get("max")) for i in _indices(fields, ("Position-0-0", "Position-1-0")))
        width = int(np.ceil(x_max / pixelsize_nm)) if x_max else None
        height = int(np.ceil(y_max / pixelsize_nm)) if y_max else None
    frame_max = fields[_indices(fields, (FRAME_IDENTIFIER,))[0]].get("max")
    if frame_max:
        try:
            n_frames = int(float(frame_max.split()[0])) + 1
        except ValueError:
            n_frames = None
    return TableSource(
        path=path,
        format_name=FORMAT_NAME,
        layout=LocsLayout(rules, extras),
        chunks=lambda: table_chunks(path, columns, sep=r"\s+", header=None, skiprows=1, names=columns),
        pixelsize_nm=pixelsize_nm,
        pixelsize_source=source,
        frame_numbers="from 0 (rapidSTORM ImageNumber)",
        metadata={"Fields": fields},
        width_px=width,
        height_px=height,
        n_frames=n_frames,
    )


def _indices(fields, identifiers):
    names = [f.get("identifier") for f in fields]
    return [names.index(i) for i in identifiers]
