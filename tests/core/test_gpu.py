"""The CUDA kernels against the CPU kernels, in numba's CUDA simulator (no GPU needed).

The simulator must be switched on before numba is imported, so each check runs in a
new process with ``NUMBA_ENABLE_CUDASIM=1``. Inputs stay small: the simulator runs every
GPU thread as Python.
"""

import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from napari_picasso.simulate import CameraModel, isolated_spots, write_movie

SIMULATOR = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}


def run_simulated(script):
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], env=SIMULATOR, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_kernels_match_cpu_in_simulator():
    out = run_simulated(
        """
        import numpy as np
        from napari_picasso.core import gaussfit, gpu, identify

        assert gpu.cuda_available() and gpu.device_name() == "CUDA simulator"
        rng = np.random.default_rng(3)
        grid = np.arange(7.0)

        def spots(n, box=7):
            c = box // 2
            g = np.arange(box, dtype=float)
            x0 = c + rng.uniform(-1, 1, n)
            y0 = c + rng.uniform(-1, 1, n)
            mean = 15 + rng.uniform(300, 3000, n)[:, None, None] * np.exp(
                -((g[None, :, None] - y0[:, None, None]) ** 2 + (g[None, None, :] - x0[:, None, None]) ** 2)
                / (2 * 1.1**2)
            ) / (2 * np.pi * 1.1**2)
            return rng.poisson(mean).astype(np.float32)

        for box in (5, 7, 9):
            s = spots(12, box)
            for shared in (False, True):
                for name in ("fit_mle", "fit_lq"):
                    a = getattr(gpu, name)(s, shared_sigma=shared)
                    b = getattr(gaussfit, name)(s, shared_sigma=shared)
                    assert np.abs(a["x"] - b["x"]).max() < 1e-4, (name, box, shared)
                    assert np.abs(a["y"] - b["y"]).max() < 1e-4
                    assert np.abs(a["photons"] / b["photons"] - 1).max() < 1e-4
                    assert np.abs(a["bg"] / b["bg"] - 1).max() < 1e-4
                    if name == "fit_mle":
                        assert np.abs(a["crlb_x"] / b["crlb_x"] - 1).max() < 1e-4
                        assert np.abs(a["log_likelihood"] - b["log_likelihood"]).max() < 1e-2
        s = spots(10)
        extra = rng.uniform(0, 5, s.shape).astype(np.float32)
        a, b = gpu.fit_mle(s, extra_variance=extra), gaussfit.fit_mle(s, extra_variance=extra)
        assert np.abs(a["x"] - b["x"]).max() < 1e-4 and np.abs(a["photons"] / b["photons"] - 1).max() < 1e-4

        frames = rng.poisson(40, size=(3, 36, 44)).astype(np.float32)
        for f, y, x in ((0, 18, 20), (1, 9, 30), (2, 25, 12), (2, 27, 14)):
            frames[f, y, x] += 1500
            frames[f, y + 1, x] += 600
        for box in (5, 7):
            for roi in (None, (2, 3, 34, 40)):
                a = gpu.identify_frames(frames, 500.0, box, roi)
                b = identify.identify(frames, 500.0, box, roi)
                assert len(b[0]) >= 3
                for u, v in zip(a[:3], b[:3]):
                    assert np.array_equal(u, v) and u.dtype == v.dtype
                assert np.allclose(a[3], b[3], rtol=1e-6) and a[3].dtype == b[3].dtype
        print("kernels ok")
        """
    )
    assert "kernels ok" in out


@pytest.fixture(scope="module")
def small_movie(tmp_path_factory):
    camera = CameraModel(baseline=100.0, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)
    truth = isolated_spots(3, 40, 40, spacing_px=12, photons=1500, sigma_px=1.0, seed=4)
    folder = tmp_path_factory.mktemp("gpu")
    return write_movie(folder / "spots.raw", truth, 3, 40, 40, bg_photons=30, camera=camera, seed=4)


def _localize(movie, device, fit, env, tag=""):
    folder = movie.parent / f"{device}_{fit}{tag}"
    folder.mkdir(exist_ok=True)
    out = folder / "spots_locs.hdf5"
    args = ["localize", str(movie), "--box", "7", "--gradient", "1000", "--fit", fit, "--device", device]
    args += ["--baseline", "100", "--sensitivity", "0.5", "--pixelsize", "130", "--no-db", "--out", str(folder)]
    done = subprocess.run(
        [sys.executable, "-m", "napari_picasso", *args], env=env, capture_output=True, text=True, timeout=900
    )
    return done, out


