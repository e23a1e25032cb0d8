"""Image splitter (issue 20): calibration residuals, colour assignment, precision, speed.

Simulated splitter optics (napari_picasso.simulate.SplitterOptics: shift, 0.6 deg
rotation, 0.8 % scale and a second-order distortion between the 64 x 64 px halves),
beads for the calibration, two dyes with ratios 0.25 and 0.70 (2000 photons, background
20 photons/px per channel) for the colour run.

- Calibration: fit residual (rms_residual_nm) and true map error (the map against the
  simulated optics over the field) of the affine and poly2 maps, over seeds.
- Two colours (mle-ratio, --colour A:0:0.475 B:0.475:1): Jaccard against the truth,
  colour correct and unassigned among matched molecules, RMSE of x and y against the
  joint CRLB at the true parameters (the 8-parameter model fitted), ratio mean/sd.
- Sequential registration: channel-1 localizations of dye B mapped into channel 0
  (register), error per molecule averaged over its frames.
- Speed: mle-ratio (both halves) vs mle (channel 0 alone) on the same movie, one process.

    PYTHONPATH=src python benchmarks/bench_splitter.py [--frames 1000] [--seeds 3]
"""

import argparse
import time

import numpy as np

from napari_picasso import simulate as S
from napari_picasso.calibrate.channels import calibrate_frames
from napari_picasso.core.channelfit import crlb_two_channels
from napari_picasso.core.channelmap import apply_map, invert_map, map_jacobian
from napari_picasso.core.matching import match_to_truth
from napari_picasso.io.channels import map_coefficients
from napari_picasso.parameters import LocalizeParameters
from napari_picasso.pipeline import localize
from napari_picasso.splitter import channel0_positions

PIXELSIZE_NM = 130.0
BEADS = LocalizeParameters(min_net_gradient=5000, pixelsize_nm=PIXELSIZE_NM)


def true_map_error_nm(calibration, optics):
    y0, x0 = np.mgrid[6 : optics.height - 6 : 2, 6 : optics.width - 6 : 2].astype(float)
    x1, y1 = optics.to_channel1(x0.ravel(), y0.ravel())
    X, Y = apply_map(*map_coefficients(calibration), x1, y1)
    return float(np.sqrt(np.mean((X - x0.ravel()) ** 2 + (Y - y0.ravel()) ** 2)) * PIXELSIZE_NM)


def calibration_table(optics, seeds):
    print("calibration (20 bead frames, 60000 photons per bead):")
    print(f"{'seed':>5} {'model':>7} {'beads':>6} {'fit rms nm':>11} {'true rms nm':>12}")
    rows = {}
    for seed in range(seeds):
        beads = S.splitter_movie(S.splitter_beads_truth(20, optics, seed=seed), 20, optics, seed=seed)
        for model in ("affine", "poly2"):
            calibration, _ = calibrate_frames(beads, BEADS, splitter="left-right", model=model)
            true = true_map_error_nm(calibration, optics)
            rows.setdefault(model, []).append((calibration["rms_residual_nm"], true))
            print(
                f"{seed:>5} {model:>7} {calibration['n_beads']:>6} {calibration['rms_residual_nm']:>11.2f} {true:>12.2f}"
            )
            if model == "poly2":
                poly2 = calibration
    for model, values in rows.items():
        fit, true = np.mean(values, axis=0)
        print(f"  mean {model:>7}: fit rms {fit:.2f} nm, true rms {true:.2f} nm")
    return poly2


def truth_crlb(truth, locs, calibration, optics, box):
    """Joint CRLB (px^2) of x and y at the true parameters, boxes where the pipeline cut them."""
    xi, yi = np.rint(locs["x"] - 0.0), np.rint(locs["y"])  # the candidate pixel is the nearest one
    cx, cy = map_coefficients(calibration)
    u, v = invert_map(cx, cy, xi, yi)
    offsets = np.column_stack([u - np.rint(u), v - np.rint(v)])
    jacobians = np.linalg.inv(map_jacobian(cx, cy, u, v))
    theta = np.column_stack(
        [
            truth["x"] - xi,
            truth["y"] - yi,
            truth["photons_0"],
            truth["photons_1"],
            np.full(len(truth), 20.0),
            np.full(len(truth), 20.0),
            truth["sx"],
            truth["sx"] * optics.sigma_ratio,
        ]
    )
    # The simulated camera's read noise counts in the bound, as it does in the fit.
    crlb = crlb_two_channels(theta, offsets, jacobians, box, read_variance=S.CameraModel().read_noise_e ** 2)
    return crlb[:, 0], crlb[:, 1]


