"""Analysis state kept by the GUI: cached results, post-processing, per-image and folder numbers.

Pure Python + NumPy (no widgets), so it is tested directly.
"""

from __future__ import annotations

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
    state: str = ""  # core.decision state text ("positive, not localised"...)


def prediction_mask(
    store: ResultStore, image_id: str, params: Any, *, decision_threshold: float = 0.5
) -> np.ndarray | None:
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
    return postprocess(
        prob,
        params,
        class_probability=None if s is None else s.class_probability,
        decision_threshold=decision_threshold,
    )


def image_stats(
    mask: np.ndarray | None,
    truth: np.ndarray | None,
    *,
    class_probability: float | None,
    decision_threshold: float,
) -> ImageStats:
    """Area, Dice (``empty_score=1``, the Kaggle convention), the call and its state.

    The call is :mod:`pneumoviewer.core.decision`'s rule: with a classifier ``p >=
    decision_threshold``, without one "mask not empty".
    """
    from pneumoviewer.core.decision import decision_from_mask
    from pneumoviewer.core.metrics import dice

    d = decision_from_mask(
        class_probability=class_probability, mask=mask, decision_threshold=decision_threshold
    )
    score = None
    if mask is not None and truth is not None:
        score = float(dice(mask, truth, empty_score=1.0))
    return ImageStats(d.area, score, bool(d.positive), str(d.state))


def outcome(record: dict[str, Any], image_id: str = "") -> Any:
    """Return one viewer record as a :class:`pneumoviewer.core.metrics.ImageOutcome`.

    ``record``: ``truth`` (bool or None), ``score`` (the classifier's probability or None),
    ``positive`` (bool or None: the core decision's call), ``dice`` (float or None),
    optional ``refused`` (bool) and ``image_id``.
    """
    from pneumoviewer.core.metrics import ImageOutcome

    positive = record.get("positive")
    return ImageOutcome(
        image_id=str(record.get("image_id", image_id)),
        truth_positive=None if record.get("truth") is None else bool(record["truth"]),
        probability=record.get("score"),
        positive=None if positive is None else bool(positive),
        dice=record.get("dice"),
        refused=bool(record.get("refused", False)),
    )


def summary_panel_numbers(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the Summary panel's numbers: core.metrics.summarise of the records.

    Parameters
    ----------
    records : list of dict
        One per analysed image (see :func:`outcome`).

    Returns
    -------
    dict or None
        :meth:`pneumoviewer.core.metrics.FolderSummary.to_dict` (the keys and numbers of
        ``pneumoviewer predict``'s ``metrics.json``; undefined values None); None when no
        analysed image has ground truth.

    """
    from pneumoviewer.core.metrics import summarise

    summary = summarise(outcome(r, str(i)) for i, r in enumerate(records))
    if summary.n_evaluated == 0:
        return None
    return summary.to_dict()
