"""Drift by adaptive intersection maximization (AIM; Ma et al., Science Advances 2024).

Localizations are binned on a fine grid (``bin_px``; Picasso's "intersection distance",
20 nm by default). For each time segment the overlap with a reference is counted for
shifts of the segment within a search radius: the number of (segment, reference)
localization pairs that fall into the same bin, a bin weighing at most the 99.9th
percentile of the occupied bins' counts (fiducials pile thousands into one bin).

Round 1 aligns each segment to the first one, starting from the previous segment's
drift (the adaptive part: the search radius only has to cover the drift between
consecutive segments; at most ``ROUND1_LOCS`` localizations of a segment are used, the
rounds after it refine). Leave-one-out rounds then align each segment to all the others,
corrected by the previous round: the segment's own localizations are taken out of the
reference while it is aligned (a reference that contains the segment itself pulls every
shift towards zero); its misalignment to the others is weighted by one minus its share of
the localizations, the least-squares correction. A cubic smoothing spline through the segment drifts at their
localizations' mean frames gives the drift of every frame, as for RCC.

Sub-bin peak: one pass over a segment records, for each localization's position inside
its bin (quantized to ``1 / SUB_BINS`` bin), the reference counts of the neighbouring
bins. From these the overlap is known exactly on a lattice of shifts ``1 / SUB_BINS``
bin apart, and the shift is taken where the three-point Gaussian peak offset of the
overlap crosses zero (the counts either side of the peak balance): an estimator that is
exact at zero offset is unbiased whatever the shape of the peak, and one pass per
segment and round suffices.

The leave-one-out rounds visit the reference stripe by stripe (``STRIPE_BYTES`` of
bins), all segments' localizations of a stripe together, so that the part of the grid in
use stays in the processor's cache; within a segment the localizations are ordered by
stripe (their order inside a segment does not matter to AIM).

3D: z drift is found the same way after x and y: bins of ``bin_z_nm`` along z within
each x, y bin, shifts along z only.

Memory: the reference is a dense grid of counts over the frame (4 bytes per bin: a
256 px frame of 130 nm pixels at 20 nm bins is 12 MB; for z an offset per bin, 8 bytes,
and the occupied z bins), and 12 (2D) or 20 (3D) bytes per localization for its columns.
"""

import math

import numba
import numpy as np
from numba import prange

from . import _parallel  # noqa: F401
from .drift import DriftResult, segment_bounds, segment_rows, smooth_segments

MIN_LOCS_PER_SEGMENT = 50
"""Fewer localizations in a segment than this: AIM refuses (use a longer segment)."""
SUB_BINS = 16
"""Sub-bin lattice of the peak search: positions inside a bin quantized to 1/16 bin."""
ROUND1_LOCS = 4000
"""Localizations per segment used in round 1 (every k-th; the later rounds use all)."""
ROUND1_BIN_FACTOR = 2
"""Round 1 bins are this many times ``bin_px``."""
STRIPE_BYTES = 1 << 18
"""Grid bytes per stripe of the leave-one-out sweep (fits a core's L2 cache)."""
MAX_RECENTRES = 6
CAP_PERCENTILE = 99.9
"""A bin weighs at most the count of this percentile of the occupied bins (see _count_cap)."""


# --- x, y: the reference grid ---------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _cell_xy(x, y, x0, y0, inv_bin):
    return int(math.floor((x - x0) * inv_bin + 0.5)), int(math.floor((y - y0) * inv_bin + 0.5))


@numba.njit(cache=True, nogil=True)
def _add_rows(grid, nx, ny, x, y, frame, drift_x, drift_y, lo, hi, x0, y0, inv_bin, sign):
    for i in range(lo, hi):
        f = frame[i]
        ix, iy = _cell_xy(x[i] - drift_x[f], y[i] - drift_y[f], x0, y0, inv_bin)
        if 0 <= ix < nx and 0 <= iy < ny:
            grid[iy * nx + ix] += sign


@numba.njit(cache=True, nogil=True)
def _coarse_xy(grid, nx, ny, x, y, frame, drift_x, drift_y, lo, hi, step, shift_x, shift_y, x0, y0, inv_bin, half, cap):
    # box[b, a]: the overlap of rows lo:hi:step moved by (a - half, b - half) bins
    side = 2 * half + 1
    box = np.zeros((side, side))
    for i in range(lo, hi, step):
        f = frame[i]
        ix, iy = _cell_xy(x[i] - drift_x[f] - shift_x, y[i] - drift_y[f] - shift_y, x0, y0, inv_bin)
        if ix < half or iy < half or ix + half >= nx or iy + half >= ny:
            continue
        for b in range(side):
            row = (iy - half + b) * nx + ix - half
            for a in range(side):
                box[b, a] += min(grid[row + a], cap)
    return box


