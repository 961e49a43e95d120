"""The input-quality gate: is this image one the model was made for (Qt- and torch-free).

Every image gets a :class:`QualityResult`: **ok**, **warn** (the AI answer is shown with the
reasons) or **refused** (the AI answer is withheld: "not assessed: REASON"; a reader may
override it for that image). Three families of rules, cheapest first:

* :func:`check_header` (:mod:`.quality_header`) — header facts only, for the scan: modality,
  Body Part Examined (when present), View Position (lateral and other non-frontal views),
  the patient's age against the model's :class:`IntendedUse`, and the matrix size.
* :func:`check_pixels` (rules in :mod:`.quality_pixels`) — once an image is loaded (~5 ms
  at 1024²): blank or near-constant, very low dynamic range, mostly padding, noise instead
  of anatomy, and two orientation heuristics for frontal chest films (rotated by 90°, grey
  scale inverted).
* :func:`check_ood` — the model's own out-of-distribution score (see
  :mod:`pneumoviewer.core.inference.ood`), when the model directory carries statistics.

Combine them with :func:`combine`. The thresholds are module constants, each with the
measurement behind it. The orientation heuristics were checked on the ten bundled SIIM
samples only (all ten upright images pass; their copies turned 90° or inverted are all
flagged): they assume a frontal chest film and are a safety net, not a classifier.
"""

from __future__ import annotations

import numpy as np

from pneumoviewer.core.quality_header import check_header, parse_age_years
from pneumoviewer.core.quality_pixels import check_pixels
from pneumoviewer.core.quality_types import (
    DEFAULT_INTENDED_USE,
    IntendedUse,
    Quality,
    QualityResult,
    Reason,
    _refuse,
    combine,
    parse_intended_use,
)

__all__ = [
    "DEFAULT_INTENDED_USE",
    "IntendedUse",
    "Quality",
    "QualityResult",
    "Reason",
    "assess",
    "check_header",
    "check_ood",
    "check_pixels",
    "combine",
    "decision_text",
    "parse_age_years",
    "parse_intended_use",
    "withhold",
]


# --- the whole gate ----------------------------------------------------------------------


def assess(
    metadata,
    pixels: np.ndarray | None = None,
    *,
    padding: np.ndarray | None = None,
    intended: IntendedUse | None = None,
    ood=None,
    features: np.ndarray | None = None,
    pixel_quality: QualityResult | None = None,
) -> QualityResult:
    """Run every rule that has its inputs: header, pixels (once loaded), OOD (once analysed).

    Parameters
    ----------
    metadata : XrayMetadata
        The image's header facts.
    pixels, padding : numpy.ndarray or None
        ``XrayImage.pixels`` / ``.padding`` (None: not loaded yet, pixel rules skipped).
    intended : IntendedUse or None
        ``manifest.effective_intended_use`` (None: the defaults).
    ood : OodDetector or None
        ``InferenceEngine.ood`` (None: the model has no statistics -> an "ood-skipped" note
        when ``features`` are given).
    features : numpy.ndarray or None
        ``Prediction.features`` (None: not analysed yet, OOD rule skipped).
    pixel_quality : QualityResult or None
        ``check_pixels(pixels, padding=padding)`` when already computed (a batch run does
        it in its decode threads, #11 §1); then ``pixels`` is not looked at again.

    Returns
    -------
    QualityResult
    """
    parts = [check_header(metadata, intended)]
    if pixel_quality is not None:
        parts.append(pixel_quality)
    elif pixels is not None:
        parts.append(check_pixels(pixels, padding=padding))
    if features is not None:
        parts.append(check_ood(None, None) if ood is None else ood.check(features)[1])
    return combine(*parts)


def withhold(decision):
    """Return the decision shown for a refused image: "not assessed", no call, no mask.

    The classifier's probability is kept for the record (predict's CSV), never as a call.
    """
    from pneumoviewer.core.decision import Decision, DecisionState

    return Decision(DecisionState.NOT_ASSESSED, None, decision.probability, None, None)


def decision_text(decision, quality: QualityResult | None) -> str:
    """Return the decision as shown: ``"not assessed: REASON"`` when refused, else its state."""
    if quality is not None and quality.refused:
        return f"not assessed: {quality.text}"
    return str(decision.state)


# --- out-of-distribution -----------------------------------------------------------------


def check_ood(distance: float | None, threshold: float | None) -> QualityResult:
    """Rule on the model's out-of-distribution distance.

    Parameters
    ----------
    distance : float or None
        Mahalanobis distance of the image's pooled classifier features (None: not computed).
    threshold : float or None
        The model's threshold (None: the model has no OOD statistics).

    Returns
    -------
    QualityResult
        Refused above the threshold; ok with a note when the check was skipped.
    """
    if distance is None or threshold is None:
        return QualityResult.of(
            [
                Reason(
                    Quality.OK,
                    "ood-skipped",
                    "out-of-distribution check skipped: the model has no OOD statistics",
                )
            ]
        )
    if not np.isfinite(distance) or distance > threshold:
        return QualityResult.of(
            [
                _refuse(
                    "ood",
                    f"unlike the model's training images "
                    f"(distance {distance:.1f} > threshold {threshold:.1f})",
                )
            ]
        )
    return QualityResult()
