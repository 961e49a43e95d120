"""Evaluation metrics: Dice, Kaggle mean Dice, classification metrics, AUC, folder summary.

Pure numpy, no scikit-learn. The folder summary (:func:`summarise`, :class:`FolderSummary`,
:class:`SummaryAccumulator`) is the one used by the viewer's Summary panel, ``pneumoviewer
predict``'s ``metrics.json`` and ``model_training evaluate``, so all report the same numbers
under the same key names. Per-image calls come from :mod:`pneumoviewer.core.decision`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

__all__ = [
    "SUMMARY_KEYS",
    "ClassificationMetrics",
    "FolderSummary",
    "ImageOutcome",
    "SummaryAccumulator",
    "classification_metrics",
    "dice",
    "kaggle_mean_dice",
    "roc_auc",
    "summarise",
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


# --- the folder summary ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageOutcome:
    """One image's contribution to the folder summary.

    Attributes
    ----------
    image_id : str
    truth_positive : bool or None
        Ground truth: pneumothorax or not; None when the ground truth does not list it.
    probability : float or None
        The classifier's probability (the AUC's score); None without a classifier.
    positive : bool or None
        The image-level call of :mod:`pneumoviewer.core.decision`; None when not analysed.
    dice : float or None
        Dice of the post-processed mask against the ground truth (empty/empty = 1); None
        without a segmenter or ground truth.
    refused : bool
        Refused by the input-quality gate ("not assessed"): counted in ``n_refused`` only.

    """

    image_id: str
    truth_positive: bool | None
    probability: float | None
    positive: bool | None
    dice: float | None
    refused: bool = False


#: The key names of :meth:`FolderSummary.to_dict`, in order (one set for every caller).
SUMMARY_KEYS = (
    "n_images",
    "n_analysed",
    "n_refused",
    "n_evaluated",
    "n_truth_positive",
    "n_truth_negative",
    "n_with_dice",
    "accuracy",
    "sensitivity",
    "specificity",
    "auc",
    "tp",
    "fp",
    "tn",
    "fn",
    "dice_positive",
    "kaggle_mean_dice",
)


@dataclass(frozen=True, slots=True)
class FolderSummary:
    """Image-level and mask metrics of a set of images against the ground truth.

    Attributes
    ----------
    n_images : int
        Outcomes given.
    n_analysed : int
        With a call (``positive`` not None) and not refused.
    n_refused : int
        Refused by the input-quality gate.
    n_evaluated : int
        Analysed and listed in the ground truth: the images the metrics are about.
    n_truth_positive, n_truth_negative : int
        Among the evaluated.
    n_with_dice : int
        Evaluated images with a Dice (a segmenter ran).
    accuracy, sensitivity, specificity : float
        Of the calls; nan when undefined.
    auc : float
        ROC AUC of the classifier's probabilities; nan when one class only, or when an
        evaluated image has no probability (no classifier: a yes/no call has no ROC curve).
    tp, fp, tn, fn : int
        Confusion counts of the calls.
    dice_positive : float
        Mean Dice over evaluated images with pneumothorax; nan when none.
    kaggle_mean_dice : float
        Mean Dice over evaluated images with a Dice (empty/empty = 1, as scored in
        SIIM-ACR); nan when none.

    """

    n_images: int
    n_analysed: int
    n_refused: int
    n_evaluated: int
    n_truth_positive: int
    n_truth_negative: int
    n_with_dice: int
    accuracy: float
    sensitivity: float
    specificity: float
    auc: float
    tp: int
    fp: int
    tn: int
    fn: int
    dice_positive: float
    kaggle_mean_dice: float

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-safe dict with the :data:`SUMMARY_KEYS` (nan becomes None)."""
        out: dict[str, float | int | None] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = None if isinstance(v, float) and math.isnan(v) else v
        return out


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def summarise(outcomes: Iterable[ImageOutcome]) -> FolderSummary:
    """Summarise a folder: THE one function for the viewer, predict and training.

    Parameters
    ----------
    outcomes : iterable of ImageOutcome
        One per image (analysed or not, with or without ground truth).

    Returns
    -------
    FolderSummary
        Metrics over the evaluated images: analysed (a call was made), not refused, and
        listed in the ground truth. An image is counted positive by its ``positive`` call
        (:mod:`pneumoviewer.core.decision`), never re-derived here.

    """
    outcomes = list(outcomes)
    n_images = len(outcomes)
    refused = sum(1 for o in outcomes if o.refused)
    analysed = [o for o in outcomes if not o.refused and o.positive is not None]
    evaluated = [o for o in analysed if o.truth_positive is not None]
    t = np.array([bool(o.truth_positive) for o in evaluated], dtype=bool)
    p = np.array([bool(o.positive) for o in evaluated], dtype=bool)
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    tn = int(np.count_nonzero(~p & ~t))
    fn = int(np.count_nonzero(~p & t))
    auc = math.nan
    scores = [o.probability for o in evaluated]
    if scores and all(s is not None and not math.isnan(s) for s in scores):
        auc = roc_auc(t, np.array(scores, dtype=np.float64))
    dices = [float(o.dice) for o in evaluated if o.dice is not None]
    pos_dices = [float(o.dice) for o in evaluated if o.dice is not None and o.truth_positive]
    return FolderSummary(
        n_images=n_images,
        n_analysed=len(analysed),
        n_refused=refused,
        n_evaluated=len(evaluated),
        n_truth_positive=int(t.sum()),
        n_truth_negative=int((~t).sum()),
        n_with_dice=len(dices),
        accuracy=_ratio(tp + tn, len(evaluated)),
        sensitivity=_ratio(tp, tp + fn),
        specificity=_ratio(tn, tn + fp),
        auc=auc,
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        dice_positive=_mean(pos_dices),
        kaggle_mean_dice=_mean(dices),
    )


class SummaryAccumulator:
    """Collects outcomes one at a time (a batch run, the viewer as images are analysed).

    Adding an outcome for an ``image_id`` already present replaces it (the viewer's
    thresholds moved); :meth:`summary` is :func:`summarise` of what is held.
    """

    def __init__(self) -> None:
        self._outcomes: dict[str, ImageOutcome] = {}

    def add(self, outcome: ImageOutcome) -> None:
        """Add (or replace) the outcome of ``outcome.image_id``."""
        self._outcomes[outcome.image_id] = outcome

    def discard(self, image_id: str) -> None:
        """Forget an image (no error when absent)."""
        self._outcomes.pop(image_id, None)

    def clear(self) -> None:
        """Forget every image."""
        self._outcomes.clear()

    def __len__(self) -> int:
        return len(self._outcomes)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._outcomes

    def __iter__(self) -> Iterator[ImageOutcome]:
        return iter(list(self._outcomes.values()))

    def summary(self) -> FolderSummary:
        """Return the folder summary of the outcomes held (in the order first added)."""
        return summarise(self._outcomes.values())