@pytest.mark.parametrize("fit", ["mle", "lq"])
def test_localize_on_simulated_gpu_matches_cpu(small_movie, fit):
    done, gpu_out = _localize(small_movie, "gpu", fit, SIMULATOR)
    assert done.returncode == 0, done.stdout + done.stderr
    done, cpu_out = _localize(small_movie, "cpu", fit, os.environ)
    assert done.returncode == 0, done.stdout + done.stderr
    with h5py.File(gpu_out) as g, h5py.File(cpu_out) as c:
        a, b = g["locs"][...], c["locs"][...]
    assert len(a) == len(b) >= 9
    assert np.array_equal(a["frame"], b["frame"])
    for field in ("x", "y"):
        assert np.abs(a[field] - b[field]).max() < 1e-4
    assert np.abs(a["photons"] / b["photons"] - 1).max() < 1e-4
    assert np.abs(a["lpx"] / b["lpx"] - 1).max() < 1e-4
    assert "Device: gpu" in gpu_out.with_suffix(".yaml").read_text()


def test_device_gpu_refused_without_one(small_movie):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if os.path.exists("/dev/nvidiactl"):
        pytest.skip("this machine has an NVIDIA device")
    done, out = _localize(small_movie, "gpu", "mle", env, tag="_refused")
    assert done.returncode == 2
    assert "--device gpu: numba finds no CUDA GPU" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


def test_cpu_only_method_refused_on_gpu(small_movie):
    done, out = _localize(small_movie, "gpu", "avg", SIMULATOR, tag="_refused")
    assert done.returncode != 0
    assert "the avg fit method runs on the CPU only" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


# --- mle-multi ---------------------------------------------------------------------------

# The CPU kernels of mle-multi run as plain Python (``plain_windows`` in place of
# ``multifit._fit_windows``): the arithmetic the simulator does, so the simulated CUDA kernel
# must equal it bit for bit. The compiled CPU kernels re-associate sums (fastmath); against
# them a joint fit agrees within rounding only where its Levenberg-Marquardt converges
# sharply: one that crawls and stops on a log-likelihood gain below 1e-4 ends ~1e-4 to 1e-3
# px away on any other build (plain Python included), and where the two starts of a close
# pair reach one optimum the emitters may come out in the other order.
PLAIN_MULTI = textwrap.dedent(
    """
    import types
    import numpy as np
    from napari_picasso.core import gaussfit, gpu, multifit

    def python_source(module, base):
        namespace = {**vars(module), **base, "prange": range}
        for name, value in vars(module).items():
            f = getattr(value, "py_func", None)
            if f is not None and f.__module__ == module.__name__:
                namespace[name] = types.FunctionType(f.__code__, namespace, name, f.__defaults__, f.__closure__)
        return namespace

    plain = python_source(gaussfit, {})
    imported = ("_axis_terms", "_fit_into", "damped_solve", "inverse_diagonal")
    plain_windows = python_source(multifit, {name: plain[name] for name in imported})["_fit_windows"]
    """
)


def test_multi_kernel_matches_cpu_in_simulator():
    # Windows of one and two emitters whose joint fits converge sharply: every value within
    # ~3e-8 relative of the compiled CPU's (seed 10 is chosen for that, also under the
    # round-width joint model of the multi-emitter accuracy work).
    out = run_simulated(
        PLAIN_MULTI
        + textwrap.dedent(
            """
            rng = np.random.default_rng(10)
            grid = np.arange(7.0)

            def window(emitters, bg=30.0):
                mean = np.full((7, 7), bg)
                for x0, y0, n in emitters:
                    mean = mean + n * np.exp(-((grid[:, None] - y0) ** 2 + (grid[None, :] - x0) ** 2) / 2) / (2 * np.pi)
                return rng.poisson(mean).astype(np.float32)

            spots = np.stack([
                window([(3.2, 2.9, 1500)]),
                window([(1.6, 3.1, 2000), (4.6, 2.8, 2000)]),
                window([(1.5, 1.6, 2000), (4.7, 4.4, 1800)]),
                window([(2.8, 3.3, 900)]),
            ])
            extra = rng.uniform(0, 4, spots.shape).astype(np.float32)
            for options in (
                dict(max_emitters=2),
                dict(max_emitters=3, shared_sigma=True, extra_variance=extra),
            ):
                a = gpu.fit_multi(spots, **options)
                plain_result = multifit.fit_multi_with(plain_windows, spots, **options)
                b = multifit.fit_multi(spots, **options)
                for key in b:
                    assert np.array_equal(a[key], plain_result[key], equal_nan=True), key
                assert a.keys() == b.keys()
                assert np.array_equal(a["spot"], b["spot"]) and np.array_equal(a["n_emitters"], b["n_emitters"])
                assert a["n_emitters"].tolist() == [1, 2, 2, 2, 2, 1]
                assert np.abs(a["x"] - b["x"]).max() < 1e-4 and np.abs(a["y"] - b["y"]).max() < 1e-4
                assert np.abs(a["photons"] / b["photons"] - 1).max() < 1e-4
                # The shared background and width of a joint fit that crawls to its stop
                # (the pair 3 px apart) differ a little more between builds.
                for key in ("bg", "sx", "crlb_x", "crlb_photons"):
                    assert np.abs(a[key] / b[key] - 1).max() < 1e-3, key
                assert np.abs(a["log_likelihood"] - b["log_likelihood"]).max() < 1e-2
            print("multi ok")
            """
        )
    )
    assert "multi ok" in out


