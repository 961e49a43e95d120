"""THE image-level decision rule and the states in which the two models disagree.

One rule, used by the viewer (label, list colours, triage, Summary), ``pneumoviewer
predict`` (``predictions.csv``, ``metrics.json``, PNGs) and ``model_training evaluate``:

* With a classifier: the image is **positive** when its probability ``p >= decision
  threshold``. Without a classifier: positive when the post-processed mask is not empty.
* The mask is post-processed with :func:`pneumoviewer.core.postprocessing.postprocess`;
  its classification gate is the decision threshold unless another one is set, so the
  mask of an image called negative is empty by default.
* The two ways the models can disagree are states of their own:
  ``"positive, not localised"`` (positive call, empty mask) and ``"localised, below
  threshold"`` (negative call, non-empty mask: only reachable when the gate is switched
  off, or set below the decision threshold).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from pneumoviewer.core.postprocessing import SCHEMES, PostprocessParams, postprocess

__all__ = [
    "NOT_ANALYSED",
    "Decision",
    "DecisionState",
    "decide",
    "decision_from_mask",
    "decision_threshold_of",
    "default_params",
    "state_of",
]


class DecisionState(StrEnum):
    """What the image-level decision says; ``str(state)`` is the text shown everywhere."""

    NOT_ANALYSED = "not analysed"
    NEGATIVE = "negative"
    POSITIVE = "positive"
    POSITIVE_NOT_LOCALISED = "positive, not localised"
    LOCALISED_BELOW_THRESHOLD = "localised, below threshold"
    NOT_ASSESSED = "not assessed"  # refused by the input-quality gate (#10)


@dataclass(frozen=True, slots=True)
class Decision:
    """The decision about one image.

    Attributes
    ----------
    state : DecisionState
    positive : bool or None
        The image-level call; None when not analysed / not assessed.
    probability : float or None
        The classifier's probability (None without a classifier).
    mask : numpy.ndarray or None
        bool (H, W), post-processed and gated; None without a segmenter (or when only the
        area is known).
    area : int or None
        Pixels in the mask; None without a segmenter.

    """

    state: DecisionState
    positive: bool | None
    probability: float | None = None
    mask: np.ndarray | None = None
    area: int | None = None

    @property
    def label(self) -> int | None:
        """1 / 0 for positive / negative, None when there is no call."""
        return None if self.positive is None else int(self.positive)


#: The decision of an image the models have not seen.
NOT_ANALYSED = Decision(DecisionState.NOT_ANALYSED, None)


def state_of(*, positive: bool | None, area: int | None, has_classifier: bool) -> DecisionState:
    """Return the state from the call and the mask area (None: no segmenter).

    Parameters
    ----------
    positive : bool or None
        The image-level call (None: not analysed).
    area : int or None
        Pixels in the post-processed mask; None without a segmenter.
    has_classifier : bool
        Whether the call came from a classifier (without one the call *is* "mask not
        empty", so the models cannot disagree).

    """
    if positive is None:
        return DecisionState.NOT_ANALYSED
    if not has_classifier or area is None:
        return DecisionState.POSITIVE if positive else DecisionState.NEGATIVE
    if positive:
        return DecisionState.POSITIVE if area > 0 else DecisionState.POSITIVE_NOT_LOCALISED
    return DecisionState.LOCALISED_BELOW_THRESHOLD if area > 0 else DecisionState.NEGATIVE


def decision_from_mask(
    *,
    class_probability: float | None,
    mask: np.ndarray | None,
    decision_threshold: float,
    area: int | None = None,
) -> Decision:
    """Return the decision from an already post-processed mask (or only its area).

    Parameters
    ----------
    class_probability : float or None
        The classifier's probability; None without a classifier.
    mask : numpy.ndarray or None
        bool (H, W) from :func:`~pneumoviewer.core.postprocessing.postprocess` (with the
        same ``decision_threshold``); None without a segmenter.
    decision_threshold : float
        Positive when ``class_probability >= decision_threshold``.
    area : int or None
        Used when ``mask`` is None but its area is known (a map evicted from a cache).

    Returns
    -------
    Decision
        ``NOT_ANALYSED`` when there is neither a probability nor a mask/area.

    """
    if mask is not None:
        area = int(np.count_nonzero(mask))
    if class_probability is None and area is None:
        return NOT_ANALYSED
    if class_probability is not None:
        p = float(class_probability)
        positive = p >= decision_threshold
    else:
        p = None
        positive = bool(area)
    state = state_of(positive=positive, area=area, has_classifier=p is not None)
    return Decision(state, positive, p, mask, area)


def decide(
    *,
    class_probability: float | None,
    prob_map: np.ndarray | None,
    params: PostprocessParams,
    decision_threshold: float = 0.5,
) -> Decision:
    """Post-process the map and apply the decision rule (see the module docstring).

    Parameters
    ----------
    class_probability : float or None
        The classifier's probability; None without a classifier.
    prob_map : numpy.ndarray or None
        float (H, W) in [0, 1]; None without a segmenter.
    params : PostprocessParams
        Scheme, thresholds, minimum area, gate (None gate threshold: ``decision_threshold``).
    decision_threshold : float
        The classifier's decision threshold.

    Returns
    -------
    Decision

    """
    mask = None
    if prob_map is not None:
        mask = postprocess(
            prob_map,
            params,
            class_probability=class_probability,
            decision_threshold=decision_threshold,
        )
    return decision_from_mask(
        class_probability=class_probability, mask=mask, decision_threshold=decision_threshold
    )


def decision_threshold_of(manifest: Any) -> float:
    """Return the manifest's classifier decision threshold (0.5 without a classifier)."""
    cls = getattr(manifest, "classifier", None)
    return 0.5 if cls is None else float(cls.decision_threshold)


def default_params(manifest: Any) -> PostprocessParams:
    """Return the post-processing a model's manifest asks for (torch-free).

    The segmenter's ``postprocess_scheme`` (a manifest written before the triplet existed
    has none: the component scheme, which is what ran for it), ``mask_threshold`` (the
    bottom threshold), ``top_threshold``, ``min_area``, ``gate_enabled`` (default on) and
    ``gate_threshold`` (None: the decision threshold). The gate is off without a classifier;
    the returned gate threshold is a number: the manifest's, else the decision threshold.

    Parameters
    ----------
    manifest : ModelManifest
        Read with :func:`pneumoviewer.core.inference.manifest.read_manifest`.

    Returns
    -------
    PostprocessParams
        ``PostprocessParams()`` when the model has no segmenter.

    """
    seg = getattr(manifest, "segmenter", None)
    decision = decision_threshold_of(manifest)
    if seg is None:
        return PostprocessParams(gate_threshold=decision)
    scheme = getattr(seg, "postprocess_scheme", None) or "components"
    if scheme not in SCHEMES:  # pragma: no cover - the manifest validation comes first
        scheme = "components"
    gate = getattr(seg, "gate_threshold", None)
    return PostprocessParams(
        scheme=scheme,
        bottom_threshold=float(seg.mask_threshold),
        top_threshold=float(getattr(seg, "top_threshold", 0.75)),
        min_area=int(seg.min_area),
        gate_enabled=bool(getattr(seg, "gate_enabled", True)) and manifest.classifier is not None,
        gate_threshold=decision if gate is None else float(gate),
    )
