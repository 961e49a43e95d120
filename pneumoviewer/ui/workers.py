"""Background workers (QThread subclasses): folder scan, image loading, inference, export.

Every worker is a ``QThread`` whose ``run`` owns the work; signals carry plain Python
objects back to the GUI thread (queued connections). Requests are tagged with an
``image_id`` and a generation counter; the GUI drops any answer whose generation is not the
latest. The loader and the single-image inference slot keep only the latest request, so
holding the down arrow builds no backlog. Workers never touch widgets.
"""

from __future__ import annotations

import threading
import time
import traceback
import weakref
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

_LIVE: weakref.WeakSet[QThread] = weakref.WeakSet()


def running_workers() -> list[QThread]:
    """Return the pneumoviewer worker threads still running (tests assert this is empty)."""
    return [t for t in list(_LIVE) if t.isRunning()]


class _Worker(QThread):
    """Base: registers itself, offers a stop flag and a condition to wait on."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._cond = threading.Condition()
        self._stopping = False
        _LIVE.add(self)

    def stop(self, wait_ms: int = 10_000) -> None:
        """Ask the thread to finish and wait for it (safe when never started)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self.isRunning():
            self.wait(wait_ms)


# --- folder scan ----------------------------------------------------------------------------
class ScanWorker(_Worker):
    """Stream ``scan_folder`` results to the GUI in batches.

    Signals
    -------
    batch(int, list) : generation, list of ``StudyEntry | ScanProblem``.
    finished_scan(int, int, str) : generation, number of items, error message ("" when ok).
    """

    batch = Signal(int, list)
    finished_scan = Signal(int, int, str)

    def __init__(
        self,
        folder: Path,
        generation: int,
        *,
        first_batch: int = 8,
        batch_size: int = 200,
        max_interval_s: float = 0.15,
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.folder = Path(folder)
        self.generation = generation
        self.first_batch = first_batch
        self.batch_size = batch_size
        self.max_interval_s = max_interval_s

    def run(self) -> None:  # noqa: D102
        from pneumoviewer.core.studies import scan_folder

        buf: list[Any] = []
        count, error, limit = 0, "", self.first_batch
        last = time.monotonic()
        try:
            for item in scan_folder(self.folder):
                if self._stopping:
                    break
                buf.append(item)
                count += 1
                now = time.monotonic()
                if len(buf) >= limit or now - last >= self.max_interval_s:
                    self.batch.emit(self.generation, buf)
                    buf, last, limit = [], now, self.batch_size
        except Exception as exc:  # noqa: BLE001 - reported to the GUI, never raised there
            error = f"{self.folder}: {exc}"
        if buf and not self._stopping:
            self.batch.emit(self.generation, buf)
        self.finished_scan.emit(self.generation, count, error)


# --- image loading --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LoadedImage:
    """A decoded image ready to show (all arrays uint8 / bool, C-contiguous)."""

    generation: int
    image_id: str
    image: Any  # XrayImage
    clahe: np.ndarray
    truth: np.ndarray | None
    seconds: float


class LoaderWorker(_Worker):
    """Decode images on demand; only the latest pending request is kept.

    Signals
    -------
    loaded(object) : :class:`LoadedImage`.
    failed(int, str, str, str) : generation, image_id, path, message.
    """

    loaded = Signal(object)
    failed = Signal(int, str, str, str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._pending: tuple | None = None
        self.served = 0

    def request(
        self,
        generation: int,
        image_id: str,
        path: Path,
        *,
        clahe_params: Any,
        ground_truth: Any = None,
    ) -> None:
        """Replace the pending request by this one (latest wins)."""
        with self._cond:
            self._pending = (generation, image_id, Path(path), clahe_params, ground_truth)
            self._cond.notify_all()

    def run(self) -> None:  # noqa: D102
        from pneumoviewer.core.dicom_io import load_xray
        from pneumoviewer.core.preprocessing import ClaheParams, clahe

        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                generation, image_id, path, params, gt = self._pending
                self._pending = None
            t0 = time.perf_counter()
            self.served += 1
            try:
                image = load_xray(path)
                enhanced = clahe(image.pixels, params or ClaheParams())
                truth = None
                if gt is not None and image.image_id in gt:
                    truth = gt.mask(image.image_id, image.pixels.shape)
                self.loaded.emit(
                    LoadedImage(
                        generation, image_id, image, enhanced, truth, time.perf_counter() - t0
                    )
                )
            except Exception as exc:  # noqa: BLE001 - any decode failure is a message
                self.failed.emit(generation, image_id, str(path), str(exc))


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


class InferenceWorker(_Worker):
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


# --- export ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ExportJob:
    """One PNG to write: everything is computed in the worker from these inputs."""

    image_id: str
    source: Path
    target: Path
    prob_u8: np.ndarray | None
    class_probability: float | None


class ExportWorker(_Worker):
    """Write annotated PNGs for many images (decode, post-process, compose, write).

    Signals
    -------
    progress(int, int, float) : done, total, ETA seconds.
    failed(str, str) : image_id, message.
    finished_export(int, int, bool) : written, total, cancelled.
    """

    progress = Signal(int, int, float)
    failed = Signal(str, str)
    finished_export = Signal(int, int, bool)

    def __init__(self, jobs: list[ExportJob], *, make_kwargs, overwrite: bool, parent=None):
        super().__init__(parent)
        self.jobs = jobs
        self.make_kwargs = make_kwargs  # (job, XrayImage) -> kwargs of export_annotated_png
        self.overwrite = overwrite

    def run(self) -> None:  # noqa: D102
        from pneumoviewer.core.dicom_io import load_xray
        from pneumoviewer.core.export import export_annotated_png

        written, total, t0 = 0, len(self.jobs), time.monotonic()
        for done, job in enumerate(self.jobs, start=1):
            if self._stopping:
                break
            try:
                image = load_xray(job.source)
                kwargs = self.make_kwargs(job, image)
                base = kwargs.pop("base_override", image.pixels)
                export_annotated_png(job.target, base, overwrite=self.overwrite, **kwargs)
                written += 1
            except Exception as exc:  # noqa: BLE001
                self.failed.emit(job.image_id, str(exc))
            elapsed = time.monotonic() - t0
            self.progress.emit(done, total, elapsed / done * (total - done))
        self.finished_export.emit(written, total, self._stopping)
