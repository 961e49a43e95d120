"""Analysis state kept by the GUI: cached results, post-processing, per-image and folder numbers.

Pure Python + NumPy (no widgets), so it is tested directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pneumoviewer.ui.cache import AnalysisResult, LRUCache, dequantise_probability

DEFAULT_MAP_BUDGET = 1 << 30  # 1 GiB of uint8 maps (about 1,000 images of 1024x1024)


@dataclass(frozen=True, slots=True)
class ImageStats:
    """Post-processed numbers of one image at one parameter set."""

    area: int | None  # None: no segmentation map (classifier-only model) or evicted
    dice: float | None  # None: ground truth unknown or no map
    predicted_positive: bool


class ResultStore:
    """Per-image analysis results: scalars for all, uint8 maps in a byte-bounded LRU.

    Parameters
    ----------
    max_map_bytes : int
        Memory budget for the probability maps.

    """

    def __init__(self, *, max_map_bytes: int = DEFAULT_MAP_BUDGET) -> None:
        self.maps = LRUCache(max_bytes=max_map_bytes)
        self.scalars: dict[str, AnalysisResult] = {}
        self._float: tuple[str, np.ndarray] | None = None  # float32 map of the last image used

    def __contains__(self, image_id: str) -> bool:
        return image_id in self.scalars

    def __len__(self) -> int:
        return len(self.scalars)

    def add(self, result: AnalysisResult) -> None:
        """Store a result (its map goes to the LRU, the scalars stay)."""
        self.scalars[result.image_id] = AnalysisResult(
            result.image_id, result.class_probability, None, result.device, result.seconds
        )
        if result.prob_u8 is not None:
            self.maps.put(result.image_id, result.prob_u8)
        if self._float is not None and self._float[0] == result.image_id:
            self._float = None

    def get(self, image_id: str) -> AnalysisResult | None:
        """Return the full result (map None when evicted or absent)."""
        s = self.scalars.get(image_id)
        if s is None:
            return None
        return AnalysisResult(
            image_id, s.class_probability, self.maps.get(image_id), s.device, s.seconds
        )

    def has_map(self, image_id: str) -> bool:
        """Whether the probability map of ``image_id`` is cached."""
        return image_id in self.maps

    def float_map(self, image_id: str) -> np.ndarray | None:
        """Return the float32 map (memoised for the most recent image)."""
        if self._float is not None and self._float[0] == image_id:
            return self._float[1]
        u8 = self.maps.get(image_id)
        if u8 is None:
            return None
        self._float = (image_id, dequantise_probability(u8))
        return self._float[1]

    def clear(self) -> None:
        """Forget every result (new folder or new model)."""
        self.maps.clear()
        self.scalars.clear()
        self._float = None


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
