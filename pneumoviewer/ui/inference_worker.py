"""The long-lived inference worker: owns the InferenceEngine (torch imported here, lazily)."""

from __future__ import annotations

import time
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Signal

from pneumoviewer.ui.workers import WorkerThread


# --- inference ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class InferenceOutput:
    """One image's model output, probability map quantised to uint8 in the worker."""

    generation: int
    image_id: str
    class_probability: float | None
    prob_u8: np.ndarray | None
    device: str
    seconds: float
    batch: bool


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the GUI needs after a model loaded."""

    model_dir: Path
    manifest: Any
    device: str
    warnings: tuple[str, ...]
    params: Any  # PostprocessParams defaults
    seconds: float


class InferenceWorker(WorkerThread):
    """Own the :class:`InferenceEngine` (torch imported here, lazily) and serve requests.

    Priorities: load model > the single "current image" slot (latest wins) > batch queue.

    Signals
    -------
    model_loaded(object) : :class:`ModelInfo`.
    model_failed(str, str) : model dir, message.
    result(object) : :class:`InferenceOutput`.
    failed(int, str, str) : generation, image_id, message.
    progress(int, int, float) : done, total, ETA seconds (nan while unknown).
    batch_finished(int, int, bool) : done, total, cancelled.
    notice(str) : e.g. CUDA fell back to the CPU.
    """

    model_loaded = Signal(object)
    model_failed = Signal(str, str)
    result = Signal(object)
    failed = Signal(int, str, str)
    progress = Signal(int, int, float)
    batch_finished = Signal(int, int, bool)
    notice = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.engine: Any = None
        self._load: tuple[Path, str] | None = None
        self._single: tuple | None = None
        self._single_speculative = False
        self._batch: deque[tuple[str, Path]] = deque()
        self._batch_total = 0
        self._batch_done = 0
        self._batch_t0 = 0.0
        self._cancel = False
        self._batch_generation = 0
        self.predictions_run = 0

    # --- requests (GUI thread) -----------------------------------------------------------
    def load_model(self, model_dir: Path, device: str = "auto") -> None:
        """Load (or replace) the engine from ``model_dir`` on ``device``."""
        with self._cond:
            self._load = (Path(model_dir), device)
            self._cond.notify_all()

    def analyse(
        self, generation: int, image_id: str, pixels: np.ndarray, *, speculative: bool = False
    ) -> None:
        """Analyse already decoded pixels of the current image (latest wins).

        ``speculative`` marks an automatic request (analyse on selection) that
        :meth:`discard_speculative` may drop when the user moves on.
        """
        with self._cond:
            self._single = (generation, image_id, pixels)
            self._single_speculative = speculative
            self._cond.notify_all()

    def discard_speculative(self) -> bool:
        """Drop the pending single request if it was automatic; return whether one was."""
        with self._cond:
            if self._single is not None and self._single_speculative:
                self._single = None
                return True
            return False

    def analyse_batch(self, items: list[tuple[str, Path]], generation: int = 0) -> None:
        """Queue ``(image_id, path)`` items (decoded in the worker) as one batch."""
        with self._cond:
            self._batch.extend((i, Path(p)) for i, p in items)
            if self._batch_total == self._batch_done:
                self._batch_total, self._batch_done = 0, 0
                self._batch_t0 = time.monotonic()
            self._batch_total += len(items)
            self._cancel = False
            self._batch_generation = generation
            self._cond.notify_all()

    def cancel(self) -> None:
        """Drop the queued batch (the image in progress finishes) and the pending single."""
        with self._cond:
            self._cancel = True
            self._batch.clear()
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
                    and not self._stopping
                    and not self._cancel
                ):
                    self._cond.wait()
                if self._stopping:
                    return
                if self._cancel:
                    self._finish_batch(cancelled=True)
                    continue
                job: tuple[str, Any]
                if self._load is not None:
                    job, self._load = ("load", self._load), None
                elif self._single is not None:
                    job, self._single = ("single", self._single), None
                else:
                    job = ("batch", self._batch.popleft())
            try:
                self._do(job)
            except Exception:  # noqa: BLE001 - a worker must never die
                self.failed.emit(-1, "", traceback.format_exc(limit=4))

    def _finish_batch(self, *, cancelled: bool) -> None:
        """Emit batch_finished and reset counters (called with the lock held)."""
        self._cancel = False
        if self._batch_total:
            self.batch_finished.emit(self._batch_done, self._batch_total, cancelled)
        self._batch_total = self._batch_done = 0

    def _do(self, job: tuple[str, Any]) -> None:
        kind, payload = job
        if kind == "load":
            self._load_engine(*payload)
            return
        if kind == "single":
            generation, image_id, pixels = payload
            self._predict(generation, image_id, pixels, batch=False)
            return
        image_id, path = payload
        if self.engine is not None:
            from pneumoviewer.core.dicom_io import load_xray

            try:
                pixels = load_xray(path).pixels
            except Exception as exc:  # noqa: BLE001
                self.failed.emit(self._batch_generation, image_id, str(exc))
            else:
                self._predict(self._batch_generation, image_id, pixels, batch=True)
        with self._cond:
            self._batch_done += 1
            done, total = self._batch_done, self._batch_total
            elapsed = time.monotonic() - self._batch_t0
            eta = elapsed / done * (total - done) if done else float("nan")
            self.progress.emit(done, total, eta)
            if self.engine is None:
                self._batch.clear()
                self._finish_batch(cancelled=True)
            elif not self._batch and done >= total:
                self._finish_batch(cancelled=False)

    def _load_engine(self, model_dir: Path, device: str) -> None:
        t0 = time.perf_counter()
        try:
            from pneumoviewer.core.inference.engine import InferenceEngine

            engine = InferenceEngine(model_dir, device=device)
        except Exception as exc:  # noqa: BLE001 - shown to the user, viewer keeps running
            self.model_failed.emit(str(model_dir), str(exc))
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
            )
        )

    def _predict(self, generation: int, image_id: str, pixels: np.ndarray, *, batch: bool) -> None:
        if self.engine is None:
            self.failed.emit(generation, image_id, "No model loaded (Model → Load…)")
            return
        from pneumoviewer.ui.cache import quantise_probability

        self.predictions_run += 1
        try:
            pred = self.engine.predict(pixels, image_id=image_id)
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(generation, image_id, f"{image_id}: analysis failed: {exc}")
            return
        for w in self.engine.warnings[getattr(self, "_warned", 0) :]:
            self.notice.emit(w)
        self._warned = len(self.engine.warnings)
        prob = None if pred.probability_map is None else quantise_probability(pred.probability_map)
        cp = None if pred.class_probability is None else float(pred.class_probability)
        self.result.emit(
            InferenceOutput(generation, image_id, cp, prob, pred.device, float(pred.seconds), batch)
        )