def test_localize_multi_on_simulated_gpu_matches_cpu():
    # localize(device="gpu") equals the CPU pipeline run on the plain-Python kernels bit for
    # bit, and the compiled CPU pipeline row for row (close pairs: see PLAIN_MULTI).
    out = run_simulated(
        PLAIN_MULTI
        + textwrap.dedent(
            """
            from napari_picasso.pipeline import LocalizeParameters, localize
            from napari_picasso.simulate import CameraModel, emitter_pairs, render_movie

            camera = CameraModel(baseline=100.0, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)
            truth = emitter_pairs(2, 2.5, 32, 32, spacing_px=16, photons=2000, seed=2)
            movie = render_movie(truth, 2, 32, 32, bg_photons=30, camera=camera, seed=2)

            def run(device):
                parameters = LocalizeParameters(
                    fit_method="mle-multi", box=7, min_net_gradient=1000, baseline=100, sensitivity=0.5,
                    pixelsize_nm=130, device=device,
                )
                return localize(movie, parameters)

            a = run("gpu")
            b = run("cpu")
            multifit._fit_windows = plain_windows
            c = run("cpu")
            for field in a.dtype.names:  # the net gradients: as identify_frames (rtol 1e-6)
                assert np.array_equal(a[field], c[field]) or field == "net_gradient", field
            assert np.allclose(a["net_gradient"], c["net_gradient"], rtol=1e-6)
            assert len(a) == len(b) and (b["n_emitters"] == 2).sum() >= 8
            assert np.array_equal(a["frame"], b["frame"]) and np.array_equal(a["n_emitters"], b["n_emitters"])
            for f in np.unique(b["frame"]):
                u, v = a[a["frame"] == f], b[b["frame"] == f]
                distance = np.hypot(u["x"][:, None] - v["x"][None], u["y"][:, None] - v["y"][None])
                match = distance.argmin(axis=0)
                assert sorted(match) == list(range(len(u)))
                assert distance.min(axis=0).max() < 1e-3
                assert np.abs(u["photons"][match] / v["photons"] - 1).max() < 1e-3
                single = v["n_emitters"] == 1
                assert distance.min(axis=0)[single].max(initial=0.0) < 1e-4
            print("localize multi ok")
            """
        )
    )
    assert "localize multi ok" in out


# --- Spline PSF and two-channel (mle-ratio) fits ----------------------------------------

SPLINE_BOX = 7
SPLINE_STEP_NM = 40.0


