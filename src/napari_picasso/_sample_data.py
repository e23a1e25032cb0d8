"""npe2 sample data: a simulated DNA-PAINT movie with its ground truth."""

import numpy as np

from ._reader import LAYER_KEY
from .simulate import CameraModel, movie_metadata, simulate_movie

SAMPLE_FRAMES = 300
SAMPLE_SIZE_PX = 64


def blinking_movie():
    """A small simulated blinking movie (image layer) and its ground truth (points layer).

    300 frames of 64x64 px, 40 binding sites of 1500 photons, 50 background photons per
    pixel, a conventional camera (baseline 100 counts, 0.5 e-/count); generated in about a
    second.
    """
    camera = CameraModel(baseline=100.0, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)
    bg_photons = 50.0
    movie, truth = simulate_movie(
        n_frames=SAMPLE_FRAMES,
        height=SAMPLE_SIZE_PX,
        width=SAMPLE_SIZE_PX,
        bg_photons=bg_photons,
        camera=camera,
        seed=7,
        n_sites=40,
        photons=1500,
        mean_on_frames=3,
        mean_off_frames=30,
        min_distance_px=8,
    )
    metadata = {
        "Width": SAMPLE_SIZE_PX,
        "Height": SAMPLE_SIZE_PX,
        "Frames": SAMPLE_FRAMES,
        "Data Type": "uint16",
        "Byte Order": "<",
        **movie_metadata(camera, bg_photons),
    }
    low, high = np.percentile(movie[::50], [0.1, 99.9])
    truth = np.sort(truth, order=["frame", "site"])
    points = np.column_stack([truth["frame"], truth["y"], truth["x"]]).astype(np.float64)
    features = {name: truth[name] for name in truth.dtype.names if name not in ("frame", "x", "y")}
    return [
        (
            movie,
            {
                "name": "simulated blinking movie",
                "contrast_limits": [float(low), float(high)],
                "metadata": {LAYER_KEY: {"path": None, "movie_metadata": metadata}},
            },
            "image",
        ),
        (
            points,
            {
                "name": "ground truth",
                "features": features,
                "size": 3.0,
                "face_color": "transparent",
                "border_color": "cyan",
                "border_width": 0.12,
                "border_width_is_relative": True,
                "metadata": {LAYER_KEY: {"locs_path": None, "info": [metadata, {"Ground truth": True}]}},
            },
            "points",
        ),
    ]
