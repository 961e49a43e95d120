"""Search of the post-processing on the validation split: the SIIM triplet, or the components.

Maximises the Kaggle mean Dice (core.metrics) of the masks that
:func:`pneumoviewer.core.postprocessing.postprocess` would make, like the SIIM-ACR 1st-place
solution's triplet search:

* ``scheme="triplet"`` (default): every (top threshold, min area, bottom threshold) with
  ``bottom <= top``; the mask is empty when fewer than ``min_area`` pixels are ``>= top``,
  else the pixels ``>= bottom``.
* ``scheme="components"``: every (threshold, min area); pixels ``>= threshold`` minus the
  8-connected components smaller than ``min_area``.

With the classifier's probabilities the gate is part of what is scored: by default at the
decision threshold (what the viewer and ``predict`` run), so a negative call's mask is empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)  # bottom thresholds (components: the threshold)
DEFAULT_TOP_THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.9)
DEFAULT_MIN_AREAS = (0, 16, 64, 256, 1024)
DEFAULT_GATES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)  # for an explicit gate search only


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The best parameters and their score; ``table`` lists every combination tried.

    ``mask_threshold`` is the bottom threshold (the pixel threshold of the final mask);
    ``top_threshold`` is None for the component scheme. ``min_area`` is in pixels of the
    maps searched (model input size); ``min_area_full`` is the same area at the original
    image resolution (what the manifest stores, since the viewer post-processes
    full-resolution maps). ``gate_enabled`` with ``gate_threshold`` None means the gate at
    the classifier's decision threshold.
    """

    scheme: str
    mask_threshold: float
    top_threshold: float | None
    min_area: int
    min_area_full: int
    gate_enabled: bool
    gate_threshold: float | None
    kaggle_mean_dice: float
    dice_positive: float
    table: list[dict]

    def to_dict(self) -> dict:
        """JSON-ready copy."""
        return asdict(self)


def _dice_rows(prob_maps, truths, scheme, thresholds, tops, min_areas):
    """Yield (params dict, per-image Dice array) for every combination of the grid."""
    from pneumoviewer.core.metrics import dice
    from pneumoviewer.core.postprocessing import PostprocessParams, postprocess

    empty_dice = np.array([0.0 if t.any() else 1.0 for t in truths])
    if scheme == "components":
        for thr in thresholds:
            for area in min_areas:
                p = PostprocessParams(
                    scheme="components", bottom_threshold=float(thr), min_area=int(area)
                )
                d = np.array(
                    [dice(postprocess(m, p), t) for m, t in zip(prob_maps, truths, strict=True)]
                )
                yield (
                    {"mask_threshold": float(thr), "top_threshold": None, "min_area": int(area)},
                    d,
                )
        return
    # Triplet: the mask is either empty or prob >= bottom, so one Dice per bottom threshold
    # and one confident-pixel count per top threshold give the whole grid.
    by_bottom = {
        float(b): np.array([dice(m >= b, t) for m, t in zip(prob_maps, truths, strict=True)])
        for b in thresholds
    }
    counts = {float(top): np.array([np.count_nonzero(m >= top) for m in prob_maps]) for top in tops}
    for top in tops:
        for area in min_areas:
            empty = counts[float(top)] < int(area) if area > 0 else np.zeros(len(truths), bool)
            for b in thresholds:
                if b > top:
                    continue
                d = np.where(empty, empty_dice, by_bottom[float(b)])
                yield (
                    {
                        "mask_threshold": float(b),
                        "top_threshold": float(top),
                        "min_area": int(area),
                    },
                    d,
                )


def search_postprocess(
    prob_maps: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    *,
    class_probabilities: Sequence[float] | None = None,
    scheme: str = "triplet",
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    top_thresholds: Sequence[float] = DEFAULT_TOP_THRESHOLDS,
    min_areas: Sequence[int] = DEFAULT_MIN_AREAS,
    decision_threshold: float = 0.5,
    gates: Sequence[float | None] | None = None,
    full_shape: tuple[int, int] = (1024, 1024),
) -> SearchResult:
    """Grid-search the post-processing maximising Kaggle mean Dice on validation maps.

    Parameters
    ----------
    prob_maps : sequence of ndarray
        float32 (h, w) probability maps of the validation images (at model input size).
    truths : sequence of ndarray
        bool (h, w) ground truth at the same size.
    class_probabilities : sequence of float or None
        Classifier probabilities per image; None searches without a gate.
    scheme : {"triplet", "components"}
        What to search (see the module docstring).
    thresholds : sequence of float
        Bottom thresholds (the component scheme's threshold).
    top_thresholds : sequence of float
        Triplet only; combinations with ``bottom > top`` are skipped.
    min_areas : sequence of int
        In pixels of the maps.
    decision_threshold : float
        The classifier's decision threshold: the gate used when ``gates`` is None.
    gates : sequence of float or None, optional
        An explicit gate search (None in it: gate off). Default: the gate at the decision
        threshold with class probabilities, none without.
    full_shape : (int, int)
        Original image shape used to scale ``min_area`` to ``min_area_full``.

    Returns
    -------
    SearchResult
        Ties are broken toward the earlier grid entry.

    """
    if scheme not in ("triplet", "components"):
        raise ValueError(f"scheme must be 'triplet' or 'components', got {scheme!r}")
    if len(prob_maps) != len(truths) or not prob_maps:
        raise ValueError("need equally many (and at least one) probability maps and truths")
    truth_empty = np.array([not t.any() for t in truths])
    gate_options: list[float | None] = [None]
    default_gate = gates is None
    if class_probabilities is not None:
        cp = np.asarray(class_probabilities, dtype=np.float64)
        gate_options = [float(decision_threshold)] if gates is None else list(gates)
    best: int | None = None
    table: list[dict] = []
    for params, d in _dice_rows(prob_maps, truths, scheme, thresholds, top_thresholds, min_areas):
        for gate in gate_options:
            per = d if gate is None else np.where(cp >= gate, d, truth_empty.astype(float))
            row = {
                "scheme": scheme,
                **params,
                "gate_threshold": gate,
                "kaggle_mean_dice": float(per.mean()),
                "dice_positive": float(per[~truth_empty].mean())
                if (~truth_empty).any()
                else float("nan"),
            }
            table.append(row)
            if best is None or row["kaggle_mean_dice"] > table[best]["kaggle_mean_dice"] + 1e-12:
                best = len(table) - 1
    if best is None:
        raise ValueError("empty search grid (every bottom threshold above every top threshold)")
    chosen = table[best]
    h, w = prob_maps[0].shape
    scale = (full_shape[0] * full_shape[1]) / float(h * w)
    gate = chosen["gate_threshold"]
    # No class probabilities: nothing to gate here, the gate stays on (at the decision
    # threshold) for when a classifier joins the model at export.
    gate_enabled = class_probabilities is None or gate is not None
    if default_gate:
        gate = None  # the decision threshold, whatever it becomes
    return SearchResult(
        scheme=scheme,
        mask_threshold=chosen["mask_threshold"],
        top_threshold=chosen["top_threshold"],
        min_area=chosen["min_area"],
        min_area_full=int(round(chosen["min_area"] * scale)),
        gate_enabled=gate_enabled,
        gate_threshold=gate,
        kaggle_mean_dice=chosen["kaggle_mean_dice"],
        dice_positive=chosen["dice_positive"],
        table=table,
    )
