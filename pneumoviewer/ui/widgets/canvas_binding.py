"""Two-way binding of :class:`~pneumoviewer.ui.image_canvas.ImageCanvas` to the display state.

``ViewModel.display`` (:mod:`pneumoviewer.ui.view_model`) holds window/level in stored
units (None: the image's default), invert, lock, CLAHE, zoom/pan, the annotation toggles
and the ruler. Model -> canvas: each field's event calls the canvas setter. Canvas ->
model: user changes (right-drag, presets, zoom, the ruler's context menu) are written back
with a guard, so the echo of our own write is ignored (no loops, no double redraws).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

from pneumoviewer.ui.windowing import Window

#: Annotation toggles of the display state and the canvas annotation they drive.
ANNOTATION_FIELDS = {
    "show_orientation": "orientation",
    "show_patient": "patient",
    "show_zoom": "zoom",
    "show_pixel_value": "pixel_value",
}


class DisplayBinding:
    """Keep a canvas and a ``DisplayState`` in step (see the module docstring).

    Parameters
    ----------
    canvas : ImageCanvas
        The canvas.
    display : DisplayState
        ``view_model.display`` (a psygnal evented dataclass).

    """

    def __init__(self, canvas: Any, display: Any) -> None:
        self.canvas = canvas
        self.display = display
        self._writing = False
        self._links: list[tuple[Any, Callable]] = []
        ev = display.events
        self._link(ev.window_center, self._on_window)
        self._link(ev.window_width, self._on_window)
        self._link(ev.invert, self._guarded(canvas.set_invert))
        self._link(ev.lock, self._guarded(lambda v: setattr(canvas, "locked", bool(v))))
        self._link(ev.clahe, self._guarded(lambda v: canvas.set_contrast(bool(v))))
        self._link(ev.zoom, self._on_zoom)
        self._link(ev.ruler, self._guarded(lambda v: canvas.set_ruler(bool(v))))
        for name, key in ANNOTATION_FIELDS.items():
            self._link(
                getattr(ev, name),
                self._guarded(lambda v, key=key: canvas.set_annotation_visible(key, bool(v))),
            )
        canvas.ruler_toggled.connect(self._on_ruler_toggled)
        canvas.zoom_changed.connect(self._on_zoom_changed)
        self.pull()

    # --- model -> canvas -------------------------------------------------------------------
    def pull(self) -> None:
        """Set the canvas from every field of the display state."""
        d, c = self.display, self.canvas
        c.locked = bool(d.lock)
        c.invert = bool(d.invert)
        for name, key in ANNOTATION_FIELDS.items():
            c.set_annotation_visible(key, bool(getattr(d, name)))
        c.set_contrast(bool(d.clahe))
        self._on_window()
        if bool(d.ruler) != c.ruler.active:
            c.set_ruler(bool(d.ruler))

    def _guarded(self, fn: Callable[[Any], Any]) -> Callable[..., None]:
        def handler(value: Any, *_old: Any) -> None:
            if not self._writing:
                fn(value)

        return handler

    def _on_window(self, *_args: Any) -> None:
        if self._writing:
            return
        c, w = self.display.window_center, self.display.window_width
        window = None if c is None or w is None else Window(float(c), float(w))
        if self.canvas.contrast:
            self.canvas._window = window  # applies when CLAHE is switched off
        elif window != self.canvas._window:
            self.canvas.set_window(window)

    def _on_zoom(self, zoom: Any, *_old: Any) -> None:
        if self._writing:
            return
        if zoom is None:
            self.canvas.fit()
            return
        current = self.canvas.zoom
        if current is None or not math.isclose(current, float(zoom), rel_tol=1e-3):
            pan = self.display.pan
            self.canvas.set_zoom(float(zoom), tuple(pan) if pan is not None else None)

    # --- canvas -> model -------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing_model(self) -> Iterator[None]:
        self._writing = True
        try:
            yield
        finally:
            self._writing = False

    def write(self, name: str, value: Any) -> None:
        """Set ``display.<name>`` without echoing the change back to the canvas."""
        with self._writing_model():
            setattr(self.display, name, value)

    def read(self, name: str) -> Any:
        """Return ``display.<name>``."""
        return getattr(self.display, name)

    def write_window(self, window: Window | None) -> None:
        """Store ``window`` (stored units; None: the default) in the display state."""
        with self._writing_model():
            self.display.window_center = None if window is None else float(window.center)
            self.display.window_width = None if window is None else float(window.width)

    def _on_ruler_toggled(self, on: bool) -> None:
        self.write("ruler", bool(on))

    def _on_zoom_changed(self, zoom: float) -> None:
        center = self.canvas.view.viewRect().center()
        with self._writing_model():
            self.display.zoom = float(zoom)
            self.display.pan = (float(center.x()), float(center.y()))

    # --- teardown --------------------------------------------------------------------------
    def _link(self, signal: Any, slot: Callable) -> None:
        signal.connect(slot)
        self._links.append((signal, slot))

    def disconnect(self) -> None:
        """Stop following the display state."""
        for signal, slot in self._links:
            signal.disconnect(slot)
        self._links.clear()
        self.canvas.ruler_toggled.disconnect(self._on_ruler_toggled)
        self.canvas.zoom_changed.disconnect(self._on_zoom_changed)
