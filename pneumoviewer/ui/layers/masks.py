"""The mask layers: ground truth, prediction and the difference (TP / FP / FN) view.

All three read their look from ``view_model.overlay`` (visibility, fill/outline, opacity,
colours, difference toggle), so the existing controls and actions drive them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pneumoviewer.core.overlay import (
    DIFFERENCE_COLORS,
    ClassPaint,
    MaskPaint,
    Paint,
    difference_code,
)
from pneumoviewer.ui.layers.base import Layer, Scene


def difference_active(overlay: Any, scene: Scene) -> bool:
    """Return whether the difference view replaces both mask layers (on, both shown)."""
    return (
        overlay.difference
        and overlay.show_truth
        and overlay.show_prediction
        and scene.truth is not None
        and scene.prediction is not None
    )


class _OverlayLayer(Layer):
    def watched(self) -> Iterable[Any]:
        yield self.vm.overlay.events


class TruthLayer(_OverlayLayer):
    """The ground-truth mask (purple by default; G toggles it)."""

    key, title, order = "truth", "Ground truth", 10

    def paints(self, scene: Scene) -> list[Paint]:  # noqa: D102
        o = self.vm.overlay
        if scene.truth is None or not o.show_truth or difference_active(o, scene):
            return []
        return [MaskPaint(self.title, scene.truth, tuple(o.truth_color), o.opacity, o.outline)]


class PredictionLayer(_OverlayLayer):
    """The post-processed prediction (yellow by default; P toggles it), over the truth."""

    key, title, order = "prediction", "Prediction", 20

    def paints(self, scene: Scene) -> list[Paint]:  # noqa: D102
        o = self.vm.overlay
        if scene.prediction is None or not o.show_prediction or difference_active(o, scene):
            return []
        return [MaskPaint(self.title, scene.prediction, tuple(o.pred_color), o.opacity, o.outline)]


class DifferenceLayer(_OverlayLayer):
    """True positive, false positive, false negative pixels in three colours (D)."""

    key, title, order = "difference", "Difference", 30
    opacity = 0.55

    def paints(self, scene: Scene) -> list[Paint]:  # noqa: D102
        if not difference_active(self.vm.overlay, scene):
            return []
        classes = (
            ("True positive", DIFFERENCE_COLORS["tp"]),
            ("False positive", DIFFERENCE_COLORS["fp"]),
            ("False negative", DIFFERENCE_COLORS["fn"]),
        )
        return [ClassPaint(difference_code(scene.truth, scene.prediction), classes, self.opacity)]
