"""Analysis state kept by the GUI: cached results, post-processing, per-image and folder numbers.

Pure Python + NumPy (no widgets), so it is tested directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pneumoviewer.ui.results import DEFAULT_MAP_BUDGET, ResultStore  # noqa: F401 - #12 moved it


@dataclass(frozen=True, slots=True)
class ImageStats:
    """Post-processed numbers of one image at one parameter set."""

    area: int | None  # None: no segmentation map (classifier-only model) or evicted
    dice: float | None  # None: ground truth unknown or no map
    predicted_positive: bool


def prediction_mask(store: ResultStore, image_id: str, params: Any) -> np.ndarray | None:
    """Post-process the cached map of ``image_id`` with ``params`` (None without a map).

    Returns
    -------
    np.ndarray or None
        bool (H, W).

    """
    from pneumoviewer.core.postprocessing import postprocess

    prob = store.float_map(image_id)
    if prob is None:
        return None
    s = store.scalars.get(image_id)
    return postprocess(prob, params, class_probability=None if s is None else s.class_probability)


def image_stats(
    mask: np.ndarray | None,
    truth: np.ndarray | None,
    *,
    class_probability: float | None,
    decision_threshold: float,
) -> ImageStats:
    """Area, Dice (``empty_score=1``, the Kaggle convention) and the predicted label.

    Without a mask (classifier-only model) the label is ``class_probability >=
    decision_threshold``.
    """
    from pneumoviewer.core.metrics import dice

    if mask is None:
        positive = class_probability is not None and class_probability >= decision_threshold
        return ImageStats(None, None, positive)
    area = int(np.count_nonzero(mask))
    d = None if truth is None else float(dice(mask, truth, empty_score=1.0))
    return ImageStats(area, d, area > 0)


def folder_summary(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Folder metrics from per-image records.

    Parameters
    ----------
    records : list of dict
        One per analysed image: ``truth`` (bool or None), ``score`` (float or None: class
        probability, else the map's maximum), ``positive`` (bool: post-processed
        prediction), ``dice`` (float or None).

    Returns
    -------
    dict or None
        ``n_analysed, n_evaluated, n_truth_positive, accuracy, sensitivity, specificity,
        auc, tp, fp, tn, fn, dice_positive, kaggle_mean_dice``; None when no analysed image
        has ground truth.

    """
    from pneumoviewer.core.metrics import classification_metrics, roc_auc

    evaluated = [r for r in records if r.get("truth") is not None]
    if not evaluated:
        return None
    y_true = np.array([bool(r["truth"]) for r in evaluated])
    y_pred = np.array([1.0 if r["positive"] else 0.0 for r in evaluated])
    m = classification_metrics(y_true, y_pred, threshold=0.5)
    scores = [r.get("score") for r in evaluated]
    auc = math.nan
    if all(s is not None for s in scores):
        auc = roc_auc(y_true, np.array(scores, dtype=float))
    dices = [r["dice"] for r in evaluated if r.get("dice") is not None]
    pos_dices = [r["dice"] for r in evaluated if r["truth"] and r.get("dice") is not None]
    return {
        "n_analysed": len(records),
        "n_evaluated": len(evaluated),
        "n_truth_positive": int(y_true.sum()),
        "accuracy": m.accuracy,
        "sensitivity": m.sensitivity,
        "specificity": m.specificity,
        "auc": auc,
        "tp": m.tp,
        "fp": m.fp,
        "tn": m.tn,
        "fn": m.fn,
        "dice_positive": float(np.mean(pos_dices)) if pos_dices else math.nan,
        "kaggle_mean_dice": float(np.mean(dices)) if dices else math.nan,
    }
