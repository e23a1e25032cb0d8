"""ONI Nanoimager localization tables (``.csv``).

NimOS exports a comma-separated table with units in parentheses: ``Channel, Frame,
X (nm), Y (nm), Z (nm), Photons, Background, X precision (nm), Y precision (nm),
Z precision (nm), PSF Sigma X (pix), PSF Sigma Y (pix), Sigma X var, Sigma Y var,
p-value, X (pix), Y (pix)`` (older exports stop after ``Background``). Frames are
numbered from 0.

Mapping: ``X (nm)``/``Y (nm)`` -> px through the pixel size: ``--pixelsize``, else the
file's own ratio of ``X (nm)`` to ``X (pix)`` where it has both; ``Photons`` ->
``photons``; ``Background`` -> ``bg``; the precisions -> ``lpx``/``lpy``/``lpz``;
``PSF Sigma X/Y (pix)`` -> ``sx``/``sy``. ``Z (nm)`` becomes ``z`` unless it is 0 in
every row of the file's start (a 2D acquisition: kept as the extra field ``Z_nm``).
``X (pix)``/``Y (pix)`` (the same positions) are not kept twice; the other columns
(``Channel``, ``p-value`` ...) are kept as extra fields.
"""

from pathlib import Path

import numpy as np

from ._text_tables import first_lines, numeric_columns, sample_table, table_chunks
from .errors import InputFileError
from .table_layout import LocsLayout, TableSource, choose_pixelsize, rules_from_names, split_unit

FORMAT_NAME = "ONI Nanoimager"

ALIASES = {
    "x": ["x"],
    "y": ["y"],
    "z": ["z"],
    "lpx": ["x precision"],
    "lpy": ["y precision"],
    "lpz": ["z precision"],
    "sx": ["psf sigma x"],
    "sy": ["psf sigma y"],
    "photons": ["photons"],
    "bg": ["background"],
}


def is_oni(path):
    """A ``.csv`` with NimOS's ``Frame`` and ``X (nm)`` (or ``X (pix)``) columns."""
    path = Path(path)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    lines = first_lines(path, 1)
    names = [h.strip() for h in lines[0].split(",")] if lines else []
    return "Frame" in names and ("X (nm)" in names or "X (pix)" in names)


def _pixelsize_from_columns(sample):
    """The file's pixel size (nm): median ``X (nm) / X (pix)`` where it has both."""
    if not {"X (nm)", "X (pix)"} <= set(sample.columns):
        return None
    nm = sample["X (nm)"].to_numpy(dtype=float)
    px = sample["X (pix)"].to_numpy(dtype=float)
    usable = np.isfinite(nm) & np.isfinite(px) & (px > 1)
    return float(np.median(nm[usable] / px[usable])) if usable.any() else None


def open_table(path, *, pixelsize_nm=None):
    """Open an ONI Nanoimager ``.csv`` table (:class:`~.table_layout.TableSource`).

    Parameters
    ----------
    path : path-like
    pixelsize_nm : float, optional
        Camera pixel size (nm); needed when the file has positions in nm only.

    Examples
    --------
    >>> source = open_table("fov1.csv", pixelsize_nm=117)  # doctest: +SKIP
    """
    path = Path(path)
    sample = sample_table(path)
    columns = numeric_columns(sample)
    pixelsize_nm, source = choose_pixelsize(path, pixelsize_nm, _pixelsize_from_columns(sample), "X (nm) / X (pix)")
    # A position in pixels beside the same one in nm: the nm one is used, the other dropped.
    named = [(c, *split_unit(c)) for c in columns if c not in ("X (pix)", "Y (pix)") or "X (nm)" not in columns]
    flat_z = "Z (nm)" in columns and not sample["Z (nm)"].to_numpy().any()
    aliases = dict(ALIASES)
    if flat_z:
        aliases.pop("z")
        aliases.pop("lpz")
        named = [(c, *(("Z_nm", None) if c == "Z (nm)" else (name, unit))) for c, name, unit in named]
    rules, extras = rules_from_names(
        path,
        named,
        aliases,
        pixelsize_nm=pixelsize_nm,
        format_name=FORMAT_NAME,
        dtypes={c: sample[c].dtype for c in columns},
    )
    if not {"frame", "x", "y"} <= {rule.field for rule in rules}:
        raise InputFileError(path, "lacks the Frame / X (nm) / Y (nm) columns of a Nanoimager table.")
    needed = [rule.column for rule in rules] + [extra.column for extra in extras]
    return TableSource(
        path=path,
        format_name=FORMAT_NAME,
        layout=LocsLayout(rules, extras),
        chunks=lambda: table_chunks(path, needed),
        pixelsize_nm=pixelsize_nm,
        pixelsize_source=source,
        frame_numbers="from 0 (NimOS Frame)",
        metadata={"Columns": [str(c) for c in sample.columns], "2D (Z is 0)": bool(flat_z)},
    )
