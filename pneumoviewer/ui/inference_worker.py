"""The long-lived inference worker: owns the InferenceEngine (torch imported here, lazily).

Requests and results are typed dataclasses. Priorities: load a model > the image on
screen (one slot, latest wins) > the batch queue. So a request made while the model loads
waits for it (queued, not dropped), and the image on screen jumps to the front of a
running batch (and is not analysed twice).
"""

from __future__ import annotations

import time
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Signal

from pneumoviewer.ui.results import engine_runtime
from pneumoviewer.ui.workers import WorkerThread


# --- requests -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LoadModel:
    """Load (or replace) the engine from ``model_dir`` on ``device`` with ``runtime``.

    ``runtime`` None: the settings' ``runtime`` key, else ``$PNEUMOVIEWER_RUNTIME``, else auto.
    """

    model_dir: Path
    device: str = "auto"
    runtime: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class AnalyseImage:
    """Analyse the already decoded pixels of the image on screen.

    ``automatic`` marks a request made by "AI by itself": it is dropped when the user moves
    on before it starts (:meth:`InferenceWorker.discard_automatic`).
    """

    generation: int
    image_id: str
    pixels: np.ndarray
    automatic: bool = False
    padding: np.ndarray | None = None  # XrayImage.padding: left out of CLAHE, 0 in the input


