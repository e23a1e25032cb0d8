"""What the post-processing commands share."""

import sys


def report_error(error):
    print(f"error: {error}", file=sys.stderr)
    return 1
