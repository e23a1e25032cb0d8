"""The image splitter step of the pipeline: two spectral channels side by side on one camera.

With ``--splitter left-right`` (or ``top-bottom``) every frame is cut in two halves:
channel 0 (left, top) and channel 1 (right, bottom; mirrored along the split with
``--flip``). A channel calibration (``--channels``, from ``calibrate-channels``) maps
channel-1 px to channel-0 px. The pipeline then

- detects on the *registered sum*: channel 0 plus channel 1 resampled at the channel-1
  position of every channel-0 pixel (bilinear), minus one baseline (:func:`registered_sum`);
- cuts a pair of boxes per candidate, the channel-1 box around the candidate's image
  through the map, with the sub-pixel offset and local derivative of the map that the
  joint fit needs (:func:`spot_pairs`).

Positions, ROIs, Width and Height are those of channel 0 (one half).
"""

import dataclasses
import functools

import numpy as np

from .core.channelmap import apply_map, invert_map, map_jacobian, warp_bilinear
from .core.spots import extract_spots
from .io.channels import map_coefficients
from .io.errors import ParameterError

SPLITTERS = ("left-right", "top-bottom")


def is_split(parameters):
    """True when the parameters ask for a splitter."""
    return getattr(parameters, "splitter", "none") not in (None, "none")


def channel_shape(shape, splitter, name="movie"):
    """``(height, width)`` of one channel of frames shaped ``(..., height, width)``.

    Raises
    ------
    ParameterError
        When the frame cannot be cut in two equal halves as asked.

    Examples
    --------
    >>> channel_shape((10, 64, 128), "left-right")
    (64, 64)
    """
    height, width = (int(v) for v in shape[-2:])
    if splitter == "left-right":
        if width % 2:
            raise ParameterError(
                f"{name}: its frames are {width} px wide, which --splitter left-right cannot cut into two "
                "equal halves; crop the movie to an even width, or use --splitter top-bottom if the channels "
                "lie one above the other."
            )
        return height, width // 2
    if splitter == "top-bottom":
        if height % 2:
            raise ParameterError(
                f"{name}: its frames are {height} px high, which --splitter top-bottom cannot cut into two "
                "equal halves; crop the movie to an even height, or use --splitter left-right if the channels "
                "lie side by side."
            )
        return height // 2, width
    raise ParameterError(f"unknown splitter {splitter!r}; choose one of {', '.join(SPLITTERS)}.")


def split_frames(frames, splitter, flip=False):
    """``(channel 0, channel 1)`` of ``(n, height, width)`` frames (views where possible).

    Examples
    --------
    >>> frames = np.arange(8).reshape(1, 2, 4)
    >>> [c.tolist() for c in split_frames(frames, "left-right", flip=True)]
    [[[[0, 1], [4, 5]]], [[[3, 2], [7, 6]]]]
    """
    height, width = channel_shape(frames.shape, splitter)
    if splitter == "left-right":
        first, second = frames[..., :width], frames[..., width:]
        axis = -1
    else:
        first, second = frames[..., :height, :], frames[..., height:, :]
        axis = -2
    return first, (np.flip(second, axis=axis) if flip else second)


def check_calibration(parameters, shape, name="movie"):
    """The splitter options against a movie of ``shape`` and the channel calibration.

    Raises
    ------
    ParameterError
        A frame that cannot be split; no calibration; a calibration of another camera size
        or splitter; options the splitter does not take yet.
    """
    channel_shape(shape, parameters.splitter, name)
    calibration = parameters.channels
    if not calibration:
        raise ParameterError(
            f"--splitter {parameters.splitter} needs the channel calibration (--channels CAL.yaml); make one "
            "from a beads movie with 'napari-picasso calibrate-channels'."
        )
    source = calibration.get("Path", "the channel calibration")
    height, width = (int(v) for v in shape[-2:])
    cal_size = (calibration.get("camera_height"), calibration.get("camera_width"))
    if cal_size != (height, width):
        raise ParameterError(
            f"{name}: {source} was made on a {cal_size[0]}x{cal_size[1]} px camera frame, but the movie's frames "
            f"are {height}x{width} px; calibrate-channels a beads movie taken with this camera ROI."
        )
    if calibration.get("splitter") != parameters.splitter or bool(calibration.get("flip")) != bool(
        parameters.splitter_flip
    ):
        raise ParameterError(
            f"{source} was made with --splitter {calibration.get('splitter')}"
            f"{' --flip' if calibration.get('flip') else ''}; localize with the same splitter options."
        )
    for option, flag in (("camera_maps", "--camera-maps"), ("subtract_background", "--subtract-background")):
        if getattr(parameters, option):
            raise ParameterError(f"{flag} does not work with --splitter yet; leave it out.")


