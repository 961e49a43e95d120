"""The heat-map layer (#10): the classifier's Grad-CAM over the image (toggle H).

One class per the recipe of :mod:`pneumoviewer.ui.layers`: it draws
``scene.extras["heatmap"]`` -- the float32 (H, W) map in [0, 1] of
:meth:`~pneumoviewer.core.inference.InferenceEngine.heatmap`, computed on the inference
worker and registered by :class:`~pneumoviewer.ui.controllers.heatmap.HeatmapController`
-- coloured through a lookup table, alpha growing with the value (cold regions stay
transparent, as :func:`pneumoviewer.core.heatmap.heatmap_rgba`).

The PNG export builds its layers afresh on a view-model snapshot, so the layer's own
state is not there: the export's extra source hands a :class:`HeatmapFrame` (the map
plus the screen's colour map and opacity) instead of the bare map, and the layer draws
a frame with the frame's look.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from psygnal import evented

from pneumoviewer.core.heatmap import JET_LUT
from pneumoviewer.core.overlay import Paint, RGBAPaint
from pneumoviewer.ui.layers.base import Layer, Scene


def _ramp(points: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    """uint8 (256, 3) LUT interpolated linearly between ``(position, rgb)`` points."""
    x = np.linspace(0.0, 1.0, 256)
    pos = [p for p, _ in points]
    out = np.stack([np.interp(x, pos, [c[i] for _, c in points]) for i in range(3)], axis=1)
    return np.round(out).astype(np.uint8)


#: Colour maps offered (name -> uint8 (256, 3)); "jet" is the one ``predict --cam`` writes.
COLORMAPS: dict[str, np.ndarray] = {
    "jet": JET_LUT,
    "hot": _ramp(
        [(0.0, (60, 0, 0)), (0.4, (230, 30, 0)), (0.75, (255, 200, 0)), (1.0, (255, 255, 230))]
    ),
    "inferno": _ramp(
        [
            (0.0, (20, 11, 52)),
            (0.25, (101, 21, 110)),
            (0.5, (188, 55, 84)),
            (0.75, (249, 142, 9)),
            (1.0, (252, 255, 164)),
        ]
    ),
}

#: The legend entry's name (its colour: the hot end of the map).
LEGEND_NAME = "Heat-map (Grad-CAM)"


@evented
@dataclass
class HeatmapLayerState:
    """How the heat-map is drawn.

    Attributes
    ----------
    visible : bool
        Drawn at all (H); turning it on asks for the map of the image on screen.
    colormap : str
        A key of :data:`COLORMAPS`.
    opacity : float
        Alpha of the hottest pixels, 0..1 (alpha = opacity x value).
    in_export : bool
        Draw it in the PNG export too (when shown on screen and computed).

    """

    visible: bool = False
    colormap: str = "jet"
    opacity: float = 0.5
    in_export: bool = True


@dataclass(frozen=True, slots=True, eq=False)
class HeatmapFrame:
    """A map with the look it is drawn with (what the export's extra source hands over)."""

    cam: np.ndarray
    colormap: str = "jet"
    opacity: float = 0.5


def quantise_heatmap(cam: np.ndarray) -> np.ndarray:
    """Return ``cam`` (float in [0, 1]) as uint8 0..255: the LUT index, 1 byte a pixel."""
    v = np.clip(np.nan_to_num(np.asarray(cam, np.float32)), 0.0, 1.0)
    return np.round(v * 255.0).astype(np.uint8)


def heatmap_paint(cam: np.ndarray, colormap: str, opacity: float) -> RGBAPaint:
    """Return the RGBA paint of ``cam`` in ``colormap``.

    ``cam``: float (H, W) in [0, 1], or its :func:`quantise_heatmap` uint8 (the same
    picture: the colour is looked up at that index either way). Alpha is ``opacity x
    value``, as :func:`pneumoviewer.core.heatmap.heatmap_rgba`.
    """
    lut = COLORMAPS.get(colormap, JET_LUT)
    idx = cam if cam.dtype == np.uint8 else quantise_heatmap(cam)
    alpha = np.arange(256, dtype=np.float32) * float(np.clip(opacity, 0.0, 1.0))
    rgba = np.empty((*idx.shape, 4), np.uint8)
    rgba[..., :3] = lut[idx]
    rgba[..., 3] = np.round(alpha).astype(np.uint8)[idx]
    hot = tuple(int(c) for c in lut[-1 if colormap != "jet" else 224])
    return RGBAPaint(rgba, ((LEGEND_NAME, hot),))


class HeatmapLayer(Layer):
    """The Grad-CAM heat-map (``scene.extras["heatmap"]``), under the masks."""

    key, title, order = "heatmap", "Heat-map", 5

    def __init__(self, view_model: Any) -> None:
        super().__init__(view_model)
        self.state = HeatmapLayerState()

    def paints(self, scene: Scene) -> list[Paint]:  # noqa: D102
        data = scene.extras.get(self.key)
        if isinstance(data, HeatmapFrame):  # the export: the screen's look travels with it
            cam, colormap, opacity = data.cam, data.colormap, data.opacity
        else:
            if not self.state.visible:
                return []
            cam, colormap, opacity = data, self.state.colormap, self.state.opacity
        if cam is None or tuple(cam.shape) != tuple(scene.shape):
            return []
        return [heatmap_paint(cam, colormap, opacity)]

    def make_controls(self, parent: Any, actions: dict[str, Any]) -> Any:
        """Show (H), colour map, opacity, and whether the PNG export carries it."""
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QSlider, QWidget

        from pneumoviewer.ui.bind import bind, bind_checkable, bind_value

        box = QWidget(parent)
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 0, 0, 0)
        show = QCheckBox("Heat-map (H)", box)
        show.setObjectName("heatmapShow")
        show.setToolTip("Grad-CAM of the classifier: where it looked (computed on demand, H)")
        bind_checkable(self.state, "visible", show)
        cmap = QComboBox(box)
        cmap.setObjectName("heatmapColormap")
        cmap.addItems(list(COLORMAPS))
        cmap.setToolTip("Colour map of the heat-map")
        bind(
            self.state,
            "colormap",
            widget=cmap,
            changed=cmap.currentTextChanged,
            set_widget=cmap.setCurrentText,
        )
        opacity = QSlider(Qt.Orientation.Horizontal, box)
        opacity.setObjectName("heatmapOpacity")
        opacity.setRange(0, 100)
        opacity.setToolTip("Heat-map opacity (of its hottest pixels)")
        bind_value(
            self.state,
            "opacity",
            opacity,
            to_model=lambda v: v / 100.0,
            to_widget=lambda v: round(v * 100),
        )
        export = QCheckBox("in PNG export", box)
        export.setObjectName("heatmapInExport")
        export.setToolTip("Draw the heat-map in exported PNGs (when shown and computed)")
        bind_checkable(self.state, "in_export", export)
        grid.addWidget(show, 0, 0)
        grid.addWidget(cmap, 0, 1)
        grid.addWidget(opacity, 1, 0)
        grid.addWidget(export, 1, 1)
        box.setObjectName("heatmapLayerControls")
        return box