@numba.njit(cache=True, nogil=True)
def _fine_xy(grid, nx, ny, x, y, frame, drift_x, drift_y, lo, hi, shift_x, shift_y, x0, y0, inv_bin, cap, acc):
    # acc[0, kx, a + 2] += reference counts in column offset a (rows -1..1) of the rows
    # whose position inside its bin lies in sub-bin kx along x; acc[1, ky, b + 2] the same
    # along y. Within +-1/2 bin of the balance a localization in the lower half of its
    # bin reaches offsets -2..1, in the upper half -1..2: 4 x 4 bins are read.
    half_sub = SUB_BINS // 2
    for i in range(lo, hi):
        f = frame[i]
        ux = (x[i] - drift_x[f] - shift_x - x0) * inv_bin
        uy = (y[i] - drift_y[f] - shift_y - y0) * inv_bin
        ix = int(math.floor(ux + 0.5))
        iy = int(math.floor(uy + 0.5))
        if ix < 2 or iy < 2 or ix + 2 >= nx or iy + 2 >= ny:
            continue
        kx = min(SUB_BINS - 1, int((ux - ix + 0.5) * SUB_BINS))
        ky = min(SUB_BINS - 1, int((uy - iy + 0.5) * SUB_BINS))
        low_x = kx < half_sub
        first_b = -2 if ky < half_sub else -1
        left = ix - 2 if low_x else ix - 1
        c0 = c1 = c2 = c3 = 0.0
        for j in range(4):
            b = first_b + j
            base = (iy + b) * nx + left
            v0 = float(min(grid[base], cap))
            v1 = float(min(grid[base + 1], cap))
            v2 = float(min(grid[base + 2], cap))
            v3 = float(min(grid[base + 3], cap))
            acc[1, ky, b + 2] += (v1 + v2 + v3) if low_x else (v0 + v1 + v2)
            if -1 <= b <= 1:
                c0 += v0
                c1 += v1
                c2 += v2
                c3 += v3
        first = 0 if low_x else 1
        acc[0, kx, first] += c0
        acc[0, kx, first + 1] += c1
        acc[0, kx, first + 2] += c2
        acc[0, kx, first + 3] += c3


@numba.njit(cache=True, nogil=True)
def _bin_row(y, drift, y0, inv_bin):
    return int(math.floor((y - drift - y0) * inv_bin + 0.5))


@numba.njit(cache=True, nogil=True)
def _first_at_row(y, frame, drift_y, lo, hi, y0, inv_bin, row):
    # first of rows lo:hi (ordered by bin row) whose bin row is >= row
    while lo < hi:
        mid = (lo + hi) // 2
        if _bin_row(y[mid], drift_y[frame[mid]], y0, inv_bin) < row:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(parallel=True, cache=True, nogil=True)
