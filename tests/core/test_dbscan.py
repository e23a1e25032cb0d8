"""DBSCAN finds simulated clusters and agrees with a brute-force DBSCAN."""

import numpy as np
import pytest

from napari_picasso.core.dbscan import dbscan


def _clustered(seed=0, n_clusters=60, per_cluster=80, n_noise=3000, size=200.0):
    rng = np.random.default_rng(seed)
    centers = []
    while len(centers) < n_clusters:
        c = rng.uniform(5, size - 5, 2)
        if all(np.hypot(*(c - d)) > 4 for d in centers):
            centers.append(c)
    centers = np.array(centers)
    label = np.repeat(np.arange(n_clusters), per_cluster)
    pos = centers[label] + rng.normal(0, 0.1, (len(label), 2))
    noise = rng.uniform(0, size, (n_noise, 2))
    locs = np.zeros(len(pos) + n_noise, dtype=[("frame", "u4"), ("x", "f4"), ("y", "f4")])
    locs["x"] = np.r_[pos[:, 0], noise[:, 0]]
    locs["y"] = np.r_[pos[:, 1], noise[:, 1]]
    locs["frame"] = rng.integers(0, 1000, len(locs))
    truth = np.r_[label, np.full(n_noise, -1)]
    perm = rng.permutation(len(locs))
    return locs[perm], truth[perm], centers


def test_dbscan_finds_simulated_clusters():
    locs, truth, centers = _clustered()
    result = dbscan(locs, radius_px=0.3, min_samples=10)
    assert result.n_clusters == len(centers)
    # each found cluster is exactly one true cluster (noise points inside may join)
    for g in range(result.n_clusters):
        labels = truth[result.group == g]
        true_labels = np.unique(labels[labels >= 0])
        assert len(true_labels) == 1
        assert np.sum(labels == true_labels[0]) >= 0.95 * 80
        row = result.clusters[g]
        assert np.hypot(row["x"] - centers[true_labels[0], 0], row["y"] - centers[true_labels[0], 1]) < 0.05
    # almost all uniform noise stays noise
    assert np.mean(result.group[truth == -1] == -1) > 0.98
    assert result.clusters["n"].sum() == np.sum(result.group >= 0)
    # numbered by first appearance
    first = [np.flatnonzero(result.group == g)[0] for g in range(result.n_clusters)]
    assert first == sorted(first)


def _brute_force_core_partition(x, y, radius, min_samples):
    d2 = (x[:, None] - x[None, :]) ** 2 + (y[:, None] - y[None, :]) ** 2
    adj = d2 <= radius**2
    core = adj.sum(1) >= min_samples
    label = np.full(len(x), -1)
    current = 0
    for i in np.flatnonzero(core):
        if label[i] >= 0:
            continue
        stack = [i]
        label[i] = current
        while stack:
            k = stack.pop()
            for j in np.flatnonzero(adj[k] & core):
                if label[j] < 0:
                    label[j] = current
                    stack.append(j)
        current += 1
    return core, label, adj


@pytest.mark.parametrize("seed", [1, 2])
def test_dbscan_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    locs = np.zeros(1500, dtype=[("x", "f4"), ("y", "f4")])
    locs["x"] = rng.uniform(0, 12, len(locs))
    locs["y"] = rng.uniform(0, 12, len(locs))
    x = locs["x"].astype(np.float64)
    y = locs["y"].astype(np.float64)
    core, label, adj = _brute_force_core_partition(x, y, 0.35, 5)
    group = dbscan(locs, 0.35, 5).group
    # same partition of core points
    for lab in np.unique(label[core]):
        assert len(np.unique(group[label == lab])) == 1
    assert len(np.unique(group[core])) == len(np.unique(label[core]))
    # non-core points: in a cluster iff they have a core neighbour, and in one of theirs
    for i in np.flatnonzero(~core):
        neighbours = np.flatnonzero(adj[i] & core)
        if len(neighbours) == 0:
            assert group[i] == -1
        else:
            assert group[i] in set(group[neighbours])
