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
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

_LIVE: weakref.WeakSet[QThread] = weakref.WeakSet()


def running_workers() -> list[QThread]:
    """Return the pneumoviewer worker threads still running (tests assert this is empty)."""
    return [t for t in list(_LIVE) if t.isRunning()]


class WorkerThread(QThread):
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
class ScanWorker(WorkerThread):
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


class LoaderWorker(WorkerThread):
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


# --- export ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ExportJob:
    """One PNG to write: everything is computed in the worker from these inputs."""

    image_id: str
    source: Path
    target: Path
    prob_u8: np.ndarray | None
    class_probability: float | None


class ExportWorker(WorkerThread):
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