def test_spline_and_two_channel_kernels_match_cpu_in_simulator():
    out = run_simulated(
        f"""
        import numpy as np
        from napari_picasso.core import channelfit, gpu, psf_spline
        from napari_picasso.simulate import PupilPSF

        box = {SPLINE_BOX}
        z = np.arange(400.0, -400.1, -{SPLINE_STEP_NM})
        volume = PupilPSF().images(np.zeros(len(z)), np.zeros(len(z)), z, box + 2)
        focus = len(z) // 2
        volume /= volume[focus].max()
        coeff = psf_spline.coefficients(volume)
        rng = np.random.default_rng(1)
        n = 3
        dx, dy = rng.uniform(-0.7, 0.7, (2, n))
        spots = rng.poisson(PupilPSF().images(dx, dy, rng.uniform(-300, 300, n), box) * 2000 + 20).astype(float)
        variance = rng.uniform(0, 5, spots.shape)
        for options in ({{}}, {{"mle": False}}, {{"three_d": False}}, {{"extra_variance": variance}}):
            a = gpu.fit_spline(spots, coeff, photon_scale=volume[focus].sum(), z_focus=focus, **options)
            b = psf_spline.fit_spline(spots, coeff, photon_scale=volume[focus].sum(), z_focus=focus, **options)
            assert a.keys() == b.keys()
            for key in ("x", "y", "z"):
                assert np.abs(a[key] - b[key]).max() < 1e-4, (key, options)
            for key in ("photons", "bg", "crlb_x", "crlb_z", "crlb_photons"):  # crlb_z: NaN in 2-D
                np.testing.assert_allclose(a[key], b[key], rtol=1e-4, err_msg=f"{{key}} {{options}}")
            assert np.abs(a["log_likelihood"] - b["log_likelihood"]).max() < 1e-2
        big = np.zeros((1, 23, 23))
        try:
            gpu.fit_spline(big, psf_spline.coefficients(np.ones((3, 23, 23))))
        except ValueError as error:
            assert "boxes up to 21 px" in str(error)
        else:
            raise AssertionError("a box beyond the GPU scratch was taken")

        theta = np.array([[0.3, -0.4, 2000, 600, 20, 10, 1.0, 1.2], [-0.6, 0.2, 400, 1500, 5, 15, 1.1, 1.0]], float)
        offsets = rng.uniform(-0.5, 0.5, (2, 2))
        jacobians = np.eye(2)[None] + rng.normal(0, 0.01, (2, 2, 2))
        pairs = rng.poisson(channelfit.expected_spots(theta, offsets, jacobians, 7)).astype(np.float32)
        a = gpu.fit_two_channels(pairs, offsets, jacobians, read_variance=2.0)
        b = channelfit.fit_two_channels(pairs, offsets, jacobians, read_variance=2.0)
        assert a.keys() == b.keys()
        assert max(np.abs(a[key] - b[key]).max() for key in ("x", "y")) < 1e-4
        for key in ("photons_0", "photons_1", "bg_0", "bg_1", "s_0", "s_1", "crlb_x", "crlb_photons_1"):
            assert np.abs(a[key] / b[key] - 1).max() < 1e-4, key
        print("spline and two-channel kernels ok")
        """
    )
    assert "spline and two-channel kernels ok" in out


@pytest.fixture(scope="module")
def spline_movie(tmp_path_factory):
    """A pupil-PSF movie (2 frames of 40x40, 8 emitters) and a spline calibration of that PSF."""
    from napari_picasso.core import psf_spline
    from napari_picasso.io.psf_calib import save_psf_calibration, stored_coefficients
    from napari_picasso.simulate import PupilPSF, pupil_spots

    folder = tmp_path_factory.mktemp("gpu_spline")
    psf = PupilPSF()
    z = np.arange(400.0, -400.1, -SPLINE_STEP_NM)
    size = SPLINE_BOX + 2
    volume = psf.images(np.zeros(len(z)), np.zeros(len(z)), z, size)
    focus = len(z) // 2
    volume /= volume[focus].max()
    coeff = psf_spline.coefficients(volume)
    calibration = save_psf_calibration(
        folder / "beads_spline_calib.hdf5",
        {
            "model": "spline-3d",
            "coefficients": stored_coefficients(coeff, "spline-3d"),
            "n_data": [size, size, len(z)],
            "n_intervals": [size - 1, size - 1, len(z) - 1],
            "z_center": float(focus),
            "z_init": float(focus),
            "z_step_nm": SPLINE_STEP_NM,
            "magnification_factor": 1.0,
            "effective_sigma": 1.0,
            "photon_scale": float(volume[focus, 1:-1, 1:-1].sum()),
            "box": SPLINE_BOX,
            "pixelsize": psf.pixelsize_nm,
        },
    )
    camera = CameraModel(baseline=100.0, sensitivity=0.5, em_gain=1.0, read_noise_e=1.5)
    truth = pupil_spots(2, 40, 40, spacing_px=12, photons=3000.0, z_range_nm=(-300.0, 300.0), seed=6)
    movie = write_movie(
        folder / "spline.raw", truth, 2, 40, 40, bg_photons=20, camera=camera, seed=6, pixelsize_nm=110, psf=psf
    )
    return movie, calibration


