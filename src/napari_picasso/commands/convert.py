"""``napari-picasso convert IN OUT [--pixelsize NM]``: localization files between tools.

IN is a ``_locs.hdf5`` (ours or Picasso's) or another tool's table: ThunderSTORM ``.csv``,
rapidSTORM ``.txt``, Zeiss Elyra ``.txt``, ONI Nanoimager ``.csv``, ``.smlm``, DECODE
``.h5``, SMAP ``_sml.mat``, PYME ``.h5r``. OUT's suffix picks the format: ``.hdf5``
(+ ``.yaml``; Picasso opens it), ``.csv`` (ThunderSTORM) or ``.smlm``. ``--pixelsize``
(the camera pixel in the sample, nm) converts nm to camera pixels where the file does
not say it, and gives CSV/``.smlm`` their nm where the ``_locs.yaml`` has no Pixelsize.
"""

from pathlib import Path


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "convert",
        help="convert localization tables (ThunderSTORM, SMLM, DECODE, ...) to/from _locs.hdf5",
        description=__doc__,
    )
    parser.add_argument("input", type=Path, metavar="IN", help="localization file to read")
    parser.add_argument("output", type=Path, metavar="OUT", help="file to write: .hdf5, .csv or .smlm")
    parser.add_argument(
        "--pixelsize", type=float, metavar="NM", help="camera pixel size in the sample, nm (default: the file's)"
    )
    parser.set_defaults(func=run)


def run(args):
    from ..io.convert import convert_file  # when run: pandas and the table readers load slowly

    result = convert_file(args.input, args.output, pixelsize_nm=args.pixelsize)
    note = f" ({result.rows_left_out} invalid rows left out)" if result.rows_left_out else ""
    print(
        f"{', '.join(str(p) for p in result.written)}: {result.n_locs} localizations "
        f"({result.source_format} -> {result.target_format}){note}"
    )
    return 0
