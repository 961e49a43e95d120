"""Evaluation metrics: Dice, the SIIM-ACR (Kaggle) mean Dice, classification metrics, AUC.

Pure numpy, no scikit-learn. Used by the viewer (per-image Dice), the CLI and
:mod:`model_training` (validation), so all report the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "ClassificationMetrics",
    "classification_metrics",
    "dice",
    "kaggle_mean_dice",
    "roc_auc",
]


def _as_bool(a: Any, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype != np.bool_:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"{what} must be a boolean mask, got dtype {arr.dtype}")
        arr = arr != 0
    return arr


def dice(prediction: np.ndarray, truth: np.ndarray, *, empty_score: float = 1.0) -> float:
    """Dice coefficient ``2 |P & T| / (|P| + |T|)`` of two masks.

    Parameters
    ----------
    prediction, truth : numpy.ndarray
        bool (non-bool is compared with 0), same shape.
    empty_score : float
        Returned when both masks are empty.

    Returns
    -------
    float
        In [0, 1].

    """
    p = _as_bool(prediction, "prediction")
    t = _as_bool(truth, "truth")
    if p.shape != t.shape:
        raise ValueError(f"prediction shape {p.shape} differs from truth shape {t.shape}")
    total = int(np.count_nonzero(p)) + int(np.count_nonzero(t))
    if total == 0:
        return float(empty_score)
    inter = int(np.count_nonzero(p & t))
    return 2.0 * inter / total


def kaggle_mean_dice(predictions: Iterable[np.ndarray], truths: Iterable[np.ndarray]) -> float:
    """Mean over images of the per-image Dice, as scored in SIIM-ACR.

    An image with both masks empty scores 1; an empty prediction on a non-empty truth
    (or the reverse) scores 0.

    Parameters
    ----------
    predictions, truths : iterable of numpy.ndarray
        bool masks, paired in order; may be generators (consumed once, one pair in
        memory at a time).

    Returns
    -------
    float
        The mean; nan when there are no images.

    Raises
    ------
    ValueError
        If the two iterables have different lengths or a pair differs in shape.

    """
    total = 0.0
    n = 0
    sentinel = object()
    it_p, it_t = iter(predictions), iter(truths)
    while True:
        p = next(it_p, sentinel)
        t = next(it_t, sentinel)
        if p is sentinel or t is sentinel:
            if p is not t:
                raise ValueError(f"predictions and truths differ in length (after {n} pairs)")
            break
        total += dice(p, t, empty_score=1.0)
        n += 1
    return total / n if n else math.nan


def _labels_scores(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    if t.ndim != 1 or s.ndim != 1 or t.shape != s.shape:
        raise ValueError(f"y_true {t.shape} and y_score {s.shape} must be 1-D of equal length")
    if t.dtype != np.bool_:
        if t.size and not np.isin(t, (0, 1)).all():
            raise ValueError("y_true must contain only 0/1 or booleans")
        t = t.astype(bool)
    if np.isnan(s).any():
        raise ValueError("y_score contains NaN")
    return t, s


def roc_auc(y_true: Any, y_score: Any) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic.

    ``AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg)`` with ``R_pos`` the sum of
    the positives' ranks among all scores; tied scores get their average rank, so a tie
    between a positive and a negative counts one half.

    Parameters
    ----------
    y_true : array_like
        0/1 or bool, shape (n,).
    y_score : array_like
        float, shape (n,); higher means more likely positive.

    Returns
    -------
    float
        In [0, 1]; nan when only one class is present.

    """
    t, s = _labels_scores(y_true, y_score)
    n_pos = int(t.sum())
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    # Group k occupies ranks start_k + 1 .. start_k + count_k; its average rank:
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0
    r_pos = float(avg_rank[inverse[t]].sum())
    return (r_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


@dataclass(frozen=True, slots=True)
class ClassificationMetrics:
    """Image-level classification results at one decision threshold.

    Attributes
    ----------
    accuracy, sensitivity, specificity, auc : float
        nan when undefined (no positives for sensitivity, no negatives for specificity,
        one class only for AUC, no images for accuracy).
    tp, fp, tn, fn : int
        Confusion counts.

    """

    accuracy: float
    sensitivity: float
    specificity: float
    auc: float
    tp: int
    fp: int
    tn: int
    fn: int

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-safe dict: nan becomes None."""
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def classification_metrics(
    y_true: Any, y_score: Any, threshold: float = 0.5
) -> ClassificationMetrics:
    """Accuracy, sensitivity, specificity and AUC of image-level scores.

    Parameters
    ----------
    y_true : array_like
        0/1 or bool, shape (n,).
    y_score : array_like
        float, shape (n,); an image is called positive when ``score >= threshold``.
    threshold : float
        Decision threshold.

    Returns
    -------
    ClassificationMetrics

    """
    t, s = _labels_scores(y_true, y_score)
    p = s >= threshold
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    tn = int(np.count_nonzero(~p & ~t))
    fn = int(np.count_nonzero(~p & t))
    return ClassificationMetrics(
        accuracy=_ratio(tp + tn, t.size),
        sensitivity=_ratio(tp, tp + fn),
        specificity=_ratio(tn, tn + fp),
        auc=roc_auc(t, s),
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
    )
