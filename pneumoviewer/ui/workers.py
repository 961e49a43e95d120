"""Background work: folder scan and export (superqt ``thread_worker``), image loading.

The scan and the export are generator functions run by :func:`start_worker` on
superqt's ``GeneratorWorker`` (Qt's global thread pool): they ``yield`` batches or
progress (delivered to the GUI thread by queued signals), ``quit()`` stops them at the
next ``yield``, and every handler -- ``errored`` included -- is connected before the
worker starts. The image loader is a long-lived ``QThread`` that keeps only the latest
request, so holding the down arrow builds no backlog. Workers never touch widgets;
requests and results are typed dataclasses.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, QThreadPool, Signal

_LIVE: weakref.WeakSet[QThread] = weakref.WeakSet()
_POOL_WORKERS: weakref.WeakSet[Any] = weakref.WeakSet()


def running_workers() -> list[Any]:
    """Return the pneumoviewer workers still running (tests assert this is empty)."""
    from shiboken6 import isValid

    threads = [t for t in list(_LIVE) if isValid(t) and t.isRunning()]
    return threads + [w for w in list(_POOL_WORKERS) if w.is_running]


def start_worker(
    func: Callable[..., Iterator[Any]],
    *args: Any,
    errored: Callable[[BaseException], None],
    yielded: Callable[[Any], None] | None = None,
    returned: Callable[[Any], None] | None = None,
    finished: Callable[[], None] | None = None,
    **kwargs: Any,
):
    """Run generator ``func(*args, **kwargs)`` on a superqt ``GeneratorWorker``.

    The handlers are connected when the worker is created (``errored`` is required, so
    an exception is reported instead of re-raised in the GUI thread), then it starts.

    Returns
    -------
    superqt.utils.GeneratorWorker
        ``quit()`` stops it at its next ``yield``.

    """
    from superqt.utils import create_worker

    connect: dict[str, Callable] = {"errored": errored}
    for name, handler in (("yielded", yielded), ("returned", returned), ("finished", finished)):
        if handler is not None:
            connect[name] = handler
    worker = create_worker(func, *args, _start_thread=False, _connect=connect, **kwargs)
    _POOL_WORKERS.add(worker)
    worker.start()
    return worker


def wait_for_pool(msecs: int = 10_000) -> bool:
    """Wait for the pool workers (scan, export) to return; True when all did."""
    return QThreadPool.globalInstance().waitForDone(msecs)


# --- folder scan ----------------------------------------------------------------------------
def scan_batches(
    folder: Path,
    *,
    first_batch: int = 8,
    batch_size: int = 200,
    max_interval_s: float = 0.15,
) -> Iterator[list[Any]]:
    """Yield ``scan_folder`` results in batches (a small first one, then by size or time).

    Yields
    ------
    list
        ``StudyEntry | ScanProblem`` items.

    Returns
    -------
    int
        Number of items (the worker's ``returned``).

    """
    from pneumoviewer.core.studies import scan_folder

    buf: list[Any] = []
    count, limit = 0, first_batch
    last = time.monotonic()
    for item in scan_folder(Path(folder)):
        buf.append(item)
        count += 1
        now = time.monotonic()
        if len(buf) >= limit or now - last >= max_interval_s:
            yield buf
            buf, last, limit = [], now, batch_size
    if buf:
        yield buf
    return count


# --- image loading --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class LoadedImage:
    """A decoded image ready to show (all arrays uint8 / bool, C-contiguous)."""

    generation: int
    image_id: str
    image: Any  # XrayImage
    clahe: np.ndarray
    truth: np.ndarray | None
    seconds: float


@dataclass(frozen=True, slots=True, eq=False)
class LoadRequest:
    """Decode ``path`` for ``image_id`` (the loader keeps only the latest request)."""

    generation: int
    image_id: str
    path: Path
    clahe_params: Any = None
    ground_truth: Any = None
    alternates: tuple[Path, ...] = ()  # copies with the same image id, tried when path fails


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """Why an image could not be decoded."""

    generation: int
    image_id: str
    path: str
    message: str


class WorkerThread(QThread):
    """Base of the long-lived workers: registers itself, a stop flag and a condition."""

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


class LoaderWorker(WorkerThread):
    """Decode images on demand; only the latest pending request is kept.

    Signals
    -------
    loaded(object) : :class:`LoadedImage`.
    failed(object) : :class:`LoadFailure`.
    """

    loaded = Signal(object)
    failed = Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._pending: LoadRequest | None = None
        self.served = 0

    def request(self, request: LoadRequest) -> None:
        """Replace the pending request by this one (latest wins)."""
        with self._cond:
            self._pending = request
            self._cond.notify_all()

    def run(self) -> None:  # noqa: D102
        from pneumoviewer.core.preprocessing import ClaheParams, clahe
        from pneumoviewer.core.studies import load_any

        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                req, self._pending = self._pending, None
            t0 = time.perf_counter()
            self.served += 1
            try:
                image = load_any((req.path, *req.alternates))
                enhanced = clahe(image.pixels, req.clahe_params or ClaheParams())
                truth = None
                gt = req.ground_truth
                found = gt.lookup(image.image_id, image.pixels.shape) if gt is not None else None
                if found is not None:  # a bad row: no truth (listed when the scan found it)
                    truth = found.mask
                self.loaded.emit(
                    LoadedImage(
                        req.generation,
                        req.image_id,
                        image,
                        enhanced,
                        truth,
                        time.perf_counter() - t0,
                    )
                )
            except Exception as exc:  # noqa: BLE001 - any decode failure is a message
                self.failed.emit(LoadFailure(req.generation, req.image_id, str(req.path), str(exc)))


# --- export ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class ExportJob:
    """One PNG to write: everything is computed in the worker from these inputs."""

    image_id: str
    source: Path
    target: Path
    prob_u8: np.ndarray | None
    class_probability: float | None
    extras: dict[str, Any] | None = None  # layer data (Scene.extras), taken in the GUI thread


@dataclass(frozen=True, slots=True)
class ExportProgress:
    """Progress of an export: done, total, ETA seconds; ``failed`` names a failed image."""

    done: int
    total: int
    eta: float
    failed: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ExportOutcome:
    """What an export wrote."""

    written: int
    total: int


def export_pngs(
    jobs: list[ExportJob], *, write: Callable[[ExportJob, Any], None]
) -> Iterator[ExportProgress]:
    """Decode each job's image and call ``write(job, image)``; yield progress after each.

    Returns
    -------
    ExportOutcome
        Written and total counts (the worker's ``returned``; not emitted when quit).

    """
    from pneumoviewer.core.dicom_io import load_xray

    written, total, t0 = 0, len(jobs), time.monotonic()
    for done, job in enumerate(jobs, start=1):
        failed = None
        try:
            write(job, load_xray(job.source))
            written += 1
        except Exception as exc:  # noqa: BLE001 - one bad image does not stop the export
            failed = (job.image_id, str(exc))
        elapsed = time.monotonic() - t0
        yield ExportProgress(done, total, elapsed / done * (total - done), failed)
    return ExportOutcome(written, total)
