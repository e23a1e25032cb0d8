"""Colour windows of a ratiometric (image splitter) measurement.

A window ``NAME:LO:HI`` takes the localizations with ``LO <= ratio < HI`` (``HI = 1``
includes 1), ``ratio = photons_1 / (photons_0 + photons_1)``.
"""

import numpy as np


def parse_colours(text):
    """``(names, windows)`` of ``"NAME:LO:HI NAME:LO:HI ..."`` (spaces or commas between).

    Raises
    ------
    ValueError
        Saying which window is not NAME:LO:HI with 0 <= LO < HI <= 1, repeats a name, or
        overlaps another.

    Examples
    --------
    >>> parse_colours("red:0:0.45 far-red:0.45:1")
    (('red', 'far-red'), ((0.0, 0.45), (0.45, 1.0)))
    """
    names, windows = [], []
    for word in str(text or "").replace(",", " ").split():
        parts = word.split(":")
        try:
            if len(parts) != 3 or not parts[0]:
                raise ValueError
            low, high = float(parts[1]), float(parts[2])
        except ValueError:
            raise ValueError(f"{word!r} is not NAME:LO:HI (e.g. red:0:0.45)") from None
        if not 0.0 <= low < high <= 1.0:
            raise ValueError(f"{word!r}: the ratio window needs 0 <= LO < HI <= 1")
        if parts[0] in names:
            raise ValueError(f"the colour {parts[0]!r} is named twice")
        names.append(parts[0])
        windows.append((low, high))
    order = sorted(range(len(windows)), key=lambda i: windows[i])
    for a, b in zip(order, order[1:], strict=False):
        if windows[b][0] < windows[a][1]:
            raise ValueError(
                f"the windows of {names[a]!r} {windows[a]} and {names[b]!r} {windows[b]} overlap; "
                "a ratio must fall in one window at most: let one end where the next starts"
            )
    return tuple(names), tuple(windows)


def colour_index(ratio, windows):
    """Index of the window each ratio falls in, -1 for none (``int16``).

    Examples
    --------
    >>> colour_index(np.array([0.1, 0.5, 0.9, 1.0]), ((0.0, 0.4), (0.6, 1.0))).tolist()
    [0, -1, 1, 1]
    """
    ratio = np.asarray(ratio, dtype=np.float64)
    out = np.full(ratio.shape, -1, dtype=np.int16)
    for index, (low, high) in enumerate(windows):
        inside = (ratio >= low) & ((ratio < high) | ((high >= 1.0) & (ratio <= high)))
        out[inside] = index
    return out
