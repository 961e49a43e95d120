"""Heat-maps on demand (#10): Grad-CAM on the inference worker, shown by the heat-map layer.

H (or the layer's check box) shows the heat-map of the image on screen; the map is
computed on the inference worker (:class:`~pneumoviewer.ui.inference_worker.
HeatmapRequest`, never on the GUI thread), ahead of a running batch, and cached per
image as uint8 (the colour map's index: 1 MB at 1024²). Moving to another image with the
layer on asks for that image's map. Analysis -> Heat-maps for all listed computes every
listed image's map in the background, only when asked. A new model forgets the maps.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from pneumoviewer.ui.cache import LRUCache
from pneumoviewer.ui.inference_worker import HeatmapOutput, HeatmapRequest
from pneumoviewer.ui.layers.heatmap import HeatmapFrame, quantise_heatmap

log = logging.getLogger(__name__)

#: Heat-maps kept (uint8, ~1 MB each at 1024²): enough for "all listed" on a small folder.
HEATMAP_CACHE_ITEMS = 256


class HeatmapController(QObject):
    """Ask the worker for heat-maps and hand them to the layer, the screen and the export.

    Parameters
    ----------
    vm : ViewModel
        ``vm.image`` (the image on screen) and ``vm.analysis`` (model state) are read.
    analysis : AnalysisController
        Its inference worker and ``model_ready``.
    render : RenderController
        Holds the heat-map layer; ``extra_sources["heatmap"]`` is registered there.
    exporter : ExportController or None
        ``extra_sources["heatmap"]`` (a :class:`HeatmapFrame` when the export carries it).
    study_list : StudyListPanel
        The listed images (Heat-maps for all listed).
    status : StatusController
        Messages.
    actions : dict
        ``heatmap`` (checkable, H) is bound to the layer's ``visible``; ``heatmap_all``.
    parent : QObject
        Owner.

    Signals
    -------
    heatmap_ready(str) : an image's heat-map arrived (image id).
    heatmap_failed(str, str) : image id, why there is none.

    """

    heatmap_ready = Signal(str)
    heatmap_failed = Signal(str, str)

    def __init__(
        self,
        vm,
        *,
        analysis,
        render,
        exporter=None,
        study_list,
        status,
        actions: dict,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.vm = vm
        self.analysis = analysis
        self.render = render
        self.study_list = study_list
        self.status = status
        self.layer = render.layers.get("heatmap")
        self.state = self.layer.state
        self.cache = LRUCache(max_items=HEATMAP_CACHE_ITEMS)
        self.requested: set[str] = set()
        self.seconds: list[float] = []  # worker time per computed map (the README's number)
        if "heatmap" in actions:
            from pneumoviewer.ui.bind import bind_checkable

            bind_checkable(self.state, "visible", actions["heatmap"])
        if "heatmap_all" in actions:
            actions["heatmap_all"].triggered.connect(self.request_all)
        render.extra_sources["heatmap"] = self.cache.get
        if exporter is not None:
            exporter.extra_sources["heatmap"] = self.export_frame
        self.state.events.visible.connect(lambda on, *_: on and self.request_current())
        vm.image.events.loaded.connect(lambda *_: self.state.visible and self.request_current())
        analysis.inference.heatmap.connect(self._on_heatmap)
        analysis.model_ready.connect(self._on_model_ready)
        study_list.model.modelReset.connect(self._forget)  # another folder

    def _forget(self) -> None:
        self.cache.clear()
        self.requested.clear()
        self.analysis.inference.cancel_heatmaps()

    # --- requests ------------------------------------------------------------------------------
    def request_current(self) -> bool:
        """Ask for the heat-map of the image on screen (when not cached); True when asked."""
        li = self.vm.image.loaded
        if li is None or li.image_id in self.cache:
            return False
        if not self.vm.analysis.can_queue:
            self.status.message("Heat-map: no model loaded (Model → Load…)", 6000)
            return False
        self.requested.add(li.image_id)
        self.status.message(f"Heat-map of {li.image_id} …", 0)
        self.analysis.inference.request_heatmap(
            HeatmapRequest(li.image_id, pixels=li.image.pixels, padding=li.image.padding)
        )
        return True

    def request_all(self) -> int:
        """Ask for the heat-map of every listed image not computed yet; return how many."""
        if not self.vm.analysis.can_queue:
            self.status.message("Heat-maps: no model loaded (Model → Load…)", 6000)
            return 0
        model = self.study_list.model
        n = 0
        for image_id in self.study_list.proxy.image_ids():
            row = model.get(image_id)
            if image_id in self.cache or image_id in self.requested or row is None or row.error:
                continue
            self.requested.add(image_id)
            self.analysis.inference.request_heatmap(
                HeatmapRequest(image_id, path=row.path), first=False
            )
            n += 1
        self.status.message(f"Computing {n} heat-maps in the background", 6000)
        return n

    # --- results -------------------------------------------------------------------------------
    def _on_heatmap(self, out: HeatmapOutput) -> None:
        self.requested.discard(out.image_id)
        if out.cam is None:
            self.status.message(out.message, 8000)
            self.heatmap_failed.emit(out.image_id, out.message)
            return
        self.cache.put(out.image_id, quantise_heatmap(out.cam))
        self.seconds.append(out.seconds)
        if out.image_id == self.vm.image.image_id:
            self.status.message(f"Heat-map of {out.image_id} in {out.seconds:.2f} s", 5000)
            if self.state.visible:
                self.render.refresh()
        self.heatmap_ready.emit(out.image_id)

    def _on_model_ready(self, _info) -> None:
        """Another model explains differently: forget the maps (and ask again if shown)."""
        self.cache.clear()
        self.requested.clear()
        if self.state.visible:
            self.request_current()

    def export_frame(self, image_id: str) -> HeatmapFrame | None:
        """Return the export's ``extras["heatmap"]``: the map with the screen's look, or None."""
        cam = self.cache.get(image_id)
        if cam is None or not (self.state.visible and self.state.in_export):
            return None
        return HeatmapFrame(cam, self.state.colormap, float(self.state.opacity))
