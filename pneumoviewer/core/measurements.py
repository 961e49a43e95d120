"""Measurements on a radiograph: ruler distances and mask areas in physical units.

Pure numpy, no Qt. Pixel spacing follows DICOM: ``(row spacing, column spacing)`` in mm,
i.e. the distance between the centres of adjacent *rows* (vertical) and adjacent *columns*
(horizontal). A point is ``(x, y)`` = (column, row) in image pixels, as in the canvas.

Mask comparisons use :func:`pneumoviewer.core.metrics.dice` (one Dice for everyone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pneumoviewer.core.metrics import dice

__all__ = [
    "Distance",
    "MaskComparison",
    "area_cm2",
    "compare_masks",
    "format_area",
    "measure_distance",
]

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Distance:
    """A ruler length.

    ``value`` is in ``unit`` ("mm" when a pixel spacing is known, else "px");
    ``source`` names the DICOM attribute the spacing came from (None for px).
    """

    value: float
    unit: str
    source: str | None = None

    def label(self) -> str:
        """Return the text shown next to the ruler, e.g. ``"42.1 mm (Imager Pixel Spacing)"``."""
        if self.unit == "px":
            return f"{self.value:.1f} px (no pixel spacing)"
        text = f"{self.value:.1f} {self.unit}"
        return f"{text} ({self.source})" if self.source else text


def _valid_spacing(spacing: tuple[float, float] | None) -> tuple[float, float] | None:
    if spacing is None:
        return None
    try:
        row, col = float(spacing[0]), float(spacing[1])
    except (TypeError, ValueError, IndexError):
        return None
    if not (math.isfinite(row) and math.isfinite(col)) or row <= 0 or col <= 0:
        return None
    return row, col


def measure_distance(
    p0: Point,
    p1: Point,
    spacing: tuple[float, float] | None,
    source: str | None = None,
) -> Distance:
    """Length of the segment ``p0``–``p1``.

    Parameters
    ----------
    p0, p1 : tuple of float
        End points ``(x, y)`` = (column, row) in image pixels (sub-pixel allowed).
    spacing : tuple of float or None
        ``(row spacing, column spacing)`` in mm; None (or non-positive) for pixels only.
    source : str or None
        Where the spacing came from, e.g. ``"Pixel Spacing"`` or ``"Imager Pixel Spacing"``.

    Returns
    -------
    Distance
        In mm (``dx * column spacing``, ``dy * row spacing``) when the spacing is usable,
        else in px.

    """
    dx, dy = float(p1[0]) - float(p0[0]), float(p1[1]) - float(p0[1])
    sp = _valid_spacing(spacing)
    if sp is None:
        return Distance(math.hypot(dx, dy), "px", None)
    row, col = sp
    return Distance(math.hypot(dx * col, dy * row), "mm", source)


def area_cm2(pixels: int, spacing: tuple[float, float] | None) -> float | None:
    """Area of ``pixels`` pixels in cm² (None when the spacing is unknown or unusable)."""
    sp = _valid_spacing(spacing)
    if sp is None:
        return None
    return pixels * sp[0] * sp[1] / 100.0


def format_area(pixels: int | None, cm2: float | None) -> str:
    """Format an area, e.g. ``"12.35 cm² (8,123 px)"``, ``"8,123 px"``, or ``"—"``."""
    if pixels is None:
        return "—"
    if cm2 is None:
        return f"{pixels:,} px"
    return f"{cm2:.2f} cm² ({pixels:,} px)"


@dataclass(frozen=True, slots=True)
class MaskComparison:
    """Prediction against ground truth on one image (pixel counts; areas in cm² or None)."""

    truth_px: int
    predicted_px: int
    true_positive_px: int
    false_positive_px: int
    false_negative_px: int
    dice: float
    truth_cm2: float | None
    predicted_cm2: float | None

    def rows(self) -> list[tuple[str, str]]:
        """Return ``(label, value)`` rows for an info panel."""
        return [
            ("Ground-truth area", format_area(self.truth_px, self.truth_cm2)),
            ("Predicted area", format_area(self.predicted_px, self.predicted_cm2)),
            ("False positive", f"{self.false_positive_px:,} px"),
            ("False negative", f"{self.false_negative_px:,} px"),
            ("Dice", f"{self.dice:.3f}"),
        ]


def compare_masks(
    prediction: np.ndarray,
    truth: np.ndarray,
    spacing: tuple[float, float] | None = None,
    *,
    empty_score: float = 1.0,
) -> MaskComparison:
    """Areas, false-positive / false-negative counts and Dice of a prediction.

    Parameters
    ----------
    prediction, truth : np.ndarray
        bool (H, W), same shape (non-bool is compared with 0 by :func:`dice`).
    spacing : tuple of float or None
        ``(row spacing, column spacing)`` in mm; None: areas in px only.
    empty_score : float
        Dice when both masks are empty (1.0: the SIIM-ACR convention).

    Returns
    -------
    MaskComparison

    Raises
    ------
    ValueError
        Shapes differ, or a mask is not boolean/numeric.

    """
    d = dice(prediction, truth, empty_score=empty_score)  # validates shapes and dtypes
    p, t = np.asarray(prediction), np.asarray(truth)
    p = p if p.dtype == np.bool_ else p != 0
    t = t if t.dtype == np.bool_ else t != 0
    truth_px = int(np.count_nonzero(t))
    pred_px = int(np.count_nonzero(p))
    tp = int(np.count_nonzero(p & t))
    return MaskComparison(
        truth_px=truth_px,
        predicted_px=pred_px,
        true_positive_px=tp,
        false_positive_px=pred_px - tp,
        false_negative_px=truth_px - tp,
        dice=float(d),
        truth_cm2=area_cm2(truth_px, spacing),
        predicted_cm2=area_cm2(pred_px, spacing),
    )