@dataclass(frozen=True, slots=True, eq=False)
class HeatmapRequest:
    """Compute the Grad-CAM heat-map of one image (#10, on demand).

    ``pixels`` (and ``padding``) of the image on screen, else the file at ``path`` is
    decoded in the worker (heat-maps for every listed image, only when asked).
    """

    image_id: str
    pixels: np.ndarray | None = None
    padding: np.ndarray | None = None
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One image of Analyse all (decoded in the worker)."""

    image_id: str
    path: Path


# --- results --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class InferenceOutput:
    """One image's model output, probability map quantised to uint8 in the worker.

    ``prob_u8`` is at the segmenter's output size (64 KiB at 256²); ``image_shape`` is the
    image's ``(H, W)``; ``score`` is the class probability, else the maximum of the
    quantised full-resolution map (as before maps were kept at the model's size).
    """

    generation: int
    image_id: str
    class_probability: float | None
    prob_u8: np.ndarray | None
    device: str
    seconds: float
    batch: bool
    image_shape: tuple[int, int] | None = None
    score: float | None = None
    quality: Any = None  # #10: QualityResult of the OOD rule (+ pixel rules in a batch)


@dataclass(frozen=True, slots=True, eq=False)
class HeatmapOutput:
    """A computed heat-map (#10): float32 (H, W) in [0, 1], or None and why not."""

    image_id: str
    cam: np.ndarray | None
    seconds: float
    message: str = ""


@dataclass(frozen=True, slots=True)
class AnalysisFailure:
    """An analysis that failed (``image_id`` "" when not about one image)."""

    generation: int
    image_id: str
    message: str


@dataclass(frozen=True, slots=True)
class ModelFailure:
    """A model that could not be loaded."""

    model_dir: str
    message: str


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """Analyse all: images done, total, ETA in seconds (nan while unknown)."""

    done: int
    total: int
    eta: float


@dataclass(frozen=True, slots=True)
class BatchFinished:
    """Analyse all ended."""

    done: int
    total: int
    cancelled: bool


@dataclass(frozen=True, slots=True, eq=False)
class ModelInfo:
    """What the GUI needs after a model loaded."""

    model_dir: Path
    manifest: Any
    device: str
    warnings: tuple[str, ...]
    params: Any  # PostprocessParams defaults
    seconds: float
    runtime: str = ""  # device, runtime per network, TTA: part of the results-store key (#12)
    runtimes: tuple[tuple[str, str], ...] = ()  # (network, runtime it runs on) (#11)
    runtime_choice: str = ""  # the runtime setting the engine was built with (#11)


class InferenceWorker(WorkerThread):
    """Own the :class:`InferenceEngine` (torch imported here, lazily) and serve requests.

    Signals
    -------
    model_loaded(object) : :class:`ModelInfo`.
    model_failed(object) : :class:`ModelFailure`.
    result(object) : :class:`InferenceOutput`.
    failed(object) : :class:`AnalysisFailure`.
    progress(object) : :class:`BatchProgress`.
    batch_finished(object) : :class:`BatchFinished`.
    notice(str) : e.g. CUDA fell back to the CPU.
    heatmap(object) : :class:`HeatmapOutput` (#10).
    """

    model_loaded = Signal(object)
    model_failed = Signal(object)
    result = Signal(object)
    failed = Signal(object)
    progress = Signal(object)
    batch_finished = Signal(object)
    notice = Signal(str)
    heatmap = Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.engine: Any = None
        self._load: LoadModel | None = None
        self._single: AnalyseImage | None = None
        self._batch: deque[BatchItem] = deque()
        self._heat: deque[HeatmapRequest] = deque()  # #10: after the image on screen
        self._batch_total = 0
        self._batch_done = 0
        self._batch_t0 = 0.0
        self._cancel = False
        self._batch_generation = 0
        self._warned = 0
        self.predictions_run = 0

    # --- requests (GUI thread) -----------------------------------------------------------
    def load_model(self, model_dir: Path, device: str = "auto", runtime: str | None = None) -> None:
        """Load (or replace) the engine from ``model_dir`` (see :class:`LoadModel`)."""
        with self._cond:
            self._load = LoadModel(Path(model_dir), device, runtime)
            self._cond.notify_all()

    def analyse(self, request: AnalyseImage) -> None:
        """Analyse the image on screen next (latest wins; waits for a model being loaded).

        When the image is queued in a running batch, it leaves the queue: it is analysed
        now and counted as done there.
        """
        with self._cond:
            self._single = request
            self._cond.notify_all()

    def discard_automatic(self) -> bool:
        """Drop the pending single request if it was automatic; return whether one was."""
        with self._cond:
            if self._single is not None and self._single.automatic:
                self._single = None
                return True
            return False

    def analyse_batch(self, items: list[BatchItem], generation: int = 0) -> None:
        """Queue items (decoded in the worker) as one batch."""
        with self._cond:
            self._batch.extend(items)
            if self._batch_total == self._batch_done:
                self._batch_total, self._batch_done = 0, 0
                self._batch_t0 = time.monotonic()
            self._batch_total += len(items)
            self._cancel = False
            self._batch_generation = generation
            self._cond.notify_all()

    def request_heatmap(self, request: HeatmapRequest, *, first: bool = True) -> None:
        """Queue a heat-map (one per image; ``first``: ahead of the others, the screen's)."""
        with self._cond:
            self._heat = deque(r for r in self._heat if r.image_id != request.image_id)
            if first:
                self._heat.appendleft(request)
            else:
                self._heat.append(request)
            self._cond.notify_all()

    def cancel_heatmaps(self) -> None:
        """Drop the queued heat-maps (the one in progress finishes)."""
        with self._cond:
            self._heat.clear()

    def cancel(self) -> None:
        """Drop the queued batch (the image in progress finishes) and the pending single."""
        with self._cond:
            self._cancel = True
            self._batch.clear()
            self._heat.clear()
            self._single = None
            self._cond.notify_all()

    def busy(self) -> bool:
        """Return True while a batch is queued or running."""
        with self._cond:
            return self._batch_done < self._batch_total

    # --- thread ---------------------------------------------------------------------------
    def run(self) -> None:  # noqa: D102
        while True:
            with self._cond:
                while (
                    self._load is None
                    and self._single is None
                    and not self._batch
                    and not self._heat
                    and not self._stopping
                    and not self._cancel
                ):
                    self._cond.wait()
                if self._stopping:
                    return
                if self._cancel:
                    self._finish_batch(cancelled=True)
                    continue
                job: LoadModel | AnalyseImage | BatchItem | HeatmapRequest
                in_batch = False
                if self._load is not None:
                    job, self._load = self._load, None
                elif self._single is not None:
                    job, self._single = self._single, None
                    in_batch = self._take_from_batch(job.image_id)
                elif self._heat:
                    job = self._heat.popleft()
                else:
                    job = self._batch.popleft()
            try:
                self._do(job)
            except Exception:  # noqa: BLE001 - a worker must never die
                self.failed.emit(AnalysisFailure(-1, "", traceback.format_exc(limit=4)))
            if in_batch:
                self._count_batch_item()

    def _take_from_batch(self, image_id: str) -> bool:
        """Remove ``image_id`` from the batch queue (lock held); True when it was there."""
        for item in self._batch:
            if item.image_id == image_id:
                self._batch.remove(item)
                return True
        return False

    def _finish_batch(self, *, cancelled: bool) -> None:
        """Emit batch_finished and reset counters (called with the lock held)."""
        self._cancel = False
        if self._batch_total:
            self.batch_finished.emit(BatchFinished(self._batch_done, self._batch_total, cancelled))
        self._batch_total = self._batch_done = 0

    def _do(self, job: LoadModel | AnalyseImage | BatchItem | HeatmapRequest) -> None:
        if isinstance(job, LoadModel):
            self._load_engine(job.model_dir, job.device, job.runtime)
            return
        if isinstance(job, HeatmapRequest):
            self._heatmap(job)
            return
        if isinstance(job, AnalyseImage):
            self._predict(
                job.generation, job.image_id, job.pixels, batch=False, padding=job.padding
            )
            return
        if self.engine is not None:
            from pneumoviewer.core.dicom_io import load_xray

            try:
                image = load_xray(job.path)
            except Exception as exc:  # noqa: BLE001
                self.failed.emit(AnalysisFailure(self._batch_generation, job.image_id, str(exc)))
            else:
                self._predict(
                    self._batch_generation,
                    job.image_id,
                    image.pixels,
                    batch=True,
                    padding=image.padding,
                )
        self._count_batch_item()

    def _count_batch_item(self) -> None:
        with self._cond:
            self._batch_done += 1
            done, total = self._batch_done, self._batch_total
            elapsed = time.monotonic() - self._batch_t0
            eta = elapsed / done * (total - done) if done else float("nan")
            self.progress.emit(BatchProgress(done, total, eta))
            if self.engine is None:
                self._batch.clear()
                self._finish_batch(cancelled=True)
            elif not self._batch and done >= total:
                self._finish_batch(cancelled=False)

    def _load_engine(self, model_dir: Path, device: str, requested: str | None = None) -> None:
        t0 = time.perf_counter()
        try:
            from pneumoviewer.core.inference.engine import InferenceEngine
            from pneumoviewer.core.inference.runtimes import default_runtime  # #11

            if requested is None:
                from pneumoviewer.ui.settings import make_settings, read_value

                requested = read_value(make_settings(), "runtime", None, str)
            runtime = default_runtime(requested)
            if requested is not None and requested != runtime:
                self.notice.emit(f"Runtime {requested} cannot run here; using {runtime}.")
            engine = InferenceEngine(model_dir, device=device, runtime=runtime)
        except Exception as exc:  # noqa: BLE001 - shown to the user, viewer keeps running
            self.model_failed.emit(ModelFailure(str(model_dir), str(exc)))
            return
        self.engine = engine
        self._warned = len(engine.warnings)
        for w in engine.warnings:
            self.notice.emit(w)
        self.model_loaded.emit(
            ModelInfo(
                Path(model_dir),
                engine.manifest,
                engine.device,
                tuple(engine.warnings),
                engine.postprocess_params(),
                time.perf_counter() - t0,
                runtime=engine_runtime(engine),
                runtimes=tuple(getattr(engine, "runtimes", {}).items()),
                runtime_choice=runtime,
            )
        )

    def _predict(
        self,
        generation: int,
        image_id: str,
        pixels: np.ndarray,
        *,
        batch: bool,
        padding: np.ndarray | None = None,
    ) -> None:
        if self.engine is None:
            self.failed.emit(
                AnalysisFailure(generation, image_id, "No model loaded (Model → Load…)")
            )
            return
        from pneumoviewer.ui.cache import quantise_probability

        self.predictions_run += 1
        try:
            pred = self.engine.predict(pixels, image_id=image_id, padding=padding)
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(
                AnalysisFailure(generation, image_id, f"{image_id}: analysis failed: {exc}")
            )
            return
        for w in self.engine.warnings[self._warned :]:
            self.notice.emit(w)
        self._warned = len(self.engine.warnings)
        prob, score = None, None
        if pred.probability_map is not None:  # keep the map at the model's size (#12)
            small = getattr(pred, "map_at_model_size", None)
            prob = quantise_probability(pred.probability_map if small is None else small)
            score = float(np.rint(np.clip(pred.probability_map.max(), 0.0, 1.0) * 255.0)) / 255.0
        cp = None if pred.class_probability is None else float(pred.class_probability)
        quality = self._quality(pixels, padding, pred, batch=batch)
        self.result.emit(
            InferenceOutput(
                generation, image_id, cp, prob, pred.device, float(pred.seconds), batch,
                image_shape=tuple(pixels.shape), score=cp if cp is not None else score,
                quality=quality,
            )
        )  # fmt: skip

    def _quality(self, pixels: np.ndarray, padding, pred, *, batch: bool):
        """#10: the OOD rule of an analysed image, plus the pixel rules in a batch.

        The image on screen had its pixel rules at load; header rules run at scan time.
        """
        from pneumoviewer.core.quality import check_ood, check_pixels, combine

        parts = [check_pixels(pixels, padding=padding)] if batch else []
        features = getattr(pred, "features", None)
        if features is not None:
            ood = getattr(self.engine, "ood", None)
            parts.append(check_ood(None, None) if ood is None else ood.check(features)[1])
        return combine(*parts)

    def _heatmap(self, job: HeatmapRequest) -> None:
        """#10: Grad-CAM of one image (captum, gradients on: not under inference_mode)."""
        t0 = time.perf_counter()
        if self.engine is None:
            self.heatmap.emit(HeatmapOutput(job.image_id, None, 0.0, "No model loaded"))
            return
        try:
            pixels, padding = job.pixels, job.padding
            if pixels is None:
                from pneumoviewer.core.dicom_io import load_xray

                image = load_xray(job.path)
                pixels, padding = image.pixels, image.padding
            cam = self.engine.heatmap(pixels, padding=padding)
        except Exception as exc:  # noqa: BLE001 - e.g. a model without a classifier
            message = f"{job.image_id}: no heat-map: {exc}"
            self.heatmap.emit(HeatmapOutput(job.image_id, None, time.perf_counter() - t0, message))
            return
        cam = np.asarray(cam, np.float32)
        self.heatmap.emit(HeatmapOutput(job.image_id, cam, time.perf_counter() - t0))
