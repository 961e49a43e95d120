"""Classifier outputs -> scores -> probabilities, and Platt scaling (NumPy only).

The one implementation used by the viewer's engine, ``pneumoviewer predict`` and
``model_training`` (validation metrics, Platt fitting, evaluation), so a probability
computed during training is the probability the viewer shows.

Heads (see :class:`pneumoviewer.core.inference.manifest.ClassifierSpec`):

* ``svm``: one output per image, the margin; probability ``1 / (1 + exp(a·margin + b))``
  with the Platt parameters ``(a, b)``, else ``sigmoid(margin)`` (``a = -1, b = 0``);
* ``softmax``: two logits; the score is ``logit1 - logit0`` and the probability its
  sigmoid (= the softmax of class 1).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = [
    "HEADS",
    "HeadSpec",
    "fit_platt",
    "head_scores",
    "outputs_to_probability",
    "platt_probability",
    "scores_to_probability",
]

#: The classifier heads, as named in ``manifest.json``.
HEADS = ("svm", "softmax")


class HeadSpec(Protocol):
    """What :func:`scores_to_probability` reads of a ``ClassifierSpec`` (no import: no cycle)."""

    head: str
    platt_a: float | None
    platt_b: float | None


def platt_probability(margin: np.ndarray | float, a: float, b: float) -> np.ndarray:
    """Platt scaling of an SVM margin: ``p = 1 / (1 + exp(a * margin + b))``.

    Computed without overflow for any margin (``exp`` only of non-positive numbers).

    Parameters
    ----------
    margin : array-like of float
        SVM margins, any shape.
    a, b : float
        Platt parameters (``a`` is negative for a margin that grows with the positive class).

    Returns
    -------
    numpy.ndarray
        float64 probabilities in [0, 1], same shape as ``margin``.

    """
    z = a * np.asarray(margin, dtype=np.float64) + b
    e = np.exp(-np.abs(z))  # in (0, 1]
    return np.where(z >= 0, e / (1.0 + e), 1.0 / (1.0 + e))


def head_scores(raw: np.ndarray, *, head: str) -> np.ndarray:
    """Decision scores of raw classifier outputs, float64 (N,).

    Parameters
    ----------
    raw : numpy.ndarray
        float, shape (N, 1) for ``svm`` (or (N,)), (N, 2) for ``softmax``.
    head : {"svm", "softmax"}
        The classifier head.

    Returns
    -------
    numpy.ndarray
        The SVM margin, or ``logit1 - logit0``.

    Raises
    ------
    ValueError
        For an unknown head or outputs of the wrong shape.

    """
    raw = np.asarray(raw, dtype=np.float64)
    if head == "svm":
        if raw.ndim == 2 and raw.shape[1] != 1:
            raise ValueError(f"the svm head has one output per image, got shape {raw.shape}")
        return raw.reshape(-1)
    if head == "softmax":
        if raw.ndim != 2 or raw.shape[1] != 2:
            raise ValueError(f"the softmax head has two outputs per image, got shape {raw.shape}")
        return raw[:, 1] - raw[:, 0]
    raise ValueError(f"head must be one of {', '.join(HEADS)}, not {head!r}")


def outputs_to_probability(
    raw: np.ndarray, *, head: str, platt: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Turn raw classifier outputs into (probability, score) per image.

    Parameters
    ----------
    raw : numpy.ndarray
        float, shape (N, 1) for the svm head or (N, 2) for the softmax head.
    head : {"svm", "softmax"}
        The classifier head.
    platt : (float, float) or None
        Platt ``(a, b)`` of the svm head (ignored for softmax); None: ``sigmoid(margin)``.

    Returns
    -------
    probability, score : numpy.ndarray
        float64, shape (N,).

    """
    score = head_scores(raw, head=head)
    if head == "svm" and platt is not None:
        return platt_probability(score, platt[0], platt[1]), score
    return platt_probability(score, -1.0, 0.0), score


def scores_to_probability(raw: np.ndarray, spec: HeadSpec) -> tuple[np.ndarray, np.ndarray]:
    """Turn raw classifier outputs into (probability, score) with a manifest's head and Platt.

    Parameters
    ----------
    raw : numpy.ndarray
        float, shape (N, 1) for the svm head or (N, 2) for the softmax head.
    spec : ClassifierSpec
        Head and Platt parameters (any object with ``head``, ``platt_a``, ``platt_b``).

    Returns
    -------
    probability, score : numpy.ndarray
        float64, shape (N,); see :func:`outputs_to_probability`.

    """
    platt = None
    if spec.platt_a is not None and spec.platt_b is not None:
        platt = (spec.platt_a, spec.platt_b)
    return outputs_to_probability(raw, head=spec.head, platt=platt)


def fit_platt(
    margins: np.ndarray, labels: np.ndarray, *, max_iter: int = 100, tol: float = 1e-10
) -> tuple[float, float]:
    """Fit Platt's sigmoid on validation margins (Newton with backtracking line search).

    Uses Platt's smoothed targets ``(N₊+1)/(N₊+2)`` and ``1/(N₋+2)`` and the numerically
    careful Newton method of Lin, Lin & Weng (2007).

    Parameters
    ----------
    margins : numpy.ndarray
        float (N,) decision values.
    labels : numpy.ndarray
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

    Raises
    ------
    ValueError
        When the inputs are empty or of different lengths.

    """
    f = np.asarray(margins, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1).astype(bool)
    if f.shape != y.shape or f.size == 0:
        raise ValueError("margins and labels must be non-empty and of equal length")
    n_pos = int(y.sum())
    n_neg = int((~y).sum())
    t = np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    a, b = 0.0, float(np.log((n_neg + 1.0) / (n_pos + 1.0)))
    sigma = 1e-12

    def objective(a_: float, b_: float) -> float:
        z = a_ * f + b_
        return float(np.sum(t * z + np.logaddexp(0.0, -z)))  # sum t*z + log(1 + exp(-z))

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
