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

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

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


class Quality(StrEnum):
    """The gate's verdict on one image (ordered: ok < warn < refused)."""

    OK = "ok"
    WARN = "warn"
    REFUSED = "refused"

    @property
    def rank(self) -> int:
        """0 for ok, 1 for warn, 2 for refused."""
        return _RANK[self]


_RANK = {Quality.OK: 0, Quality.WARN: 1, Quality.REFUSED: 2}


@dataclass(frozen=True, slots=True)
class Reason:
    """One finding: its level, a stable code (for filters and tests) and plain words."""

    level: Quality
    code: str
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class QualityResult:
    """The gate's answer for one image.

    Attributes
    ----------
    level : Quality
        The worst level among the reasons (ok when there are none).
    reasons : tuple of Reason
        Worst first. An ok result may carry notes (level ok), e.g. "OOD check skipped".
    """

    level: Quality = Quality.OK
    reasons: tuple[Reason, ...] = ()

    @classmethod
    def of(cls, reasons: list[Reason] | tuple[Reason, ...]) -> QualityResult:
        """Build a result from findings: level = the worst, reasons sorted worst first."""
        seen: set[str] = set()
        unique = []
        for r in sorted(reasons, key=lambda r: -r.level.rank):  # stable: keeps rule order
            if r.text not in seen:
                seen.add(r.text)
                unique.append(r)
        level = unique[0].level if unique else Quality.OK
        return cls(level, tuple(unique))

    @property
    def refused(self) -> bool:
        """True when the AI answer must be withheld."""
        return self.level is Quality.REFUSED

    @property
    def codes(self) -> tuple[str, ...]:
        """The reasons' codes, worst first."""
        return tuple(r.code for r in self.reasons)

    @property
    def text(self) -> str:
        """The reasons at the result's own level, joined by "; " ("" when ok)."""
        return "; ".join(r.text for r in self.reasons if r.level is self.level and r.level.rank)

    def __str__(self) -> str:
        return f"{self.level}: {self.text}" if self.text else str(self.level)


def _refuse(code: str, text: str) -> Reason:
    return Reason(Quality.REFUSED, code, text)


def _warn(code: str, text: str) -> Reason:
    return Reason(Quality.WARN, code, text)


def combine(*results: QualityResult | None) -> QualityResult:
    """Merge results (``None`` skipped): the worst level, all reasons worst first, no repeats."""
    reasons: list[Reason] = []
    for res in results:
        if res is not None:
            reasons.extend(res.reasons)
    return QualityResult.of(reasons)


# --- intended use ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class IntendedUse:
    """Which images a model is meant for (``manifest.json`` field ``intended_use``).

    Attributes
    ----------
    age_min, age_max : int or None
        Age range in years, inclusive (None: open). Outside it -> warn.
    views : tuple of str
        View Position values the model reads (upper case), e.g. ``("PA", "AP")``.
    modalities : tuple of str
        DICOM modalities it reads, e.g. ``("CR", "DX")``.
    body_parts : tuple of str
        Body Part Examined values it reads, e.g. ``("CHEST",)``.
    stated : bool
        True when the manifest states it; False for the defaults (the card says so).
    """

    age_min: int | None = 18
    age_max: int | None = None
    views: tuple[str, ...] = ("PA", "AP")
    modalities: tuple[str, ...] = ("CR", "DX")
    body_parts: tuple[str, ...] = ("CHEST",)
    stated: bool = field(default=False, compare=False)

    def to_dict(self) -> dict:
        """JSON-ready dict (``stated`` is not written: a written one is stated)."""
        return {
            "age_min": self.age_min,
            "age_max": self.age_max,
            "views": list(self.views),
            "modalities": list(self.modalities),
            "body_parts": list(self.body_parts),
        }

    def describe(self) -> str:
        """One line for the model card, e.g. "adults 18 y and older; PA, AP; CR, DX; CHEST"."""
        if self.age_min is not None and self.age_max is not None:
            ages = f"ages {self.age_min}-{self.age_max} y"
        elif self.age_min is not None:
            ages = f"ages {self.age_min} y and older"
        elif self.age_max is not None:
            ages = f"ages up to {self.age_max} y"
        else:
            ages = "any age"
        text = (
            f"{ages}; views {', '.join(self.views)}; modalities {', '.join(self.modalities)}; "
            f"body part {', '.join(self.body_parts)}"
        )
        return text if self.stated else text + " (defaults: the manifest does not state it)"


#: Used when a manifest does not state its intended use: adult frontal chest radiographs.
DEFAULT_INTENDED_USE = IntendedUse()


def parse_intended_use(data, path) -> IntendedUse | None:
    """Validate the manifest's ``intended_use`` field (None/absent -> None: defaults apply).

    Parameters
    ----------
    data : Any
        The parsed JSON value: ``{"age_min": 18, "age_max": null, "views": ["PA", "AP"],
        "modalities": ["CR", "DX"], "body_parts": ["CHEST"]}``; missing keys take the
        defaults of :class:`IntendedUse`.
    path : path-like
        The manifest, named in errors.

    Raises
    ------
    ModelLoadError
        Naming the file and the field ``intended_use.<key>``.
    """
    from pneumoviewer.core.errors import ModelLoadError

    if data is None:
        return None

    def fail(key: str, problem: str) -> ModelLoadError:
        return ModelLoadError(path, f"field 'intended_use{'.' + key if key else ''}': {problem}")

    if not isinstance(data, dict):
        raise fail("", f"must be a JSON object, got {type(data).__name__}")
    kw: dict = {"stated": True}
    for key in ("age_min", "age_max"):
        value = data.get(key, getattr(DEFAULT_INTENDED_USE, key))
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 150
        ):
            raise fail(key, f"must be a whole number of years (0-150) or null, got {value!r:.30}")
        kw[key] = value
    if kw["age_min"] is not None and kw["age_max"] is not None and kw["age_min"] > kw["age_max"]:
        raise fail("age_min", f"{kw['age_min']} is above age_max {kw['age_max']}")
    for key in ("views", "modalities", "body_parts"):
        value = data.get(key, list(getattr(DEFAULT_INTENDED_USE, key)))
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v.strip() for v in value)
        ):
            raise fail(key, f"must be a non-empty list of strings, got {value!r:.40}")
        kw[key] = tuple(v.strip().upper() for v in value)
    return IntendedUse(**kw)


def check_header(metadata, intended: IntendedUse | None = None) -> QualityResult:
    """Header rules (see :func:`pneumoviewer.core.quality_header.check_header`)."""
    from pneumoviewer.core.quality_header import check_header as _check

    return _check(metadata, intended)


def parse_age_years(text: str | None) -> int | None:
    """Patient's Age in years (see :func:`pneumoviewer.core.quality_header.parse_age_years`)."""
    from pneumoviewer.core.quality_header import parse_age_years as _parse

    return _parse(text)


def check_pixels(pixels: np.ndarray, *, padding: np.ndarray | None = None) -> QualityResult:
    """Pixel rules (see :func:`pneumoviewer.core.quality_pixels.check_pixels`)."""
    from pneumoviewer.core.quality_pixels import check_pixels as _check

    return _check(pixels, padding=padding)


# --- the whole gate ----------------------------------------------------------------------


def assess(
    metadata,
    pixels: np.ndarray | None = None,
    *,
    padding: np.ndarray | None = None,
    intended: IntendedUse | None = None,
    ood=None,
    features: np.ndarray | None = None,
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

    Returns
    -------
    QualityResult
    """
    parts = [check_header(metadata, intended)]
    if pixels is not None:
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
