"""``napari-picasso register FILE... --channels CAL.yaml``: sequential two-colour registration.

FILE holds localizations of channel 1 of an image splitter (camera px of that half);
writes ``<name>_register.hdf5`` with them in channel-0 px through the channel
calibration (``calibrate-channels``), ready to overlay on channel-0 localizations.
"""

from pathlib import Path

from ..io.channels import load_channels
from ..io.errors import InputFileError
from ..postprocess import register_file
from ._postprocess import report_error


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "register", help="map channel-1 localizations into channel 0 (splitter calibration)", description=__doc__
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="_locs.hdf5 files of channel 1")
    parser.add_argument(
        "--channels", type=Path, required=True, metavar="CAL.yaml", help="channel calibration from calibrate-channels"
    )
    parser.set_defaults(func=run)


def run(args):
    try:
        calibration = load_channels(args.channels)
    except InputFileError as error:
        return report_error(error)
    failures = 0
    for path in args.files:
        try:
            target, dropped = register_file(path, calibration)
        except InputFileError as error:
            failures += report_error(error)
            continue
        extra = f", {dropped} mapped outside the frame left out" if dropped else ""
        print(f"{target}: registered into channel 0 ({calibration['map']['model']} map{extra})")
    return 1 if failures else 0
