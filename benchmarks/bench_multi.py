"""Multi-emitter fitting (``mle-multi``) against ``mle`` and Picasso 0.11.3 on simulated movies.

Density sweep (sigma 1 px, 1500 photons, bg 50 photons/px, 128x128 frames of 100 nm pixels),
isolated spots (sparse), pairs at 0.5 - 2 sigma, and the read-noise-aware MLE. Prints
Markdown tables; ``--plot PNG`` draws Jaccard and RMSE/CRLB against density.

    python benchmarks/bench_multi.py [--frames 10] [--plot docs/images/multi-emitter.png]

Jaccard = TP / (TP + FP + FN), matched within 1 px (100 nm). RMSE/CRLB: lateral RMSE of
the matched localizations over sqrt(CRLB) of an isolated emitter (the model ``mle`` fits:
x, y, N, bg, sx, sy), of all of them and of those whose nearest true neighbour is 5 px or
more away; "RMSE/joint CRLB": rms of each error over the bound of the joint model of the
true emitters around it (:func:`~napari_picasso.core.multifit.neighbourhood_crlb`, the
model ``mle-multi`` fits: a neighbour 1 px away raises the bound no estimator can beat);
"error/lp": rms of each error over the uncertainty the method reports for it (1: honest). Times are best of two, side by side in one process; the ratio is what counts.
"""

import argparse
import math
import os
import tempfile
import time

import numpy as np

from napari_picasso.core.matching import match_to_truth
from napari_picasso.core.multifit import emitters_crlb, neighbourhood_crlb
from napari_picasso.pipeline import LocalizeParameters, localize
from napari_picasso.simulate import (
    CameraModel,
    dense_emitters,
    emitter_pairs,
    isolated_spots,
    nearest_neighbour_px,
    render_movie,
    suggested_min_net_gradient,
)

CAMERA = CameraModel(baseline=100.0, sensitivity=1.0, em_gain=1.0, read_noise_e=0.0)
SIZE = 128
PHOTONS = 1500.0
BG = 50.0
PIXEL_NM = 100.0
MARGIN = 4
SPOTS_PER_UM2 = (SIZE - 2 * MARGIN) ** 2 * (PIXEL_NM / 1000) ** 2  # um^2 of a frame's emitter area
DENSITIES = (0.25, 40 / SPOTS_PER_UM2, 0.5, 1.0, 2.0, 4.0)


def parameters(method, gradient, read_noise_e=0.0):
    return LocalizeParameters(
        fit_method=method,
        baseline=CAMERA.baseline,
        sensitivity=CAMERA.sensitivity,
        min_net_gradient=gradient,
        read_noise_e=read_noise_e,
        pixelsize_nm=PIXEL_NM,
    )


def timed(function, repeats=2):
    best, out = math.inf, None
    for _ in range(repeats):
        started = time.perf_counter()
        out = function()
        best = min(best, time.perf_counter() - started)
    return best, out


def scores(locs, truth, radius_px=1.0, bound_px=None, joint_variance=None):
    li, ti = match_to_truth(locs, truth, radius_px)
    tp = len(li)
    dx = np.asarray(locs["x"], float)[li] - truth["x"][ti]
    dy = np.asarray(locs["y"], float)[li] - truth["y"][ti]
    rmse = math.sqrt(np.mean(dx**2 + dy**2) / 2) if tp else math.nan
    apart = nearest_neighbour_px(truth)[ti] >= 5.0
    rmse_apart = math.sqrt(np.mean(dx[apart] ** 2 + dy[apart] ** 2) / 2) if apart.any() else math.nan
    out = {
        "jaccard": tp / max(1, len(locs) + len(truth) - tp),
        "recall": tp / max(1, len(truth)),
        "rmse_px": rmse,
        "locs_index": li,
        "truth_index": ti,
    }
    if bound_px is not None:
        out["rmse_crlb"] = rmse / bound_px
        out["rmse_crlb_apart"] = rmse_apart / bound_px
    if joint_variance is not None and tp:
        out["rmse_joint"] = math.sqrt(np.mean((dx**2 + dy**2) / 2 / joint_variance[ti]))
    if "lpx" in (getattr(locs, "dtype", None).names or ()) and tp:
        # rms of error / reported uncertainty: 1 when the reported lpx, lpy are honest.
        z2 = (dx / np.asarray(locs["lpx"], float)[li]) ** 2 + (dy / np.asarray(locs["lpy"], float)[li]) ** 2
        out["rmse_lp"] = math.sqrt(np.mean(z2) / 2)
    return out