def _add_groups(grid, nx, ny, x, y, frame, drift_x, drift_y, groups, x0, y0, inv_bin, sign):
    # all rows, stripe by stripe (even stripes in parallel, then odd: never the same bins)
    n_segments, n_stripes = groups.shape[0], groups.shape[1] - 1
    for parity in range(2):
        for half_k in prange((n_stripes + 1 - parity) // 2):
            k = 2 * half_k + parity
            for s in range(n_segments):
                _add_rows(
                    grid, nx, ny, x, y, frame, drift_x, drift_y, groups[s, k], groups[s, k + 1], x0, y0, inv_bin, sign
                )


@numba.njit(parallel=True, cache=True, nogil=True)
def _sweep_xy(grid, nx, ny, x, y, frame, drift_x, drift_y, groups, stripe_bins, x0, y0, inv_bin, cap, n_threads):
    # Leave-one-out sub-bin counts of every segment at zero extra shift, stripe by
    # stripe. The segment's own rows within 2 bin rows of the stripe (all that the
    # evaluated rows read) are taken out of the reference and put back. Stripes of one
    # parity touch disjoint bins (stripes are wider than 4 bin rows): they run in parallel.
    n_segments, n_stripes = groups.shape[0], groups.shape[1] - 1
    fine = np.zeros((n_threads, n_segments, 2, SUB_BINS, 5))
    for parity in range(2):
        for half_k in prange((n_stripes + 1 - parity) // 2):
            k = 2 * half_k + parity
            acc = fine[numba.get_thread_id()]
            for s in range(n_segments):
                lo, hi = groups[s, k], groups[s, k + 1]
                if hi == lo:
                    continue
                before = groups[s, max(k - 1, 0)]
                after = groups[s, min(k + 2, n_stripes)]
                own_lo = _first_at_row(y, frame, drift_y, before, lo, y0, inv_bin, k * stripe_bins - 2)
                own_hi = _first_at_row(y, frame, drift_y, hi, after, y0, inv_bin, (k + 1) * stripe_bins + 2)
                _add_rows(grid, nx, ny, x, y, frame, drift_x, drift_y, own_lo, own_hi, x0, y0, inv_bin, -1)
                _fine_xy(grid, nx, ny, x, y, frame, drift_x, drift_y, lo, hi, 0.0, 0.0, x0, y0, inv_bin, cap, acc[s])
                _add_rows(grid, nx, ny, x, y, frame, drift_x, drift_y, own_lo, own_hi, x0, y0, inv_bin, 1)
    return fine.sum(axis=0)


# --- z: occupied z bins of every x, y bin ----------------------------------------------
@numba.njit(cache=True, nogil=True)
def _xy_cells(nx, ny, x, y, frame, drift_x, drift_y, x0, y0, inv_bin):
    cells = np.empty(len(x), dtype=np.int32)
    for i in range(len(x)):
        f = frame[i]
        ix, iy = _cell_xy(x[i] - drift_x[f], y[i] - drift_y[f], x0, y0, inv_bin)
        cells[i] = iy * nx + ix if (0 <= ix < nx and 0 <= iy < ny) else -1
    return cells


@numba.njit(cache=True, nogil=True)
def _z_bin(z, z0, inv_bin_z):
    return int(math.floor((z - z0) * inv_bin_z + 0.5))


@numba.njit(cache=True, nogil=True)
def _z_lists(n_cells, cells, z, frame, drift_z, lo, hi, z0, inv_bin_z):
    # offsets[c]..offsets[c + 1]: the z bins (sorted, distinct) of x, y bin c and their counts
    counts = np.zeros(n_cells + 1, dtype=np.int64)
    for i in range(lo, hi):
        if cells[i] >= 0:
            counts[cells[i] + 1] += 1
    offsets = np.cumsum(counts)
    fill = offsets[:-1].copy()
    bins = np.empty(offsets[-1], dtype=np.int32)
    for i in range(lo, hi):
        c = cells[i]
        if c >= 0:
            bins[fill[c]] = _z_bin(z[i] - drift_z[frame[i]], z0, inv_bin_z)
            fill[c] += 1
    out_bins = np.empty_like(bins)
    out_counts = np.zeros(len(bins), dtype=np.int32)
    out_offsets = np.zeros(n_cells + 1, dtype=np.int64)
    m = 0
    for c in range(n_cells):
        first, last = offsets[c], offsets[c + 1]
        for j in range(first + 1, last):  # short lists: insertion sort
            v = bins[j]
            k = j - 1
            while k >= first and bins[k] > v:
                bins[k + 1] = bins[k]
                k -= 1
            bins[k + 1] = v
        for j in range(first, last):
            if j > first and bins[j] == bins[j - 1]:
                out_counts[m - 1] += 1
            else:
                out_bins[m] = bins[j]
                out_counts[m] = 1
                m += 1
        out_offsets[c + 1] = m
    return out_offsets, out_bins[:m].copy(), out_counts[:m].copy()


@numba.njit(cache=True, nogil=True)
def _change_z(offsets, bins, counts, cells, z, frame, drift_z, lo, hi, z0, inv_bin_z, sign):
    for i in range(lo, hi):
        c = cells[i]
        if c < 0:
            continue
        b = _z_bin(z[i] - drift_z[frame[i]], z0, inv_bin_z)
        for e in range(offsets[c], offsets[c + 1]):
            if bins[e] == b:
                counts[e] += sign
                break


@numba.njit(cache=True, nogil=True)
def _counts_z(offsets, bins, counts, cells, z, frame, drift_z, lo, hi, step, shift_z, z0, inv_bin_z, half, cap, acc):
    # acc[k, d] += reference counts at z bin offset d - half of rows lo:hi:step whose
    # position inside its z bin lies in sub-bin k (summed over k: the overlap box)
    side = 2 * half + 1
    for i in range(lo, hi, step):
        c = cells[i]
        if c < 0:
            continue
        u = (z[i] - drift_z[frame[i]] - shift_z - z0) * inv_bin_z
        b = int(math.floor(u + 0.5))
        k = min(SUB_BINS - 1, int((u - b + 0.5) * SUB_BINS))
        for e in range(offsets[c], offsets[c + 1]):
            d = bins[e] - b + half
            if 0 <= d < side:
                acc[k, d] += min(counts[e], cap)


@numba.njit(cache=True, nogil=True)
def _sweep_z(offsets, bins, counts, cells, z, frame, drift_z, groups, z0, inv_bin_z, cap, fine):
    # :func:`_sweep_xy` along z: own rows of the segment in the same x, y bin are taken out
    n_segments, n_stripes = groups.shape[0], groups.shape[1] - 1
    for k in range(n_stripes):
        for s in range(n_segments):
            lo, hi = groups[s, k], groups[s, k + 1]
            if hi == lo:
                continue
            _change_z(offsets, bins, counts, cells, z, frame, drift_z, lo, hi, z0, inv_bin_z, -1)
            _counts_z(
                offsets, bins, counts, cells, z, frame, drift_z, lo, hi, 1, 0.0, z0, inv_bin_z, 2, cap, fine[s, 0]
            )
            _change_z(offsets, bins, counts, cells, z, frame, drift_z, lo, hi, z0, inv_bin_z, 1)


# --- row order --------------------------------------------------------------------------
@numba.njit(parallel=True, cache=True, nogil=True)
def _row_order(y, frame, drift_y, rows, y0, inv_bin, ny, stripe_bins, n_stripes):
    # Rows of each segment by bin row of their corrected y (stable counting sort);
    # groups[s, k]: first row of stripe k in segment s (groups[s, n_stripes]: its end)
    n_segments = len(rows) - 1
    order = np.empty(len(y), dtype=np.int64)
    groups = np.empty((n_segments, n_stripes + 1), dtype=np.int64)
    for s in prange(n_segments):
        lo, hi = rows[s], rows[s + 1]
        counts = np.zeros(ny + 1, dtype=np.int64)
        for i in range(lo, hi):
            counts[min(max(_bin_row(y[i], drift_y[frame[i]], y0, inv_bin), 0), ny - 1) + 1] += 1
        fill = np.cumsum(counts) + lo
        for k in range(n_stripes + 1):
            groups[s, k] = fill[min(k * stripe_bins, ny)]
        for i in range(lo, hi):
            key = min(max(_bin_row(y[i], drift_y[frame[i]], y0, inv_bin), 0), ny - 1)
            order[fill[key]] = i
            fill[key] += 1
    return order, groups


@numba.njit(parallel=True, cache=True, nogil=True)
def _gather(column, order):
    out = np.empty_like(column)
    for i in prange(len(order)):
        out[i] = column[order[i]]
    return out


# --- peak -------------------------------------------------------------------------------
def _gaussian_offsets(left, middle, right):
    """Sub-bin offsets of peaks from three samples (Gaussian; parabola where a sample is
    zero), bins, positive towards ``right``; arrays of equal shape."""
    left, middle, right = (np.asarray(v, dtype=np.float64) for v in (left, middle, right))
    with np.errstate(divide="ignore", invalid="ignore"):
        ll, lm, lr = np.log(left), np.log(middle), np.log(right)
        gauss = 0.5 * (ll - lr) / (ll - 2 * lm + lr)
        parabola = 0.5 * (left - right) / (left - 2 * middle + right)
        usable = (left > 0) & (middle > 0) & (right > 0) & (ll - 2 * lm + lr < 0)
    out = np.where(usable, gauss, parabola)
    return np.where(np.isfinite(out), out, 0.0)


_LATTICE = np.arange(-SUB_BINS // 2, SUB_BINS // 2 + 1)
# bin a localization of sub-bin k moves into when shifted by lattice step j (offset + 2)
_MOVED = (np.arange(SUB_BINS)[None, :] + _LATTICE[:, None]) // SUB_BINS + 2


def _balance(fine):
    """Sub-bin shift of each axis from ``fine[axis, k, d]`` (reference counts at bin offset
    ``d - 2`` of the localizations at sub-bin ``k``).

    On the lattice of ``1 / SUB_BINS`` bin within +-1/2 bin the overlap at offsets -1, 0, 1
    is known exactly; the shift is where their three-point Gaussian peak offset crosses
    zero (linear interpolation between lattice points).

    Returns
    -------
    step : numpy.ndarray
        Per axis, bins: the crossing, or +-1 towards a peak beyond +-1/2 bin.
    inside : bool
        Whether every crossing lay within +-1/2 bin.
    """
    k = np.arange(SUB_BINS)[None, :]
    steps = _LATTICE / SUB_BINS
    out = np.empty(len(fine))
    inside = True
    for axis, counts in enumerate(fine):
        offsets = _gaussian_offsets(*(counts[k, _MOVED + e].sum(axis=1) for e in (-1, 0, 1)))
        positive = offsets > 0
        i = int(np.argmin(positive)) - 1  # last positive before the first non-positive
        if positive.all() or not positive.any() or i < 0:
            out[axis] = 1.0 if positive.all() else -1.0
            inside = False
            continue
        v0, v1 = offsets[i], offsets[i + 1]
        out[axis] = steps[i] + (steps[i + 1] - steps[i]) * v0 / (v0 - v1)
    return out, inside


def _box_peak(box, half):
    """Bin offset of a box's maximum plus the three-point Gaussian refinement, per axis
    (x first), bins; None for an empty box."""
    if not box.any():
        return None
    index = np.unravel_index(int(np.argmax(box)), box.shape)
    out = []
    for axis in reversed(range(box.ndim)):
        marginal = box.sum(axis=tuple(a for a in range(box.ndim) if a != axis))
        i = index[axis]
        refine = 0.0
        if 0 < i < len(marginal) - 1:
            refine = float(_gaussian_offsets(marginal[i - 1], marginal[i], marginal[i + 1]))
        out.append(i - half + refine)
    return np.array(out)


# --- columns ------------------------------------------------------------------------------
class _Columns:
    """Frame-sorted frame, x, y (z) columns and the segments' row ranges; ``regroup``
    reorders the rows inside each segment by bin row."""

    def __init__(self, frame, x, y, z, n_frames, bounds):
        frame = np.asarray(frame)
        self.n_frames = int(n_frames)
        self.bounds = bounds
        self.rows = segment_rows(frame, bounds)
        self.n_segments = len(bounds) - 1
        # frames < 2**31: uint32 (the file's type) read as int32 without a copy
        self.frame = frame.view(np.int32) if frame.dtype == np.uint32 else np.ascontiguousarray(frame, dtype=np.int32)
        self.x = np.ascontiguousarray(x, dtype=np.float32)
        self.y = np.ascontiguousarray(y, dtype=np.float32)
        self.z = None if z is None else np.ascontiguousarray(z, dtype=np.float32)
        # localizations per frame: segment means of per-frame values without a pass over rows
        self.frame_counts = np.bincount(self.frame, minlength=self.n_frames).astype(np.float64)
        self.knots = self.mean_drift(np.arange(self.n_frames, dtype=np.float64))
        # A segment's misalignment to all the others, e_s - (mean error of the others), times
        # (1 - w_s) (w_s: its share of the rows) is its error from the weighted mean of all:
        # the least-squares correction. The rounds then converge at once (with the
        # misalignment itself two segments would swap their errors forever).
        self.loo_weight = 1.0 - np.diff(self.rows) / max(len(self.frame), 1)
        self.groups = None

    def segment(self, s):
        return int(self.rows[s]), int(self.rows[s + 1])

    def regroup(self, grid, drift_y):
        """Order each segment's rows by bin row of their corrected y; sets ``groups``, the
        first row of each stripe in each segment."""
        order, self.groups = _row_order(
            self.y, self.frame, drift_y, self.rows, grid.y0, grid.inv_bin, grid.ny, grid.stripe_bins, grid.n_stripes
        )
        for name in ("frame", "x", "y", "z"):
            column = getattr(self, name)
            if column is not None:
                setattr(self, name, _gather(column, order))

    def mean_drift(self, drift):
        """Mean of a per-frame value over every segment's localizations."""
        weighted = np.add.reduceat(self.frame_counts * drift, self.bounds[:-1])
        return weighted / np.maximum(np.add.reduceat(self.frame_counts, self.bounds[:-1]), 1.0)


class _Grid:
    """The x, y binning: ``bin_px`` bins over the frame plus ``pad_px``, cut into stripes."""

    def __init__(self, width, height, bin_px, pad_px):
        self.width, self.height, self.pad_px = width, height, pad_px
        self.bin_px = float(bin_px)
        self.inv_bin = 1.0 / bin_px
        self.x0 = self.y0 = -float(pad_px)
        self.nx = int(math.ceil((width + 2 * pad_px) * self.inv_bin)) + 1
        self.ny = int(math.ceil((height + 2 * pad_px) * self.inv_bin)) + 1
        self.stripe_bins = max(8, STRIPE_BYTES // (4 * self.nx))
        self.n_stripes = -(-self.ny // self.stripe_bins)

    def args(self, counts, cols, drift_x, drift_y):
        return counts, self.nx, self.ny, cols.x, cols.y, cols.frame, drift_x, drift_y


def _count_cap(counts):
    """Largest reference count a bin weighs with: the ``CAP_PERCENTILE`` of the occupied
    bins' counts. Fiducials (in every frame, 1 nm precise) pile tens of thousands of
    localizations into a bin or two; uncapped, a few of them would outweigh every site."""
    occupied = counts[counts > 0]
    return max(1, int(np.percentile(occupied, CAP_PERCENTILE))) if len(occupied) else 1


def _check_segments(cols, min_locs):
    if cols.n_segments < 2:
        raise ValueError(f"{cols.n_frames} frames make 1 segment; drift needs at least 2 (use a smaller segment)")
    sizes = np.diff(cols.rows)
    thin = np.flatnonzero(sizes < min_locs)
    if len(thin):
        s = int(thin[0])
        raise ValueError(
            f"too few localizations per segment: segment {s} (frames {cols.bounds[s]}-{cols.bounds[s + 1] - 1}) "
            f"has {int(sizes[s])}, AIM needs at least {min_locs} (use a longer segment)"
        )


MAX_ROUND1_MISSES = 0.5
"""Round 1 fails when more than this fraction of the segments overlap the first nowhere."""


def _check_round1(cols, misses, what):
    # A segment without any overlap with the first keeps the previous segment's drift
    # (the leave-one-out rounds, against everything, correct it); most of them: too sparse.
    if misses and len(misses) > MAX_ROUND1_MISSES * (cols.n_segments - 1):
        s = misses[0]
        raise ValueError(
            f"{len(misses)} of {cols.n_segments - 1} segments (the first: {s}, frames {cols.bounds[s]}-"
            f"{cols.bounds[s + 1] - 1}) overlap the first segment{what} nowhere within the search radius: too few "
            "localizations per segment (use a longer segment) or drift beyond the search radius"
        )


def _round1_xy(cols, fine_grid, max_shift_px):
    """Each segment against the first, from the previous segment's drift, on bins twice
    the size (a quarter of the memory to visit; the leave-one-out rounds refine)."""
    grid = _Grid(fine_grid.width, fine_grid.height, ROUND1_BIN_FACTOR * fine_grid.bin_px, fine_grid.pad_px)
    search = max(2, int(math.ceil(max_shift_px / grid.bin_px)))
    counts = np.zeros(grid.nx * grid.ny, dtype=np.int32)
    zeros = np.zeros(cols.n_frames)
    args = grid.args(counts, cols, zeros, zeros)
    _add_rows(*args, *cols.segment(0), grid.x0, grid.y0, grid.inv_bin, 1)
    cap = _count_cap(counts)
    segment_drift = np.zeros((cols.n_segments, 2))
    misses = []
    for s in range(1, cols.n_segments):
        lo, hi = cols.segment(s)
        step = max(1, (hi - lo) // ROUND1_LOCS)
        shift = segment_drift[s - 1].copy()
        for _ in range(MAX_RECENTRES):
            box = _coarse_xy(*args, lo, hi, step, shift[0], shift[1], grid.x0, grid.y0, grid.inv_bin, search, cap)
            peak = _box_peak(box, search)
            if peak is None:
                misses.append(s)
                break
            shift -= peak * grid.bin_px
            if np.all(np.abs(peak) <= search - 1):
                break
        segment_drift[s] = shift
    _check_round1(cols, misses, "")
    return segment_drift


def _recentred_xy(counts, cap, grid, cols, drift_x, drift_y, s, step):
    """Leave-one-out sub-bin counts of segment ``s`` at ``step`` bins (x, y) beyond the
    last round's drift, for a segment whose balance lay beyond +-1/2 bin."""
    lo, hi = cols.segment(s)
    args = grid.args(counts, cols, drift_x, drift_y)
    geometry = (grid.x0, grid.y0, grid.inv_bin)
    shift = -np.asarray(step) * grid.bin_px
    for _ in range(MAX_RECENTRES):
        fine = np.zeros((2, SUB_BINS, 5))
        _add_rows(*args, lo, hi, *geometry, -1)
        _fine_xy(*args, lo, hi, shift[0], shift[1], *geometry, cap, fine)
        _add_rows(*args, lo, hi, *geometry, 1)
        if not fine.any():
            return np.zeros(2)
        move, inside = _balance(fine)
        shift -= move * grid.bin_px
        if inside:
            break
    return shift


def leave_one_out_counts(args, cols, grid, cap):
    """:func:`_sweep_xy` of every segment (``args``: :meth:`_Grid.args` of the full grid).

    One accumulator per pool thread: ``numba.get_thread_id()`` ranges over the whole pool
    (``NUMBA_NUM_THREADS``), whatever ``set_num_threads`` lent to this call.
    """
    n_threads = numba.config.NUMBA_NUM_THREADS
    return _sweep_xy(*args, cols.groups, grid.stripe_bins, grid.x0, grid.y0, grid.inv_bin, cap, n_threads)


def _loo_xy(cols, grid, per_frame):
    """One leave-one-out round of x, y: the segments' drifts (n_segments, 2), px."""
    drift_x, drift_y = np.ascontiguousarray(per_frame[:, 0]), np.ascontiguousarray(per_frame[:, 1])
    cols.regroup(grid, drift_y)
    counts = np.zeros(grid.nx * grid.ny, dtype=np.int32)
    args = grid.args(counts, cols, drift_x, drift_y)
    _add_groups(*args, cols.groups, grid.x0, grid.y0, grid.inv_bin, 1)
    cap = _count_cap(counts)
    fine = leave_one_out_counts(args, cols, grid, cap)
    shifts = np.zeros((cols.n_segments, 2))
    for s in range(cols.n_segments):
        if not fine[s].any():
            continue
        step, inside = _balance(fine[s])
        shifts[s] = -step * grid.bin_px if inside else _recentred_xy(counts, cap, grid, cols, drift_x, drift_y, s, step)
    return np.column_stack([cols.mean_drift(drift_x), cols.mean_drift(drift_y)]) + shifts * cols.loo_weight[:, None]


def _xy_drift(cols, grid, max_shift_px, rounds, spline_smoothing, initial):
    if initial is None:
        cols.regroup(grid, np.zeros(cols.n_frames))
        segment_drift = _round1_xy(cols, grid, max_shift_px)
        per_frame, smoothing = smooth_segments(cols.knots, segment_drift, cols.n_frames, spline_smoothing)
    else:
        per_frame = np.array(initial, dtype=np.float64)
    change = math.nan
    smoothing = ()
    for _ in range(rounds):
        segment_drift = _loo_xy(cols, grid, per_frame)
        new, smoothing = smooth_segments(cols.knots, segment_drift, cols.n_frames, spline_smoothing)
        difference = (new - new[0]) - (per_frame - per_frame[0])
        change = float(np.sqrt(np.mean(difference**2)))
        per_frame = new
    return per_frame, segment_drift, change, smoothing


class _ZReference:
    """z bins of the x, y bins: lists built from rows ``lo:hi`` with a per-frame z drift."""

    def __init__(self, cols, cells, n_cells, drift_z, lo, hi, z0, bin_z_nm):
        self.cols, self.cells, self.z0, self.bin = cols, cells, z0, float(bin_z_nm)
        self.inv_bin = 1.0 / bin_z_nm
        self.lists = _z_lists(n_cells, cells, cols.z, cols.frame, drift_z, lo, hi, z0, self.inv_bin)
        self.cap = _count_cap(self.lists[2])

    def args(self, drift_z):
        return (*self.lists, self.cells, self.cols.z, self.cols.frame, drift_z)


def _round1_z(cols, cells, n_cells, z0, bin_z_nm, search):
    zeros = np.zeros(cols.n_frames)
    reference = _ZReference(cols, cells, n_cells, zeros, *cols.segment(0), z0, bin_z_nm)
    segment_drift = np.zeros(cols.n_segments)
    misses = []
    for s in range(1, cols.n_segments):
        lo, hi = cols.segment(s)
        step = max(1, (hi - lo) // ROUND1_LOCS)
        shift = segment_drift[s - 1]
        for _ in range(MAX_RECENTRES):
            acc = np.zeros((SUB_BINS, 2 * search + 1))
            _counts_z(*reference.args(zeros), lo, hi, step, shift, z0, reference.inv_bin, search, reference.cap, acc)
            peak = _box_peak(acc.sum(axis=0), search)
            if peak is None:
                misses.append(s)
                break
            shift -= peak[0] * bin_z_nm
            if abs(peak[0]) <= search - 1:
                break
        segment_drift[s] = shift
    _check_round1(cols, misses, " in z")
    return segment_drift


def _loo_z(cols, cells, n_cells, z0, bin_z_nm, per_frame):
    drift_z = np.ascontiguousarray(per_frame)
    reference = _ZReference(cols, cells, n_cells, drift_z, 0, len(cells), z0, bin_z_nm)
    fine = np.zeros((cols.n_segments, 1, SUB_BINS, 5))
    _sweep_z(*reference.args(drift_z), cols.groups, z0, reference.inv_bin, reference.cap, fine)
    shifts = np.zeros(cols.n_segments)
    for s in range(cols.n_segments):
        if not fine[s].any():
            continue
        step, inside = _balance(fine[s])
        shift = -step[0] * bin_z_nm
        lo, hi = cols.segment(s)
        for _ in range(MAX_RECENTRES if not inside else 0):  # the balance lay beyond +-1/2 bin
            acc = np.zeros((1, SUB_BINS, 5))
            _change_z(*reference.args(drift_z), lo, hi, z0, reference.inv_bin, -1)
            _counts_z(*reference.args(drift_z), lo, hi, 1, shift, z0, reference.inv_bin, 2, reference.cap, acc[0])
            _change_z(*reference.args(drift_z), lo, hi, z0, reference.inv_bin, 1)
            step, inside = _balance(acc)
            shift -= step[0] * bin_z_nm
            if inside:
                break
        shifts[s] = shift
    return cols.mean_drift(drift_z) + shifts * cols.loo_weight


def _z_drift(cols, grid, drift_xy, bin_z_nm, search, rounds, spline_smoothing, initial):
    drift_x, drift_y = np.ascontiguousarray(drift_xy[:, 0]), np.ascontiguousarray(drift_xy[:, 1])
    cols.regroup(grid, drift_y)
    cells = _xy_cells(grid.nx, grid.ny, cols.x, cols.y, cols.frame, drift_x, drift_y, grid.x0, grid.y0, grid.inv_bin)
    n_cells = grid.nx * grid.ny
    z0 = float(np.floor(cols.z.min())) - (search + 4) * bin_z_nm
    if initial is None:
        segment_drift = _round1_z(cols, cells, n_cells, z0, bin_z_nm, search)
        per_frame = smooth_segments(cols.knots, segment_drift, cols.n_frames, spline_smoothing)[0][:, 0]
    else:
        per_frame = np.array(initial, dtype=np.float64)
    for _ in range(rounds):
        segment_drift = _loo_z(cols, cells, n_cells, z0, bin_z_nm, per_frame)
        per_frame, smoothing = smooth_segments(cols.knots, segment_drift, cols.n_frames, spline_smoothing)
        per_frame = per_frame[:, 0]
    return per_frame, segment_drift, smoothing[0]


def aim_drift(
    frame,
    x,
    y,
    n_frames,
    *,
    width,
    height,
    bin_px,
    max_shift_px,
    segment_frames=100,
    z_nm=None,
    bin_z_nm=20.0,
    max_shift_z_nm=60.0,
    rounds=1,
    segment_offset_frames=0,
    initial_drift=None,
    min_locs_per_segment=MIN_LOCS_PER_SEGMENT,
    spline_smoothing="gcv",
):
    """Drift of every frame by adaptive intersection maximization.

    Parameters
    ----------
    frame, x, y : numpy.ndarray
        Frame (sorted, ascending) and position (px) of every localization.
    n_frames : int
        Frames of the movie.
    width, height : int
        Camera frame, px (the extent of the reference grid).
    bin_px : float
        Bin size, px (Picasso's "intersection distance"; 20 nm in px is typical).
    max_shift_px : float
        Largest drift between consecutive segments searched in round 1, px.
    segment_frames : int
        Frames per segment.
    z_nm : numpy.ndarray, optional
        z of every localization, nm: z drift too.
    bin_z_nm, max_shift_z_nm : float
        Bin size and round-1 search radius along z, nm.
    rounds : int
        Leave-one-out rounds (after round 1).
    segment_offset_frames : int
        Segment boundaries at ``segment_offset_frames + k * segment_frames`` (see
        :func:`~.drift.segment_bounds`; a staggered segmentation, for split halves).
    initial_drift : numpy.ndarray, optional
        ``(n_frames, 2 or 3)`` drift (x, y px, z nm) to start the leave-one-out rounds
        from, instead of round 1.
    min_locs_per_segment : int
        Fewer localizations in any segment raise ValueError.
    spline_smoothing : float, "gcv" or sequence
        Roughness penalty of the per-frame spline, or one per axis (x, y[, z]).

    Returns
    -------
    DriftResult
        ``method`` ``"AIM"``; ``residual_px``: the RMS change of the per-frame x, y drift
        in the last round (how far the rounds had converged).

    Examples
    --------
    >>> from napari_picasso.simulate import drifting_locs
    >>> sim = drifting_locs(200_000, n_frames=2000, width=64, height=64)
    >>> locs = sim.locs
    >>> result = aim_drift(locs["frame"], locs["x"], locs["y"], 2000, width=64, height=64,
    ...                    bin_px=20 / 130, max_shift_px=60 / 130, segment_frames=100)
    >>> result.drift_px.shape
    (2000, 2)
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if bin_px <= 0 or max_shift_px <= 0 or bin_z_nm <= 0 or max_shift_z_nm <= 0:
        raise ValueError("bin sizes and search radii must be > 0")
    frame = np.asarray(frame)
    if len(frame) > 1 and np.any(frame[1:] < frame[:-1]):
        raise ValueError("localizations must be sorted by frame")
    if len(frame) and int(frame[-1]) >= n_frames:
        raise ValueError(f"localizations reach frame {int(frame[-1])}, the movie has {n_frames} frames")
    bounds = segment_bounds(n_frames, segment_frames, segment_offset_frames)
    cols = _Columns(frame, x, y, z_nm, n_frames, bounds)
    _check_segments(cols, min_locs_per_segment)
    grid = _Grid(width, height, bin_px, pad_px=max_shift_px + 4.0)
    initial = None if initial_drift is None else np.asarray(initial_drift, dtype=np.float64)
    smoothing_xy, smoothing_z = split_smoothing(spline_smoothing)
    drift_px, segment_drift, change, smoothing = _xy_drift(
        cols, grid, max_shift_px, rounds, smoothing_xy, None if initial is None else initial[:, :2]
    )
    drift_z = segment_z = None
    if cols.z is not None:
        search_z = max(2, int(math.ceil(max_shift_z_nm / bin_z_nm)))
        initial_z = None if initial is None or initial.shape[1] < 3 else initial[:, 2]
        drift_z, segment_z, lam_z = _z_drift(cols, grid, drift_px, bin_z_nm, search_z, rounds, smoothing_z, initial_z)
        smoothing = (*smoothing, lam_z)
        segment_z = segment_z - drift_z[0]
        drift_z = drift_z - drift_z[0]
    offset = drift_px[0].copy()
    return DriftResult(
        drift_px=drift_px - offset,
        segment_frames_mean=cols.knots,
        segment_drift_px=segment_drift - offset,
        residual_px=change,
        n_pairs_used=0,
        segment_frames=int(segment_frames),
        method="AIM",
        drift_z_nm=drift_z,
        segment_drift_z_nm=segment_z,
        spline_smoothing=smoothing,
    )


def split_smoothing(spline_smoothing):
    """``(x, y)`` and ``z`` parts of a roughness penalty given once or per axis."""
    if isinstance(spline_smoothing, str) or np.ndim(spline_smoothing) == 0:
        return spline_smoothing, spline_smoothing
    values = list(spline_smoothing)
    return values[:2], values[2] if len(values) > 2 else "gcv"


def aim_z_drift(
    frame,
    x,
    y,
    z_nm,
    n_frames,
    drift_px,
    *,
    width,
    height,
    bin_px,
    segment_frames=100,
    segment_offset_frames=0,
    bin_z_nm=20.0,
    max_shift_z_nm=60.0,
    rounds=1,
    initial_drift_z_nm=None,
    min_locs_per_segment=MIN_LOCS_PER_SEGMENT,
    spline_smoothing="gcv",
):
    """z drift by AIM's z step, given the x, y drift (found by any method).

    Parameters are those of :func:`aim_drift`; ``drift_px`` ``(n_frames, 2)`` is the x, y
    drift the positions are corrected with first, ``initial_drift_z_nm`` an optional z
    drift to start the leave-one-out rounds from.

    Returns
    -------
    drift_z_nm : numpy.ndarray
        ``(n_frames,)`` z drift relative to frame 0, nm.
    segment_drift_z_nm : numpy.ndarray
        z drift of the segments (same offset), nm.
    smoothing : float
        Roughness penalty of the z spline.

    Examples
    --------
    >>> from napari_picasso.simulate import drifting_locs
    >>> sim = drifting_locs(200_000, n_frames=2000, width=64, height=64, z_range_nm=(-300, 300))
    >>> l = sim.locs
    >>> drift_z, _, _ = aim_z_drift(l["frame"], l["x"], l["y"], l["z"], 2000, sim.drift_px,
    ...                          width=64, height=64, bin_px=20 / 130)
    >>> drift_z.shape
    (2000,)
    """
    frame = np.asarray(frame)
    if len(frame) > 1 and np.any(frame[1:] < frame[:-1]):
        raise ValueError("localizations must be sorted by frame")
    bounds = segment_bounds(n_frames, segment_frames, segment_offset_frames)
    cols = _Columns(frame, x, y, z_nm, n_frames, bounds)
    _check_segments(cols, min_locs_per_segment)
    grid = _Grid(width, height, bin_px, pad_px=4.0)
    search = max(2, int(math.ceil(max_shift_z_nm / bin_z_nm)))
    drift_z, segment_z, smoothing = _z_drift(
        cols, grid, np.asarray(drift_px, dtype=np.float64), bin_z_nm, search, rounds, spline_smoothing,
        initial_drift_z_nm,
    )  # fmt: skip
    return drift_z - drift_z[0], segment_z - drift_z[0], smoothing
