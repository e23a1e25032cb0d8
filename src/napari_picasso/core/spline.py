"""Cubic smoothing spline (Reinsch) with the smoothing chosen by generalised cross-validation.

For knots ``t`` and values ``y`` the spline ``g`` minimises
``sum (y_i - g(t_i))^2 + lam * integral g''(t)^2 dt``; it is a natural cubic spline with
knots at ``t`` (``lam = 0`` interpolates). Dense linear algebra: meant for up to a few
hundred knots (drift segments), not for signals.
"""

import numpy as np


def _band_matrices(t):
    h = np.diff(t)
    n = len(t)
    q = np.zeros((n, n - 2))
    r = np.zeros((n - 2, n - 2))
    for j in range(1, n - 1):
        c = j - 1
        q[j - 1, c] = 1.0 / h[j - 1]
        q[j, c] = -1.0 / h[j - 1] - 1.0 / h[j]
        q[j + 1, c] = 1.0 / h[j]
        r[c, c] = (h[j - 1] + h[j]) / 3.0
        if c + 1 < n - 2:
            r[c, c + 1] = r[c + 1, c] = h[j] / 6.0
    return q, r


class SmoothingSpline:
    """A fitted cubic smoothing spline; call it with times to evaluate.

    Parameters
    ----------
    t : array_like
        Strictly increasing knots.
    y : array_like
        Values at the knots.
    lam : float or "gcv"
        Roughness penalty (0: interpolation), or ``"gcv"`` to choose it by generalised
        cross-validation over a logarithmic grid.

    Beyond the first and last knot the spline continues as a straight line (a natural
    spline has no curvature at its ends).
    """

    def __init__(self, t, y, lam="gcv"):
        t = np.asarray(t, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if t.ndim != 1 or t.shape != y.shape or len(t) < 1:
            raise ValueError("t and y must be 1-D of the same, non-zero length")
        if np.any(np.diff(t) <= 0):
            raise ValueError("knots must be strictly increasing")
        self.t = t
        n = len(t)
        if n < 3:
            self.lam = 0.0
            self.g = y.copy()
            self.gamma = np.zeros(n)
            return
        q, r = _band_matrices(t)
        k = q @ np.linalg.solve(r, q.T)
        eye = np.eye(n)
        if lam == "gcv":
            scale = np.mean(np.diff(t)) ** 3
            best = None
            for candidate in np.geomspace(1e-4, 1e6, 41) * scale:
                s = np.linalg.inv(eye + candidate * k)
                rss = float(np.sum((y - s @ y) ** 2))
                dof = n - np.trace(s)
                score = n * rss / max(dof, 1e-9) ** 2
                if best is None or score < best[0]:
                    best = (score, candidate)
            lam = best[1]
        self.lam = float(lam)
        self.g = np.linalg.solve(eye + self.lam * k, y)
        gamma_inner = np.linalg.solve(r, q.T @ self.g)
        self.gamma = np.concatenate([[0.0], gamma_inner, [0.0]])

    def __call__(self, times):
        times = np.asarray(times, dtype=np.float64)
        t, g, gamma = self.t, self.g, self.gamma
        n = len(t)
        if n == 1:
            return np.full(times.shape, g[0])
        h = np.diff(t)
        i = np.clip(np.searchsorted(t, times, side="right") - 1, 0, n - 2)
        a = times - t[i]
        b = t[i + 1] - times
        hi = h[i]
        inside = (a * g[i + 1] + b * g[i]) / hi - a * b / 6.0 * ((1 + a / hi) * gamma[i + 1] + (1 + b / hi) * gamma[i])
        slope0 = (g[1] - g[0]) / h[0] - h[0] * gamma[1] / 6.0
        slope1 = (g[-1] - g[-2]) / h[-1] + h[-1] * gamma[-2] / 6.0
        out = np.where(times < t[0], g[0] + slope0 * (times - t[0]), inside)
        return np.where(times > t[-1], g[-1] + slope1 * (times - t[-1]), out)
