"""Peak memory of localizing a movie does not grow with the movie's length."""

import json
import subprocess
import sys
import textwrap

from napari_picasso.simulate import CameraModel, blinking_sites, write_movie

PEAK_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from napari_picasso.pipeline import LocalizeParameters, localize_file
    path, out = sys.argv[1], sys.argv[2]
    import napari_picasso.pipeline as p
    p.CHUNK_BYTES = 100 * 128 * 128 * 4  # 100 frames per chunk
    localize_file(path, LocalizeParameters(min_net_gradient=1000, sensitivity=0.5), out)
    print(json.dumps({"peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    """
)


def peak_kb(movie, out):
    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(movie), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_kb"]


def test_peak_memory_flat_in_movie_length(tmp_path):
    camera = CameraModel(baseline=100, sensitivity=0.5)
    paths = {}
    for n_frames in (400, 4000):
        truth = blinking_sites(n_frames, 128, 128, n_sites=150, mean_off_frames=20, seed=n_frames)
        paths[n_frames] = write_movie(tmp_path / f"m{n_frames}.raw", truth, n_frames, 128, 128,
                                      camera=camera, seed=1)
    short = peak_kb(paths[400], tmp_path / "short_locs.hdf5")
    long = peak_kb(paths[4000], tmp_path / "long_locs.hdf5")
    # 10x the frames (131 MB of pixels against 13 MB) within 20% of the short movie's peak.
    assert long <= 1.2 * short, (short, long)
