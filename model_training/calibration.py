"""Platt scaling: SVM margins -> probabilities, ``p = 1 / (1 + exp(a·margin + b))``."""

from __future__ import annotations

import numpy as np


def platt_probability(margins: np.ndarray, a: float, b: float) -> np.ndarray:
    """Probability of the positive class, float64 (N,), for float (N,) margins."""
    z = a * np.asarray(margins, dtype=np.float64) + b
    # stable 1 / (1 + exp(z))
    out = np.empty_like(z)
    pos = z >= 0
    ez = np.exp(-z[pos])
    out[pos] = ez / (1.0 + ez)
    out[~pos] = 1.0 / (1.0 + np.exp(z[~pos]))
    return out


def fit_platt(
    margins: np.ndarray, labels: np.ndarray, *, max_iter: int = 100, tol: float = 1e-10
) -> tuple[float, float]:
    """Fit Platt's sigmoid on validation margins (Newton with backtracking line search).

    Uses Platt's smoothed targets ``(N₊+1)/(N₊+2)`` and ``1/(N₋+2)`` and the numerically
    careful Newton method of Lin, Lin & Weng (2007).

    Parameters
    ----------
    margins : ndarray
        float (N,) decision values.
    labels : ndarray
        (N,) {0, 1} (or bool) true labels.
    max_iter : int
        Newton iterations at most.
    tol : float
        Stop when the gradient's max-norm is below this.

    Returns
    -------
    (float, float)
        ``(a, b)`` with ``p = 1 / (1 + exp(a·margin + b))``; ``a`` is negative when larger
        margins mean "positive".
    """
    f = np.asarray(margins, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1).astype(bool)
    if f.shape != y.shape or f.size == 0:
        raise ValueError("margins and labels must be non-empty and of equal length")
    n_pos = int(y.sum())
    n_neg = int((~y).sum())
    hi = (n_pos + 1.0) / (n_pos + 2.0)
    lo = 1.0 / (n_neg + 2.0)
    t = np.where(y, hi, lo)
    a, b = 0.0, float(np.log((n_neg + 1.0) / (n_pos + 1.0)))
    sigma = 1e-12

    def objective(a_: float, b_: float) -> float:
        z = a_ * f + b_
        # sum t*z + log(1 + exp(-z)) in a stable way
        return float(
            np.sum(
                np.where(z >= 0, t * z + np.log1p(np.exp(-z)), (t - 1.0) * z + np.log1p(np.exp(z)))
            )
        )

    fval = objective(a, b)
    for _ in range(max_iter):
        p = platt_probability(f, a, b)  # 1/(1+exp(z))
        d1 = t - p
        d2 = p * (1.0 - p)
        g1 = float(np.sum(f * d1))
        g2 = float(np.sum(d1))
        if max(abs(g1), abs(g2)) < tol:
            break
        h11 = float(np.sum(f * f * d2)) + sigma
        h22 = float(np.sum(d2)) + sigma
        h21 = float(np.sum(f * d2))
        det = h11 * h22 - h21 * h21
        da = -(h22 * g1 - h21 * g2) / det
        db = -(-h21 * g1 + h11 * g2) / det
        gd = g1 * da + g2 * db
        step = 1.0
        while step >= 1e-10:
            na, nb = a + step * da, b + step * db
            nf = objective(na, nb)
            if nf < fval + 1e-4 * step * gd:
                a, b, fval = na, nb, nf
                break
            step /= 2.0
        else:
            break
    return float(a), float(b)
