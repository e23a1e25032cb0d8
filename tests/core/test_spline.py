"""The banded smoothing spline equals the dense Reinsch solution, its trace included."""

import numpy as np
import pytest

from napari_picasso.core.spline import SmoothingSpline, _fit


def dense(t, y, lam):
    """Reinsch's smoothing spline with dense matrices: fitted values and the smoother's trace."""
    h = np.diff(t)
    n = len(t)
    q = np.zeros((n, n - 2))
    r = np.zeros((n - 2, n - 2))
    for j in range(1, n - 1):
        c = j - 1
        q[j - 1, c], q[j, c], q[j + 1, c] = 1 / h[j - 1], -1 / h[j - 1] - 1 / h[j], 1 / h[j]
        r[c, c] = (h[j - 1] + h[j]) / 3
        if c + 1 < n - 2:
            r[c, c + 1] = r[c + 1, c] = h[j] / 6
    smoother = np.linalg.inv(np.eye(n) + lam * q @ np.linalg.solve(r, q.T))
    return smoother @ y, np.trace(smoother)


@pytest.mark.parametrize("n", [3, 4, 7, 60])
def test_banded_fit_equals_the_dense_one(n):
    rng = np.random.default_rng(n)
    t = np.cumsum(rng.uniform(50, 150, n))
    y = np.sin(t / 1000) + rng.normal(0, 0.05, n)
    for lam in (0.0, 1e3, 1e6, 1e9):
        g, _, trace = _fit(t, y, lam)
        g_dense, trace_dense = dense(t, y, lam)
        np.testing.assert_allclose(g, g_dense, atol=1e-9)
        assert trace == pytest.approx(trace_dense, rel=1e-9)


def test_thousands_of_knots():
    t = np.arange(5000) * 100.0
    y = np.sin(t / 30000) + np.random.default_rng(0).normal(0, 0.01, 5000)
    spline = SmoothingSpline(t, y, "gcv")
    assert np.sqrt(np.mean((spline(t) - np.sin(t / 30000)) ** 2)) < 0.005
