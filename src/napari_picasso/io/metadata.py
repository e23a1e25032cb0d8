"""Movie metadata in one shape for every format, so a camera configuration can match it.

Micro-Manager stores device properties as ``<device label>-<property>`` keys (e.g.
``Andor-EMGain``), sometimes wrapped as ``{"PropVal": ..., "PropType": ...}``. Every reader
puts them, unwrapped and flat, under ``metadata["Micro-Manager Metadata"]`` and the active
camera's label under ``metadata["Camera"]``; a camera configuration then looks up
``f"{camera}-{property}"`` in that mapping.
"""

import numpy as np

MM_KEY = "Micro-Manager Metadata"


def plain(value):
    """YAML-safe copy of metadata (numbers, strings, lists, dicts)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def flatten_mm_properties(properties):
    """Micro-Manager metadata as a flat ``{key: value}``, property wrappers unwrapped.

    Nested property maps (``"PropertyValues"`` or ``{"PropVal": ...}`` wrappers, used by
    Micro-Manager 1.4 summaries and 2.0 ``UserData``) become plain values, so
    ``"<camera>-<property>"`` keys hold the property value itself.
    """
    flat = {}
    for key, value in (properties or {}).items():
        key = str(key)
        if isinstance(value, dict) and "PropVal" in value:
            flat[key] = plain(value["PropVal"])
        elif isinstance(value, dict) and key in ("PropertyValues", "Properties", "UserData"):
            flat.update(flatten_mm_properties(value))
        else:
            flat[key] = plain(value)
    return flat


def camera_name(properties):
    """The active camera's device label in Micro-Manager metadata (``Camera``/``Core-Camera``)."""
    for key in ("Camera", "Core-Camera"):
        name = properties.get(key)
        if isinstance(name, str) and name:
            return name
    return None


def camera_roi(properties):
    """The camera ROI ``{"x", "y", "width", "height"}`` (sensor pixels) Micro-Manager recorded.

    Micro-Manager writes it as ``"ROI": "x-y-width-height"`` in frame metadata (1.4, 2.0,
    NDTiff) and as a list ``[x, y, width, height]`` in 1.4 summaries. Returns None when
    the metadata holds no usable ROI.
    """
    value = properties.get("ROI")
    numbers = None
    if isinstance(value, str):
        parts = value.split("-")
        if len(parts) == 4 and all(p.strip().isdigit() for p in parts):
            numbers = [int(p) for p in parts]
    elif isinstance(value, (list, tuple)) and len(value) == 4:
        try:
            numbers = [int(v) for v in value]
        except (TypeError, ValueError):
            numbers = None
    if numbers is None or numbers[2] <= 0 or numbers[3] <= 0 or min(numbers[:2]) < 0:
        return None
    return dict(zip(("x", "y", "width", "height"), numbers))


def micromanager_metadata(*sources):
    """Merge Micro-Manager summary and frame metadata (later sources win) for a Movie.

    Returns ``{}`` when no source holds anything, else ``{"Micro-Manager Metadata": flat,
    "Camera": label}`` (``Camera`` only when known) plus ``Exposure (ms)``,
    ``Pixel Size (um)`` and ``Camera ROI`` (:func:`camera_roi`) where the metadata states them.
    """
    flat = {}
    for source in sources:
        if isinstance(source, dict):
            flat.update(flatten_mm_properties(source))
    if not flat:
        return {}
    metadata = {MM_KEY: flat}
    camera = camera_name(flat)
    if camera:
        metadata["Camera"] = camera
    for key in ("Exposure-ms", "Exposure"):
        if key in flat:
            try:
                metadata["Exposure (ms)"] = float(flat[key])
                break
            except (TypeError, ValueError):
                pass
    roi = camera_roi(flat)
    if roi is not None:
        metadata["Camera ROI"] = roi
    for key in ("PixelSizeUm", "PixelSize_um"):
        if key in flat:
            try:
                metadata["Pixel Size (um)"] = float(flat[key])
                break
            except (TypeError, ValueError):
                pass
    return metadata


# The camera document napari-picasso's simulations write beside a movie (and the sample
# movie carries): its keys and the parameters they give.
SIMULATION_KEY = "Simulation"
_STATED_CAMERA = {
    "Baseline": "baseline",
    "Sensitivity": "sensitivity",
    "EM Gain": "em_gain",
    "Pixelsize": "pixelsize_nm",
}


def stated_camera(metadata):
    """The camera values a movie's metadata states outright (a simulated movie's).

    Returns
    -------
    dict
        ``baseline``, ``sensitivity``, ``em_gain``, ``pixelsize_nm``: those present
        (empty when the metadata states none; a real camera's are matched through
        ``config.yaml`` instead).

    Examples
    --------
    >>> stated_camera({"Simulation": {"Baseline": 100.0, "Sensitivity": 0.5}})
    {'baseline': 100.0, 'sensitivity': 0.5}
    >>> stated_camera({"Camera": "Andor"})
    {}
    """
    document = (metadata or {}).get(SIMULATION_KEY)
    if not isinstance(document, dict):
        return {}
    return {
        name: float(document[key])
        for key, name in _STATED_CAMERA.items()
        if isinstance(document.get(key), (int, float)) and not isinstance(document.get(key), bool)
    }
