"""Layer base class, the scene it draws from, and the stack the compositor draws."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from pneumoviewer.core.overlay import Paint, compose_on, compose_with_legend

if TYPE_CHECKING:
    from pneumoviewer.ui.view_model import ViewModel


@dataclass(frozen=True, slots=True, eq=False)
class Scene:
    """The arrays of one image that layers draw from (no widgets, no view state).

    Attributes
    ----------
    shape : tuple of int
        ``(H, W)`` of the displayed image.
    truth : numpy.ndarray or None
        bool (H, W) ground truth; None when unknown.
    prediction : numpy.ndarray or None
        bool (H, W) post-processed, gated mask (``Decision.mask``); None before analysis
        or without a segmenter.
    probability : numpy.ndarray or None
        float32 (H, W) probability map; None before analysis.
    extras : dict
        Per-layer data keyed by ``Layer.key`` (heat-map, reader mask ...).

    """

    shape: tuple[int, int]
    truth: np.ndarray | None = None
    prediction: np.ndarray | None = None
    probability: np.ndarray | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Layer:
    """One overlay: what it draws (:meth:`paints`) and its controls.

    Parameters
    ----------
    view_model : ViewModel
        Shared state (layers read ``view_model.overlay`` and their own ``state``).

    """

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    order: ClassVar[int] = 100

    def __init__(self, view_model: ViewModel) -> None:
        self.vm = view_model
        self.state: Any = None

    def paints(self, scene: Scene) -> list[Paint]:
        """Return the core paints for ``scene`` (bottom first); ``[]`` draws nothing."""
        raise NotImplementedError

    def watched(self) -> Iterable[Any]:
        """Signals whose emission needs a repaint (default: all fields of ``state``)."""
        if self.state is not None and hasattr(self.state, "events"):
            yield self.state.events

    def make_controls(self, parent: Any, actions: dict[str, Any]) -> Any:
        """Return a QWidget for the controls dock, or None (the default)."""
        return None


class LayerStack:
    """The layers of the viewer, drawn by the one compositor.

    Parameters
    ----------
    layers : sequence of Layer
        Drawn by ``order`` (bottom first), ties in the given order.

    """

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = sorted(layers, key=lambda layer: layer.order)

    def __iter__(self):
        return iter(self.layers)

    def get(self, key: str) -> Layer | None:
        """Return the layer with ``key`` (None when absent)."""
        return next((layer for layer in self.layers if layer.key == key), None)

    def paints(self, scene: Scene) -> list[Paint]:
        """All layers' paints for ``scene``, bottom first."""
        out: list[Paint] = []
        for layer in self.layers:
            out.extend(layer.paints(scene))
        return out

    def render(self, scene: Scene) -> tuple[np.ndarray, list[tuple[str, tuple[int, int, int]]]]:
        """Return the transparent RGBA overlay (uint8 (H, W, 4)) and its legend."""
        return compose_with_legend(scene.shape, self.paints(scene))

    def render_on(self, base: np.ndarray, scene: Scene) -> np.ndarray:
        """Return ``base`` (uint8 (H, W)) with every layer blended in (opaque RGBA)."""
        return compose_on(base, self.paints(scene))