@pytest.mark.parametrize("fit", ["spline-mle"])
def test_spline_localize_on_simulated_gpu_matches_cpu(spline_movie, fit):
    movie, calibration = spline_movie
    tables = {}
    for device, env in (("gpu", SIMULATOR), ("cpu", os.environ)):
        folder = movie.parent / f"{device}_{fit}"
        args = ["localize", str(movie), "--box", str(SPLINE_BOX), "--gradient", "300", "--fit", fit]
        args += ["--psf", str(calibration), "--device", device, "--baseline", "100", "--sensitivity", "0.5"]
        args += ["--pixelsize", "110", "--no-db", "--out", str(folder)]
        done = subprocess.run(
            [sys.executable, "-m", "napari_picasso", *args], env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stdout + done.stderr
        with h5py.File(folder / "spline_locs.hdf5") as f:
            tables[device] = f["locs"][...]
    a, b = tables["gpu"], tables["cpu"]
    assert len(a) == len(b) >= 6
    assert np.array_equal(a["frame"], b["frame"]) and np.array_equal(a["iterations"], b["iterations"])
    for field in ("x", "y"):
        assert np.abs(a[field] - b[field]).max() < 1e-4
    assert np.abs(a["z"] - b["z"]).max() < 1e-2  # nm: 2.5e-4 slices
    for field in ("photons", "bg", "lpx", "lpz"):
        np.testing.assert_allclose(a[field], b[field], rtol=1e-4, err_msg=field)
    assert "Device: gpu" in (movie.parent / f"gpu_{fit}" / "spline_locs.yaml").read_text()


def test_spline_beyond_the_gpu_scratch(tmp_path):
    """--device gpu refuses a spline calibration too large for a GPU thread; auto fits it on the CPU."""
    from napari_picasso.core import psf_spline
    from napari_picasso.fitters import get
    from napari_picasso.io.errors import ParameterError
    from napari_picasso.io.psf_calib import save_psf_calibration, stored_coefficients
    from napari_picasso.pipeline import LocalizeParameters

    box = 23
    coeff = psf_spline.coefficients(np.ones((3, box + 2, box + 2)))
    path = save_psf_calibration(
        tmp_path / "wide_spline_calib.hdf5",
        {
            "model": "spline-3d",
            "coefficients": stored_coefficients(coeff, "spline-3d"),
            "n_data": [box + 2, box + 2, 3],
            "n_intervals": [box + 1, box + 1, 2],
            "z_center": 1.0,
            "z_init": 1.0,
            "z_step_nm": 50.0,
            "photon_scale": float(box * box),
            "box": box,
            "pixelsize": 110.0,
        },
    )
    parameters = LocalizeParameters(box=box, fit_method="spline-mle", pixelsize_nm=110.0).replace(psf=str(path))
    fitter = get("spline-mle")
    with pytest.raises(ParameterError, match="boxes up to 21 px"):
        fitter.check(parameters.replace(device="gpu"))
    fitter.check(parameters.replace(device="auto"))
    spots = np.full((2, box, box), 10.0)
    fit = fitter.gpu_fit(spots, parameters.replace(device="auto"), None)  # the CPU's fit: no CUDA touched
    assert len(fit["x"]) == 2 and np.isfinite(fit["photons"]).all()


def test_multi_device_code_calls_device_functions_only():
    # The simulator runs any Python, so it cannot see a CPU numba function or a numpy
    # allocation reached from the CUDA kernel (the real GPU refuses both). Walk what the
    # kernel's _fit_window reaches and check: a multifit function added to the window fit
    # must be added to _cuda_kernels._MULTI_FUNCTIONS, and scratch comes from the caller.
    out = run_simulated(
        """
        from numba.core.registry import CPUDispatcher
        from napari_picasso.core import _cuda_kernels

        allocations = {"empty", "zeros", "ones", "full", "empty_like", "zeros_like", "copy"}
        seen, todo = set(), [_cuda_kernels._fit_window]
        while todo:
            function = todo.pop().fn
            if function in seen:
                continue
            seen.add(function)
            assert not allocations & set(function.__code__.co_names), function.__name__
            for name in function.__code__.co_names:
                value = function.__globals__.get(name)
                assert not isinstance(value, CPUDispatcher), f"{function.__name__} calls CPU code {name}"
                if hasattr(value, "fn"):
                    todo.append(value)
        assert len(seen) >= 15, len(seen)
        print("device only", len(seen))
        """
    )
    assert "device only" in out