def colour_table(optics, calibration, frames, seed=7):
    truth = S.splitter_truth(frames, optics, n_sites=30, seed=seed)
    movie = S.splitter_movie(truth, frames, optics, seed=seed)
    parameters = LocalizeParameters(
        read_noise_e=S.CameraModel().read_noise_e,
        min_net_gradient=1500,
        pixelsize_nm=PIXELSIZE_NM,
        fit_method="mle-ratio",
        splitter="left-right",
        channels=calibration,
        colours="A:0:0.475 B:0.475:1",
    )
    localize(movie[:10], parameters)  # compile
    start = time.perf_counter()
    locs = localize(movie, parameters)
    ratio_s = time.perf_counter() - start
    plain = LocalizeParameters(min_net_gradient=1500, pixelsize_nm=PIXELSIZE_NM)
    channel0 = np.ascontiguousarray(movie[:, :, : optics.width])
    localize(channel0[:10], plain)
    start = time.perf_counter()
    localize(channel0, plain)
    mle_s = time.perf_counter() - start
    li, ti = match_to_truth(locs, truth, 1.0)
    matched, true = locs[li], truth[ti]
    jaccard = len(li) / (len(locs) + len(truth) - len(li))
    crlb_x, crlb_y = truth_crlb(true, matched, calibration, optics, parameters.box)
    print(f"\ntwo colours ({frames} frames, {len(truth)} molecules in the truth, mle-ratio):")
    print(f"  Jaccard {jaccard:.4f} ({len(li)} matched, {len(locs) - len(li)} extra, {len(truth) - len(li)} missed)")
    print(
        f"  colour correct {np.mean(matched['colour'] == true['dye']):.4f}, unassigned {np.mean(matched['colour'] == -1):.4f}"
    )
    for axis, crlb, lp in (("x", crlb_x, "lpx"), ("y", crlb_y, "lpy")):
        rmse = np.sqrt(np.mean((matched[axis] - true[axis]) ** 2))
        bound = np.sqrt(np.mean(crlb))
        print(
            f"  {axis}: RMSE {rmse * PIXELSIZE_NM:.2f} nm, joint CRLB at truth {bound * PIXELSIZE_NM:.2f} nm, "
            f"ratio {rmse / bound:.3f} (reported {lp} rms {np.sqrt(np.mean(matched[lp] ** 2)) * PIXELSIZE_NM:.2f} nm)"
        )
    for dye, expected in enumerate(S.DYE_RATIOS):
        r = matched["ratio"][true["dye"] == dye]
        print(f"  dye {dye}: ratio {r.mean():.4f} +- {r.std():.4f} (true {expected})")
    print(
        f"  speed: mle-ratio {frames / ratio_s:,.0f} frames/s, mle on channel 0 {frames / mle_s:,.0f} frames/s "
        f"(ratio {mle_s / ratio_s:.2f})"
    )


def registration_table(optics, calibration, seed=11):
    truth = S.splitter_beads_truth(20, optics, photons=4000.0, spacing_px=12, seed=seed)
    channel1 = S.splitter_movie(truth, 20, optics, seed=seed)[:, :, optics.width :]
    locs = localize(np.ascontiguousarray(channel1), LocalizeParameters(min_net_gradient=1500))
    x, y = channel0_positions(calibration, locs["x"].astype(float), locs["y"].astype(float))
    locs["x"], locs["y"] = x, y
    li, ti = match_to_truth(locs, truth, 1.0)
    error = np.column_stack([locs["x"][li] - truth["x"][ti], locs["y"][li] - truth["y"][ti]])
    sites = truth["site"][ti]
    per_site = np.array([error[sites == s].mean(axis=0) for s in np.unique(sites)])
    rms = np.sqrt(np.mean(np.sum(per_site**2, axis=1))) * PIXELSIZE_NM
    print(f"\nsequential registration: {len(per_site)} molecules, rms error per molecule {rms:.2f} nm")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    optics = S.SplitterOptics()
    calibration = calibration_table(optics, args.seeds)
    colour_table(optics, calibration, args.frames)
    registration_table(optics, calibration)


if __name__ == "__main__":
    main()