@functools.lru_cache(maxsize=8)
def _channel1_grid(cx, cy, height, width):
    y0, x0 = np.mgrid[0:height, 0:width].astype(np.float64)
    x1, y1 = invert_map(np.array(cx), np.array(cy), x0, y0)
    return np.ascontiguousarray(x1), np.ascontiguousarray(y1)


def channel1_grid(calibration, height, width):
    """Channel-1 px ``(x1, y1)`` of every channel-0 pixel of a ``height x width`` half."""
    cx, cy = map_coefficients(calibration)
    return _channel1_grid(tuple(cx), tuple(cy), int(height), int(width))


def registered_sum(channel0, channel1, calibration, baseline=0.0):
    """Channel 0 plus channel 1 resampled onto channel 0, in counts with one ``baseline``.

    Examples
    --------
    >>> cal = {"map": {"model": "affine", "matrix": [[1, 0, 0], [0, 1, 0]]}}
    >>> ones = np.full((1, 4, 4), 101.0)
    >>> float(registered_sum(ones, ones, cal, 100.0)[0, 1, 1])
    102.0
    """
    x1, y1 = channel1_grid(calibration, *channel0.shape[-2:])
    warped = warp_bilinear(channel1, x1, y1, fill=float(baseline))
    return np.asarray(channel0, np.float32) + warped - np.float32(baseline)


def split_for_detection(frames, parameters, background=None):
    """``(channel 0, channel 1)``, their registered sum and the background's, for a splitter."""
    halves = [
        np.ascontiguousarray(c, dtype=np.float32)
        for c in split_frames(frames, parameters.splitter, parameters.splitter_flip)
    ]
    summed = registered_sum(*halves, parameters.channels, parameters.baseline)
    if background is not None:
        background = registered_sum(
            *split_frames(background, parameters.splitter, parameters.splitter_flip),
            parameters.channels,
            parameters.baseline,
        )
    return halves, summed, background


def registered_channels(frames, parameters):
    """``(channel 0, channel 1 resampled onto channel 0)`` in counts above the baseline.

    What the dock's preview overlays to show the registration (float32, ``(n, h, w)``).
    """
    first, second = split_frames(np.asarray(frames, np.float32), parameters.splitter, parameters.splitter_flip)
    x1, y1 = channel1_grid(parameters.channels, *first.shape[-2:])
    baseline = float(parameters.baseline)
    return first - np.float32(baseline), warp_bilinear(second, x1, y1, fill=baseline) - np.float32(baseline)


@dataclasses.dataclass
class SpotPairs:
    """Spot pairs of the joint fit: ``spots`` ``(n, 2, box, box)`` photons, ``offsets``
    ``(n, 2)`` channel-1 position of the channel-0 box centre from the channel-1 box centre,
    ``jacobians`` ``(n, 2, 2)`` of the channel-0 -> channel-1 map there."""

    spots: np.ndarray
    offsets: np.ndarray
    jacobians: np.ndarray

    def __len__(self):
        return len(self.spots)


def spot_pairs(channel0, channel1, frame_index, y_px, x_px, parameters):
    """Cut the box pairs of the candidates and convert them to photons.

    Returns
    -------
    pairs : SpotPairs
        Of the candidates whose channel-1 box lies inside channel 1.
    inside : numpy.ndarray
        Boolean mask of those candidates.
    """
    box = parameters.box
    r = box // 2
    cx, cy = map_coefficients(parameters.channels)
    x1, y1 = invert_map(cx, cy, x_px.astype(np.float64), y_px.astype(np.float64))
    xi = np.rint(x1).astype(np.int64)
    yi = np.rint(y1).astype(np.int64)
    height, width = channel1.shape[-2:]
    inside = (xi >= r) & (yi >= r) & (xi < width - r) & (yi < height - r)
    forward = map_jacobian(cx, cy, x1[inside], y1[inside])  # d(ch0)/d(ch1)
    jacobians = np.linalg.inv(forward) if len(forward) else np.zeros((0, 2, 2))
    offsets = np.column_stack([x1[inside] - xi[inside], y1[inside] - yi[inside]])
    photons = {"baseline": parameters.baseline, "sensitivity": parameters.sensitivity, "em_gain": parameters.em_gain}
    frame_index = frame_index[inside]
    spots0 = extract_spots(channel0, frame_index, y_px[inside], x_px[inside], box, **photons)
    spots1 = extract_spots(np.ascontiguousarray(channel1), frame_index, yi[inside], xi[inside], box, **photons)
    return SpotPairs(np.stack([spots0, spots1], axis=1), offsets, jacobians), inside


def channel0_positions(calibration, x1_px, y1_px):
    """Channel-0 px of channel-1 px through the calibration (sequential registration)."""
    cx, cy = map_coefficients(calibration)
    return apply_map(cx, cy, x1_px, y1_px)
