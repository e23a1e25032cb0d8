"""Zeiss Elyra (ZEN) localization tables (``.txt``).

ZEN exports a tab-separated table with a header line (``Index, First Frame, Number Frames,
Frames Missing, Position X [nm], Position Y [nm], Precision [nm], Number Photons,
Background variance, Chi square, PSF half width [nm], Channel, Z Slice``; ``Position Z
[nm]`` for 3D), an empty line, then ``Key : value`` lines about the image (``VoxelSizeX :
0.0970873786 µm``, ``SizeX``, ``ResolutionX`` ...). Frames are numbered from 1.

Mapping: ``First Frame - 1`` -> ``frame``; positions (nm) -> px with ``VoxelSizeX`` (the
camera pixel in the sample) unless ``--pixelsize`` is given; ``Precision`` -> ``lpx`` and
``lpy``; ``Number Photons`` -> ``photons``; ``PSF half width`` / 1.1774 -> ``sx`` and
``sy`` (a half width at half maximum: ZEN's values, 100-150 nm, are half the full width of
a diffraction-limited PSF, whose sigma is HWHM / sqrt(2 ln 2)). ``Index`` (the row number)
is dropped; ``Number Frames``, ``Frames Missing``, ``Background variance``, ``Chi square``,
``Channel`` and ``Z Slice`` are kept as extra fields. The trailing lines go into the YAML.
"""

from pathlib import Path

from ._text_tables import first_lines, sample_table, table_chunks, text_encoding
from .errors import InputFileError
from .table_layout import FWHM_PER_SIGMA, LocsLayout, TableSource, choose_pixelsize, rules_from_names, split_unit

FORMAT_NAME = "Zeiss Elyra"

ALIASES = {
    "frame": ["first frame"],
    "x": ["position x"],
    "y": ["position y"],
    "z": ["position z"],
    "lpx": ["precision x", "precision"],
    "lpy": ["precision y", "precision"],
    "lpz": ["precision z"],
    "photons": ["number photons"],
    "sx": ["psf half width"],
    "sy": ["psf half width"],
}
DROPPED = ("index",)


def is_elyra(path):
    """A tab-separated text file whose header has ZEN's ``First Frame`` and ``Position X [nm]``."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() not in (".txt", ".csv"):
        return False
    lines = first_lines(path, 1)
    if not lines:
        return False
    names = {split_unit(name)[0].lower() for name in lines[0].split("\t")}
    return {"first frame", "position x", "position y"} <= names


def read_trailer(path):
    """``(rows in the table, {key: value})``: the table ends at the first empty line; the
    ``Key : value`` lines after it describe the image."""
    rows, trailer, in_table = 0, {}, True
    with open(path, encoding=text_encoding(path), errors="replace") as f:
        next(f, None)
        for line in f:
            text = line.strip()
            if in_table:
                if text:
                    rows += 1
                    continue
                in_table = False
            if ":" in text:
                key, _, value = text.partition(":")
                trailer[key.strip()] = value.strip()
    return rows, trailer


def _voxel_size_nm(path, trailer):
    """``VoxelSizeX`` in nm (``"0.0970873786 µm"``), or None."""
    text = trailer.get("VoxelSizeX")
    if not text:
        return None
    parts = text.replace("\u00b5", "u").replace("\u03bc", "u").split()
    try:
        value = float(parts[0])
    except (IndexError, ValueError):
        raise InputFileError(path, f"its VoxelSizeX line ({text!r}) is not a size.") from None
    unit = parts[1].lower() if len(parts) > 1 else "um"
    scale = {"um": 1000.0, "nm": 1.0, "mm": 1e6, "m": 1e9}.get(unit)
    if scale is None:
        raise InputFileError(path, f"its VoxelSizeX line ({text!r}) has an unknown unit.")
    return value * scale


def open_table(path, *, pixelsize_nm=None):
    """Open a Zeiss Elyra ``.txt`` table (:class:`~.table_layout.TableSource`).

    Parameters
    ----------
    path : path-like
    pixelsize_nm : float, optional
        Camera pixel size (nm); default: the file's ``VoxelSizeX``.

    Examples
    --------
    >>> source = open_table("cell_1.txt")  # doctest: +SKIP
    >>> source.pixelsize_source  # doctest: +SKIP
    'file (VoxelSizeX)'
    """
    path = Path(path)
    n_rows, trailer = read_trailer(path)
    sample = sample_table(path, sep="\t", nrows=min(n_rows, 1000))
    columns = [c for c in sample.columns if sample[c].dtype.kind in "biuf"]
    pixelsize_nm, source = choose_pixelsize(path, pixelsize_nm, _voxel_size_nm(path, trailer), "VoxelSizeX")
    named = [(c, *split_unit(c)) for c in columns]
    rules, extras = rules_from_names(
        path,
        named,
        ALIASES,
        pixelsize_nm=pixelsize_nm,
        format_name=FORMAT_NAME,
        dtypes={c: sample[c].dtype for c in columns},
        frame_offset=-1,
        drop=DROPPED,
    )
    for rule in rules:
        if rule.column == "PSF half width [nm]":
            rule.scale /= FWHM_PER_SIGMA / 2
    if not {"frame", "x", "y"} <= {rule.field for rule in rules}:
        raise InputFileError(path, "lacks the First Frame / Position X [nm] / Position Y [nm] columns of ZEN's table.")
    needed = [rule.column for rule in rules] + [extra.column for extra in extras]
    return TableSource(
        path=path,
        format_name=FORMAT_NAME,
        layout=LocsLayout(rules, extras),
        chunks=lambda: table_chunks(path, needed, nrows=n_rows, sep="\t"),
        pixelsize_nm=pixelsize_nm,
        pixelsize_source=source,
        frame_numbers="from 1 (ZEN's First Frame)",
        metadata={"Elyra image": trailer},
        n_rows=n_rows,
    )