def isolated_bound_px(extra_variance=0.0, photons=PHOTONS, bg=BG):
    crlb = emitters_crlb([0.0], [0.0], [photons], bg=bg, sx_px=1.0, sy_px=1.0, extra_variance=extra_variance)
    return math.sqrt(crlb[0, 0])


def picasso_fit(movie, gradient):
    """Picasso 0.11.3's identify + gaussmle on the movie (None when not installed)."""
    try:
        from picasso import localize as ploc
    except ImportError:
        return None
    camera_info = {"Baseline": CAMERA.baseline, "Sensitivity": CAMERA.sensitivity, "Gain": 1, "Qe": 1}
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "movie.raw")
    np.asarray(movie, dtype="<u2").tofile(path)
    movie = np.memmap(path, dtype="<u2", mode="r", shape=movie.shape)  # Picasso takes memmaps or its movies
    ids = ploc.identify(movie, gradient, 7, threaded=True)
    ids = ids[0] if isinstance(ids, tuple) else ids
    out = ploc.fit(movie, camera_info=camera_info, identifications=ids, box=7, fitting_method="gaussmle", eps=1e-3)
    out = out[0] if isinstance(out, tuple) else out
    return out.to_records(index=False) if hasattr(out, "to_records") else out


def density_sweep(frames):
    gradient = suggested_min_net_gradient(PHOTONS, CAMERA)
    bound = isolated_bound_px()
    rows = []
    print("\n## Density sweep\n")
    print(
        "| emitters/um^2 | per frame | method | Jaccard | recall | RMSE (nm) | RMSE/CRLB | RMSE/CRLB, nn >= 5 px "
        "| RMSE/joint CRLB | error/lp | time (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for index, density in enumerate(DENSITIES):
        truth = dense_emitters(
            frames, SIZE, SIZE, density_per_um2=density, pixelsize_nm=PIXEL_NM, margin_px=MARGIN, seed=index
        )
        movie = render_movie(truth, frames, SIZE, SIZE, bg_photons=BG, camera=CAMERA, seed=index)
        joint = neighbourhood_crlb(truth["frame"], truth["x"], truth["y"], truth["photons"], bg=BG, sigma_px=1.0).mean(
            axis=1
        )
        results = {}
        for method in ("mle", "mle-multi"):
            localize(movie[:1], parameters(method, gradient))  # compiled
            seconds, locs = timed(lambda m=method, mv=movie: localize(mv, parameters(m, gradient)))
            results[method] = (seconds, locs)
        picasso = picasso_fit(movie, gradient)
        if picasso is not None:
            results["picasso 0.11.3 mle"] = (math.nan, picasso)
        for method, (seconds, locs) in results.items():
            s = scores(locs, truth, bound_px=bound, joint_variance=joint)
            row = {"density": density, "per_frame": len(truth) / frames, "method": method, "seconds": seconds, **s}
            rows.append(row)
            print(
                f"| {density:.2f} | {row['per_frame']:.0f} | {method} | {s['jaccard']:.3f} | {s['recall']:.3f} | "
                f"{s['rmse_px'] * PIXEL_NM:.1f} | {s['rmse_crlb']:.2f} | {s['rmse_crlb_apart']:.2f} | "
                f"{s['rmse_joint']:.2f} | {s.get('rmse_lp', math.nan):.2f} | "
                f"{seconds:.2f} |"
            )
        ratio = results["mle-multi"][0] / results["mle"][0]
        print(f"| | | mle-multi / mle time | {ratio:.2f}x | | | | | | | |")
    return rows


def sparse(frames):
    truth = isolated_spots(frames, SIZE, SIZE, spacing_px=12, photons=PHOTONS, seed=5)
    movie = render_movie(truth, frames, SIZE, SIZE, bg_photons=BG, camera=CAMERA, seed=5)
    gradient = suggested_min_net_gradient(PHOTONS, CAMERA)
    bound = isolated_bound_px()
    print("\n## Sparse movie (isolated spots, 12 px grid)\n")
    print("| method | locs | Jaccard | RMSE/CRLB | time (s) |")
    print("|---|---|---|---|---|")
    out = {}
    for method in ("mle", "mle-multi"):
        localize(movie[:1], parameters(method, gradient))
    for _ in range(2):  # interleaved: the load of a shared machine hits both alike
        for method in ("mle", "mle-multi"):
            seconds, locs = timed(lambda m=method: localize(movie, parameters(m, gradient)), repeats=1)
            if method not in out or seconds < out[method][0]:
                out[method] = (seconds, locs)
    for method, (seconds, locs) in out.items():
        s = scores(locs, truth, bound_px=bound)
        print(f"| {method} | {len(locs)} | {s['jaccard']:.4f} | {s['rmse_crlb']:.4f} | {seconds:.3f} |")
    a, b = out["mle"][1], out["mle-multi"][1]
    same = len(a) == len(b) and np.array_equal(a["x"], b["x"]) and np.array_equal(a["y"], b["y"])
    print(f"\nmle-multi / mle time: {out['mle-multi'][0] / out['mle'][0]:.2f}x; identical positions: {same}")


def speed(frames):
    """Side by side, interleaved, best of three: sparse (isolated) and 40 spots per frame."""
    gradient = suggested_min_net_gradient(PHOTONS, CAMERA)
    sparse_truth = isolated_spots(frames, SIZE, SIZE, spacing_px=12, photons=PHOTONS, seed=5)
    dense_truth = dense_emitters(frames, SIZE, SIZE, density_per_um2=40 / SPOTS_PER_UM2, margin_px=MARGIN, seed=1)
    print(f"\n## Speed ({frames} frames of 128x128, best of 3, interleaved)\n")
    print("| movie | spots | mle (s) | mle-multi (s) | ratio |")
    print("|---|---|---|---|---|")
    for name, truth in (("sparse (12 px grid)", sparse_truth), ("dense (40 per frame)", dense_truth)):
        movie = render_movie(truth, frames, SIZE, SIZE, bg_photons=BG, camera=CAMERA, seed=1)
        best = {}
        for _ in range(3):
            for method in ("mle", "mle-multi"):
                seconds, _ = timed(lambda m=method, mv=movie: localize(mv, parameters(m, gradient)), repeats=1)
                best[method] = min(best.get(method, math.inf), seconds)
        ratio = best["mle-multi"] / best["mle"]
        print(f"| {name} | {len(truth)} | {best['mle']:.3f} | {best['mle-multi']:.3f} | {ratio:.2f}x |")


def pairs(frames):
    gradient = suggested_min_net_gradient(PHOTONS, CAMERA)
    print("\n## Pairs (1500 photons each, bg 50, sigma 1 px)\n")
    print("| separation (sigma) | method | resolved | RMSE (px) | sqrt(pair CRLB) (px) | RMSE/CRLB |")
    print("|---|---|---|---|---|---|")
    for separation in (0.5, 1.0, 1.5, 2.0):
        truth = emitter_pairs(frames, separation, SIZE, SIZE, photons=PHOTONS, seed=int(10 * separation))
        movie = render_movie(truth, frames, SIZE, SIZE, bg_photons=BG, camera=CAMERA, seed=int(10 * separation))
        h = separation / 2
        crlb = emitters_crlb([-h, h], [0.0, 0.0], [PHOTONS, PHOTONS], bg=BG, sx_px=1.0)  # one round width, as fitted
        bound = math.sqrt((crlb[0, 0] + crlb[0, 1]) / 2)  # orientation-averaged
        for method in ("mle", "mle-multi"):
            locs = localize(movie, parameters(method, gradient))
            radius = max(0.25, separation / 2)
            li, ti = match_to_truth(locs, truth, radius)
            found = np.zeros(len(truth), bool)
            found[ti] = True
            resolved = np.mean(found[0::2] & found[1::2])
            both = np.repeat(found[0::2] & found[1::2], 2)
            keep = both[ti]
            dx = np.asarray(locs["x"], float)[li][keep] - truth["x"][ti][keep]
            dy = np.asarray(locs["y"], float)[li][keep] - truth["y"][ti][keep]
            rmse = math.sqrt(np.mean(dx**2 + dy**2) / 2) if keep.any() else math.nan
            print(f"| {separation:.1f} | {method} | {resolved:.3f} | {rmse:.4f} | {bound:.4f} | {rmse / bound:.2f} |")


def read_noise(frames):
    camera = CameraModel(baseline=100.0, sensitivity=1.0, em_gain=1.0, read_noise_e=1.5)
    photons, bg = 300.0, 50.0
    truth = isolated_spots(frames, SIZE, SIZE, spacing_px=12, photons=photons, seed=7)
    movie = render_movie(truth, frames, SIZE, SIZE, bg_photons=bg, camera=camera, seed=7)
    gradient = 0.6 * suggested_min_net_gradient(photons, camera)
    poisson = isolated_bound_px(0.0, photons, bg)
    aware = isolated_bound_px(1.5**2, photons, bg)
    print("\n## Read noise 1.5 e- (300 photons, bg 50)\n")
    print("| --read-noise | Jaccard | RMSE/Poisson CRLB | RMSE/aware CRLB | matched photons > 3x true | error/lp |")
    print("|---|---|---|---|---|---|")
    for value in (0.0, 1.5):
        locs = localize(
            movie, LocalizeParameters(baseline=100, sensitivity=1, min_net_gradient=gradient, read_noise_e=value)
        )
        s = scores(locs, truth)
        outliers = int(np.sum(locs["photons"][s["locs_index"]] > 3 * photons))
        print(
            f"| {value} | {s['jaccard']:.3f} | {s['rmse_px'] / poisson:.3f} | {s['rmse_px'] / aware:.3f} | "
            f"{outliers} | {s['rmse_lp']:.3f} |"
        )


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        densities = [r["density"] for r in mine]
        axes[0].plot(densities, [r["jaccard"] for r in mine], "o-", label=method)
        line = axes[1].plot(densities, [r["rmse_joint"] for r in mine], "o-", label=method)[0]
        axes[1].plot(densities, [r["rmse_crlb"] for r in mine], ":", color=line.get_color())
    for ax, label in zip(
        axes, ("Jaccard (match within 100 nm)", "RMSE / sqrt(joint CRLB) (dotted: isolated)"), strict=True
    ):
        ax.set_xscale("log")
        ax.set_xticks([0.25, 0.5, 1, 2, 4], ["0.25", "0.5", "1", "2", "4"])
        ax.minorticks_off()
        ax.set_xlabel("emitters per um^2")
        ax.set_ylabel(label)
        ax.axvline(40 / SPOTS_PER_UM2, color="grey", lw=0.5, ls="--")
        ax.legend()
    axes[0].axhline(0.95, color="grey", lw=0.5)
    axes[1].axhline(1.10, color="grey", lw=0.5)
    fig.suptitle("sigma 1 px, 1500 photons, bg 50, 128x128 px frames (dashed: 40 spots per frame)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"\nplot: {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--plot", default=None, help="PNG to draw the density sweep into")
    parser.add_argument("--only", default=None, help="one part: sweep, sparse, speed, pairs, read-noise")
    args = parser.parse_args()
    if args.only in (None, "sparse"):
        sparse(args.frames * 4)
    if args.only in (None, "speed"):
        speed(args.frames * 20)
    if args.only in (None, "pairs"):
        pairs(args.frames * 2)
    if args.only in (None, "read-noise"):
        read_noise(args.frames * 4)
    if args.only in (None, "sweep"):
        rows = density_sweep(args.frames)
        if args.plot:
            plot(rows, args.plot)


if __name__ == "__main__":
    main()
