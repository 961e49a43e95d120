"""Search of the post-processing triplet (mask threshold, minimum area, classification gate).

Maximises the Kaggle mean Dice (core.metrics) of core.postprocessing's masks on the
validation split, like the SIIM-ACR winners' triplet search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
DEFAULT_MIN_AREAS = (0, 16, 64, 256, 1024)
DEFAULT_GATES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The best triplet and its score; ``table`` lists every combination tried.

    ``min_area`` is in pixels of the maps searched (model input size);
    ``min_area_full`` is the same area at the original image resolution (what the manifest
    stores, since the viewer post-processes full-resolution maps).
    """

    mask_threshold: float
    min_area: int
    min_area_full: int
    gate_threshold: float | None
    kaggle_dice: float
    dice_positive: float
    table: list[dict]

    def to_dict(self) -> dict:
        """JSON-ready copy."""
        return asdict(self)


def search_postprocess(
    prob_maps: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    *,
    class_probabilities: Sequence[float] | None = None,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    min_areas: Sequence[int] = DEFAULT_MIN_AREAS,
    gates: Sequence[float] = DEFAULT_GATES,
    full_shape: tuple[int, int] = (1024, 1024),
) -> SearchResult:
    """Grid-search the triplet maximising Kaggle mean Dice on validation maps.

    Parameters
    ----------
    prob_maps : sequence of ndarray
        float32 (h, w) probability maps of the validation images (at model input size).
    truths : sequence of ndarray
        bool (h, w) ground truth at the same size.
    class_probabilities : sequence of float or None
        Classifier probabilities per image; None searches without a gate.
    thresholds, min_areas, gates : sequences
        The grid (``min_areas`` in pixels of the maps).
    full_shape : (int, int)
        Original image shape used to scale ``min_area`` to ``min_area_full``.

    Returns
    -------
    SearchResult
        Ties are broken toward the earlier grid entry (no gate first).
    """
    from pneumoviewer.core.metrics import dice
    from pneumoviewer.core.postprocessing import PostprocessParams, postprocess

    if len(prob_maps) != len(truths) or not prob_maps:
        raise ValueError("need equally many (and at least one) probability maps and truths")
    truth_empty = np.array([not t.any() for t in truths])
    gate_options: list[float | None] = [None]
    if class_probabilities is not None:
        cp = np.asarray(class_probabilities, dtype=np.float64)
        gate_options += list(gates)
    best: tuple[float, int] | None = None
    table: list[dict] = []
    for thr in thresholds:
        for area in min_areas:
            params = PostprocessParams(mask_threshold=float(thr), min_area=int(area))
            d = np.array(
                [dice(postprocess(p, params), t) for p, t in zip(prob_maps, truths, strict=True)]
            )
            for gate in gate_options:
                per = d if gate is None else np.where(cp >= gate, d, truth_empty.astype(float))
                row = {
                    "mask_threshold": float(thr),
                    "min_area": int(area),
                    "gate_threshold": gate,
                    "kaggle_dice": float(per.mean()),
                    "dice_positive": float(per[~truth_empty].mean())
                    if (~truth_empty).any()
                    else float("nan"),
                }
                table.append(row)
                if best is None or row["kaggle_dice"] > table[best[1]]["kaggle_dice"] + 1e-12:
                    best = (row["kaggle_dice"], len(table) - 1)
    chosen = table[best[1]]
    h, w = prob_maps[0].shape
    scale = (full_shape[0] * full_shape[1]) / float(h * w)
    return SearchResult(
        mask_threshold=chosen["mask_threshold"],
        min_area=chosen["min_area"],
        min_area_full=int(round(chosen["min_area"] * scale)),
        gate_threshold=chosen["gate_threshold"],
        kaggle_dice=chosen["kaggle_dice"],
        dice_positive=chosen["dice_positive"],
        table=table,
    )
