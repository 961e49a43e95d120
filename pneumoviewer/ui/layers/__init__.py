"""Overlay layers: one class per thing drawn over the radiograph.

Recipe -- a new layer (the heat-map of #10, the reader's mask of #9) is one class plus
its controls, nothing else:

1. Write ``class HeatmapLayer(Layer)`` in a module of this package:
   - ``key = "heatmap"`` (unique; also the settings key), ``title = "Heat-map"``,
     ``order`` (draw order, bottom first: truth 10, prediction 20, difference 30);
   - ``paints(scene)`` returns the core paints to draw
     (:class:`~pneumoviewer.core.overlay.MaskPaint` for a bool mask,
     :class:`~pneumoviewer.core.overlay.ClassPaint` for a few classes,
     :class:`~pneumoviewer.core.overlay.RGBAPaint` for anything continuous), or ``[]``.
     Read what you draw from ``scene`` (arrays of the image on screen: ``truth``,
     ``prediction``, ``probability``, and ``scene.extras[key]`` for your own data) and
     how you draw it from your own evented state (below) -- never from widgets;
   - its state: a ``psygnal.evented`` dataclass in ``self.state`` (visible, opacity ...);
     :meth:`Layer.watched` yields the signals that need a repaint (default: every field
     of ``self.state``);
   - ``make_controls(parent, actions)`` (optional) returns the QWidget put in the
     "Layers" box of the controls dock, bound to ``self.state`` with
     :mod:`pneumoviewer.ui.bind` (Qt is imported inside the method only).
2. Add the class to :data:`LAYER_TYPES` below.
3. Data that is not one of the Scene's arrays goes in ``scene.extras[key]``: register
   ``{key: callable(image_id) -> array | None}`` in ``RenderController.extra_sources``
   (the screen) and ``ExportController.extra_sources`` (the export; called in the GUI
   thread when the export starts) from the controller that owns the data.
4. Controls: ``MainWindow`` puts each layer's ``make_controls`` widget in the Controls
   dock's "Layers" box; checkable actions for it go in ``ui/actions.py`` and are bound to
   its state with ``bind_checkable``.

The compositor (:func:`pneumoviewer.core.overlay.compose`) draws the paints of all layers
in ``order``; the legend (:func:`pneumoviewer.core.overlay.legend`) names every colour
that appears, overlaps included; the PNG export builds the same layers on a snapshot of
the view model (``ViewModel.snapshot``) and composes their paints at full resolution
(``core.export``), so the layer appears in exports with no extra drawing code.
"""

from __future__ import annotations

from pneumoviewer.ui.layers.base import Layer, LayerStack, Scene
from pneumoviewer.ui.layers.heatmap import HeatmapLayer
from pneumoviewer.ui.layers.masks import DifferenceLayer, PredictionLayer, TruthLayer
from pneumoviewer.ui.layers.reader import ReaderLayer

#: The layer classes the viewer builds, in any order (drawn by ``Layer.order``).
LAYER_TYPES: tuple[type[Layer], ...] = (
    TruthLayer, PredictionLayer, DifferenceLayer, ReaderLayer, HeatmapLayer,
)  # fmt: skip

__all__ = [
    "LAYER_TYPES",
    "DifferenceLayer",
    "HeatmapLayer",
    "Layer",
    "LayerStack",
    "PredictionLayer",
    "ReaderLayer",
    "Scene",
    "TruthLayer",
]
