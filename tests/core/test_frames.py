"""Frames converted into a reused float32 buffer equal numpy's conversion."""

import numpy as np
import pytest

from napari_picasso.core.frames import frames_as_float32


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.uint32, np.float32, np.float64])
def test_same_values_as_numpy_into_the_buffer(dtype):
    rng = np.random.default_rng(3)
    frames = (rng.random((5, 7, 9)) * np.iinfo(np.int16).max).astype(dtype)
    buffer = np.full((8, 7, 9), -1.0, np.float32)
    out = frames_as_float32(frames, buffer)
    np.testing.assert_array_equal(out, frames.astype(np.float32))
    assert out.dtype == np.float32 and out.flags.c_contiguous and np.shares_memory(out, buffer)


def test_a_buffer_that_does_not_fit_is_not_used():
    frames = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    for buffer in (None, np.empty((1, 3, 4), np.float32), np.empty((4, 4, 4), np.float32), np.empty((4, 3, 4))):
        out = frames_as_float32(frames, buffer)
        np.testing.assert_array_equal(out, frames.astype(np.float32))
        assert buffer is None or not np.shares_memory(out, buffer)
    strided = np.arange(4 * 3 * 8, dtype=np.uint16).reshape(4, 3, 8)[::2, :, ::2]
    np.testing.assert_array_equal(frames_as_float32(strided, np.empty((2, 3, 4), np.float32)), strided)
