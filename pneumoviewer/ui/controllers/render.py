"""The drawing path: view model + layers -> one compositor -> canvas, legend and read-out.

Every change that can alter the picture (image, contrast, overlay settings, decision
parameters, a new result) ends in :meth:`RenderController.refresh`: the current image's
decision (the core rule, on the cached map), a :class:`~pneumoviewer.ui.layers.Scene`,
the layers' paints, :func:`~pneumoviewer.core.overlay.compose` of the box that can have
changed (:mod:`pneumoviewer.ui.layers.region`), the canvas's overlay item.

The overlay and the read-out follow every slider step; the study list's row of the image
(its Dice and area columns) is repainted at most every :data:`ROW_REPAINT_MS` ms while the
slider moves (the row's numbers are current at once; only the list's repaint waits).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from superqt.utils import qthrottled

from pneumoviewer.core.overlay import compose_with_legend
from pneumoviewer.ui.layers import LAYER_TYPES, LayerStack, Scene
from pneumoviewer.ui.layers.region import drawn_box, redraw
from pneumoviewer.ui.view_model import Readout

log = logging.getLogger(__name__)

#: The list row of the image on screen is repainted at most this often during a drag.
ROW_REPAINT_MS = 100


class RenderController(QObject):
    """Draw the image on screen and its layers; fill the AI read-out.

    Parameters
    ----------
    vm : ViewModel
        Read: ``image``, ``display.clahe``, ``overlay``, ``decision``; written:
        ``analysis.readout``.
    canvas : ImageCanvas
        Where the picture goes.
    analysis : AnalysisController
        The cached results and the decision rule (``decision``, ``update_row``).
    extra_sources : dict or None
        ``{layer key: image_id -> array | None}`` filled into ``Scene.extras`` (the
        heat-map and reader layers register theirs here).
    parent : QObject
        Owner.

    Signals
    -------
    overlay_updated() : the overlay was redrawn.
    first_result_painted() : the first AI result of the session is on screen.

    """

    overlay_updated = Signal()
    first_result_painted = Signal()

    def __init__(
        self,
        vm,
        *,
        canvas,
        analysis,
        extra_sources: dict[str, Callable[[str], Any]] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.vm = vm
        self.canvas = canvas
        self.analysis = analysis
        self.extra_sources = dict(extra_sources or {})
        self.layers = LayerStack([cls(vm) for cls in LAYER_TYPES])
        self.prediction = None  # the current image's post-processed mask
        self._result_painted = False
        self._row_to_repaint: str | None = None
        self._repaint_row_soon = qthrottled(self._repaint_row, timeout=ROW_REPAINT_MS)
        vm.image.events.loaded.connect(self._on_loaded)
        vm.image.events.error.connect(self._on_error)
        vm.display.events.clahe.connect(lambda *_: self._show_pixels(keep_view=True))
        vm.decision.events.connect(lambda *_: self.refresh())
        for layer in self.layers:
            for signal in layer.watched():
                signal.connect(lambda *_: self.refresh())
        analysis.result_arrived.connect(self._on_result)

    def add_layer(self, layer) -> None:
        """Add a layer at run time (drawn by its ``order``)."""
        self.layers = LayerStack([*self.layers, layer])
        for signal in layer.watched():
            signal.connect(lambda *_: self.refresh())
        self.refresh()

    # --- events ------------------------------------------------------------------------------
    def _on_loaded(self, li, *_old) -> None:
        if li is None:
            if self.vm.image.image_id is None and not self.vm.image.error:
                self.canvas.show_message("Scanning…")
            return
        self._show_pixels(keep_view=self.vm.display.lock)
        self.refresh()

    def _on_error(self, text: str, *_old) -> None:
        if text:
            self.canvas.show_message(text)
            self.vm.analysis.readout = Readout()

    def _on_result(self, image_id: str) -> None:
        if image_id == self.vm.image.image_id and self.vm.image.loaded is not None:
            self.refresh()
            if not self._result_painted:
                self._result_painted = True
                self.first_result_painted.emit()

    def display_pixels(self, li):
        """Raw or CLAHE uint8 pixels of ``li`` depending on the contrast mode."""
        return li.clahe if self.vm.display.clahe else li.image.pixels

    def _show_pixels(self, *, keep_view: bool) -> None:
        li = self.vm.image.loaded
        if li is not None:
            # The canvas shows stored values in stored-unit W/L and resets W/L and zoom per
            # image unless locked (H2's ImageCanvas.show_image); CLAHE only swaps the source.
            if self.canvas.current_image is li.image:
                self.canvas.set_contrast(self.vm.display.clahe, li.clahe)
            else:
                self.canvas.show_image(li.image, clahe=li.clahe, contrast=self.vm.display.clahe)
        self.overlay_updated.emit()

    def _draw(self, scene: Scene) -> list:
        """Put the layers' overlay on the canvas; return its legend.

        When the overlay on screen has the scene's shape and is this controller's, only the
        box that can change is recomposed, in place (:func:`~pneumoviewer.ui.layers.region.
        redraw`); otherwise the whole overlay is composed.
        """
        paints = self.layers.paints(scene)
        item, overlay = self.canvas.overlay_item, self.canvas.overlay
        if overlay is not None and overlay.shape[:2] == scene.shape and item.image is overlay:
            entries, rewritten, touched = redraw(overlay, item.touched, paints)
            if rewritten is not None:
                r0, r1, c0, c1 = rewritten
                item.updateImage(rect=(c0, r0, c1 - c0, r1 - r0))
            item.touched = touched
            return entries
        rgba, entries = compose_with_legend(scene.shape, paints)
        self.canvas.set_overlay(rgba, touched=drawn_box(scene.shape, paints))
        return entries

    def _repaint_row(self) -> None:
        image_id, self._row_to_repaint = self._row_to_repaint, None
        if image_id is not None:
            self.analysis.study_list.model.update(image_id)

    # --- drawing -------------------------------------------------------------------------------
    def scene(self, li, prediction) -> Scene:
        """Return the arrays of the image on screen."""
        extras = {}
        for key, source in self.extra_sources.items():
            try:
                extras[key] = source(li.image_id)
            except Exception:  # noqa: BLE001 - a layer's data must not stop drawing
                log.exception("layer data %s", key)
        return Scene(
            li.image.pixels.shape,
            truth=li.truth,
            prediction=prediction,
            probability=self.analysis.store.float_map(li.image_id),
            extras=extras,
        )

    def refresh(self) -> None:
        """Recompute the current decision and redraw the overlay, legend and read-out."""
        li = self.vm.image.loaded
        if li is None:
            return
        image_id = li.image_id
        decision = self.analysis.decision(image_id)
        prediction = None if decision is None else decision.mask
        if prediction is not None and prediction.shape != li.image.pixels.shape:
            prediction = None
        self.prediction = prediction
        entries = self._draw(self.scene(li, prediction))
        notes = []
        if li.truth is None:
            notes.append("no ground truth")
        elif not li.truth.any():
            notes.append("ground truth: no pneumothorax")
        if decision is not None and str(decision.state) == "positive, not localised":
            notes.append("AI: positive, not localised (no mask)")
        elif prediction is not None and not prediction.any():
            notes.append("prediction: empty")
        self.canvas.set_legend(entries, note=" · ".join(notes))
        readout = self.analysis.update_row(
            image_id, decision=decision, truth=li.truth, notify=False
        )
        self._row_to_repaint = image_id
        self._repaint_row_soon()
        if readout is None:  # evicted map
            readout = Readout(state="analyse again (result evicted)")
        self.vm.analysis.readout = readout
        info = f"<b>{'…' if len(image_id) > 28 else ''}{image_id[-28:]}</b>"
        if readout.probability is not None:
            info += f" &nbsp; AI p = {readout.probability:.2f} ({readout.state})"
        elif readout.state != "not analysed":
            info += f" &nbsp; AI: {readout.state}"
        self.canvas.set_info(info)
        self.overlay_updated.emit()
