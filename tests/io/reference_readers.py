"""The formats' own readers, as references for the reader tests."""

import contextlib
import io

import numpy as np


def ndtiff_reference(folder):
    """The whole NDTiff dataset as ndstorage reads it, and its axes."""
    import ndstorage

    with contextlib.redirect_stdout(io.StringIO()):  # ndstorage prints progress
        dataset = ndstorage.Dataset(str(folder))
        try:
            return np.asarray(dataset.as_array()), dict(dataset.axes)
        finally:
            dataset.close()
