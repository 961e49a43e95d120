"""Folders, the streaming scan, selection, image loading and the Problems panel."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from pneumoviewer.ui.cache import LRUCache
from pneumoviewer.ui.study_model import StudyRow
from pneumoviewer.ui.workers import (
    LoadedImage,
    LoaderWorker,
    LoadFailure,
    LoadRequest,
    scan_batches,
    start_worker,
)

log = logging.getLogger(__name__)

PIXEL_CACHE_ITEMS = 24  # decoded images kept for instant switching (~3 MB each)


class DataController(QObject):
    """Open folders, stream the scan into the list, load and show the selected image.

    Parameters
    ----------
    vm : ViewModel
        ``vm.image`` is set here (selection, decoded image, error).
    study_list : StudyListPanel
        The list (rows are appended here; selection comes from it).
    problems : ProblemsPanel
        Where unreadable files are listed.
    problems_dock : QDockWidget
        Shown the first time a problem is listed.
    status : StatusController
        Messages and the ground-truth label.
    metadata_panel : MetadataPanel
        The Image tab.
    clahe_params : callable
        Returns the CLAHE parameters of the loaded model (or the defaults).
    parent : QObject
        Owner.

    Signals
    -------
    folder_opened(Path) : a new folder replaces the old one (caches and results reset).
    scan_finished(int) : number of images listed.
    image_shown(str) : the selected image is on screen (or its load failed).

    """

    folder_opened = Signal(object)
    scan_finished = Signal(int)
    image_shown = Signal(str)

    def __init__(
        self,
        vm,
        *,
        study_list,
        problems,
        problems_dock,
        status,
        metadata_panel,
        clahe_params: Callable[[], Any],
        gt_csv: Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.vm = vm
        self.study_list = study_list
        self.problems = problems
        self.problems_dock = problems_dock
        self.status = status
        self.metadata_panel = metadata_panel
        self.clahe_params = clahe_params
        self.gt_csv_override = Path(gt_csv) if gt_csv else None
        self.folder: Path | None = None
        self.ground_truth = None
        self.alternates: dict[str, list[Path]] = {}  # image id -> its duplicates (the scan's)
        self.generation = 0
        self.scan_generation = 0
        self.stale_dropped = 0
        self.pixel_cache = LRUCache(max_items=PIXEL_CACHE_ITEMS)
        self.truth_cache = LRUCache(max_items=64)
        self.scan_worker = None
        self._problems_shown_once = False
        self._clahe_used = None  # CLAHE parameters of the images decoded so far
        self.loader = LoaderWorker(self)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self.loader.start()
        study_list.current_changed.connect(self.select_image)

    # --- the image on screen --------------------------------------------------------------
    @property
    def current(self) -> LoadedImage | None:
        """The decoded image on screen (None while loading or after a failure)."""
        return self.vm.image.loaded

    @property
    def current_id(self) -> str | None:
        """The selected image id."""
        return self.vm.image.image_id

    # --- folders --------------------------------------------------------------------------
    def open_folder(self, folder: Path) -> bool:
        """Show ``folder``: clear everything, read its ground truth, start the scan."""
        # Imported here, in the GUI thread, before the scan and the loader need them: two
        # threads importing pydicom at once can meet a half-initialised module.
        import pneumoviewer.core.dicom_io  # noqa: F401
        import pneumoviewer.core.studies  # noqa: F401
        from pneumoviewer.core.ground_truth import find_ground_truth_csv, read_rle_csv

        folder = Path(folder)
        if not folder.is_dir():
            self.report_problem(folder, "not a folder (or it does not exist)")
            self.status.message(f"Cannot open {folder}: not a folder")
            return False
        self.stop_scan()
        self.folder = folder.resolve()
        self.scan_generation += 1
        self.generation += 1
        self.vm.show(None)
        self.pixel_cache.clear()
        self.truth_cache.clear()
        self.alternates = {}
        self.study_list.model.clear()
        self.problems.clear()
        self._problems_shown_once = False
        self.ground_truth = None
        gt_path = self.gt_csv_override or find_ground_truth_csv(self.folder)
        if gt_path is not None:
            try:
                self.ground_truth = read_rle_csv(gt_path)
                for bad in self.ground_truth.problems:  # lines skipped; the rest is used
                    self.report_problem(bad.path, f"line {bad.line}: {bad.problem}")
            except Exception as exc:  # noqa: BLE001 - a bad CSV must not stop browsing
                self.report_problem(Path(gt_path), f"ground truth not used: {exc}")
        self.gt_name = Path(gt_path).name if self.ground_truth is not None else ""
        self.status.set_label(
            self.status.gt_label,
            f"Ground truth: {self.gt_name}" if self.gt_name else "No ground truth",
            short=f"Truth: {self.gt_name}" if self.gt_name else "",
        )
        self.folder_opened.emit(self.folder)
        generation = self.scan_generation
        self.scan_worker = start_worker(
            scan_batches,
            self.folder,
            yielded=lambda items: self._on_scan_batch(generation, items),
            returned=lambda count: self._on_scan_finished(generation, ""),
            errored=lambda exc: self._on_scan_finished(generation, f"{self.folder}: {exc}"),
        )
        self.status.message(f"Scanning {self.folder} …", 0)
        return True

    def stop_scan(self) -> None:
        """Stop a running scan (at its next batch)."""
        if self.scan_worker is not None:
            self.scan_worker.quit()
            self.scan_worker = None

    def _on_scan_batch(self, generation: int, items: list[Any]) -> None:
        if generation != self.scan_generation:
            return
        from pneumoviewer.core.studies import ScanProblem

        rows = []
        gt = self.ground_truth
        for item in items:
            if isinstance(item, ScanProblem):
                self.report_problem(item.path, item.message)
                continue
            self.alternates[item.image_id] = item.alternates  # the scan appends duplicates
            truth = gt.is_positive(item.image_id) if gt is not None else None
            if truth is not None:  # a malformed row blanks this image's truth only (listed)
                md = item.metadata
                bad = gt.check(item.image_id, (md.rows or 1024, md.columns or 1024))
                if bad is not None:
                    truth = None
                    self.report_problem(item.path, f"ground truth not used for this image: {bad}")
            rows.append(StudyRow(item.image_id, item.path, item.metadata, truth))
        self.study_list.model.append_rows(rows)
        if self.current_id is None and self.study_list.proxy.rowCount():
            self.study_list.select_row(0)

    def _on_scan_finished(self, generation: int, error: str) -> None:
        if generation != self.scan_generation:
            return
        self.scan_worker = None
        n = self.study_list.model.rowCount()
        if error:
            self.report_problem(self.folder, error)
        msg = f"{n} images in {self.folder}"
        if self.problems.count():
            msg += f" · {self.problems.count()} problems (see Problems)"
        if n == 0:
            self.vm.image.error = f"No readable DICOM images in {self.folder}"
        if self.ground_truth is not None:
            known = sum(r.truth is not None for r in self.study_list.model.rows)
            self.status.set_label(
                self.status.gt_label,
                f"Ground truth: {self.gt_name} ({known} of {n} images)",
                short=f"Truth: {self.gt_name} ({known}/{n})",
            )
            if known == 0 and n:
                msg += " · the ground-truth CSV lists none of these images"
        self.status.message(msg, 10000)
        self.scan_finished.emit(n)

    # --- selection and loading ---------------------------------------------------------------
    def select_image(self, image_id: str) -> None:
        """Show ``image_id`` (from the pixel cache at once, else via the loader)."""
        row = self.study_list.model.get(image_id)
        if row is None:
            return
        self.generation += 1
        self.vm.show(image_id)
        self.metadata_panel.show_metadata(image_id, row.path, row.metadata)
        cached = self.pixel_cache.get(image_id)
        if cached is not None:
            self._show_loaded(cached)
            return
        self._clahe_used = self.clahe_params()
        self.loader.request(
            LoadRequest(
                self.generation,
                image_id,
                row.path,
                clahe_params=self._clahe_used,
                ground_truth=self.ground_truth,
                alternates=tuple(self.alternates.get(image_id, ())),
            )
        )

    def _on_loaded(self, li: LoadedImage) -> None:
        self.pixel_cache.put(li.image_id, li)
        if li.generation != self.generation or li.image_id != self.current_id:
            self.stale_dropped += 1
            return
        self._show_loaded(li)

    def _on_load_failed(self, failure: LoadFailure) -> None:
        self.study_list.model.update(failure.image_id, error=failure.message)
        self.report_problem(Path(failure.path), failure.message)
        if failure.generation == self.generation and failure.image_id == self.current_id:
            self.vm.image.loaded = None
            self.vm.image.error = f"Cannot display this image:\n{failure.message}"
            self.image_shown.emit(failure.image_id)

    def _show_loaded(self, li: LoadedImage) -> None:
        self.vm.image.loaded = li  # the render and analysis controllers react
        self.image_shown.emit(li.image_id)

    def reload_current(self, clahe_params: Any = None) -> None:
        """Forget cached pixels and load the current image again (new CLAHE parameters).

        With ``clahe_params`` equal to those the image on screen was made with, nothing
        is reloaded.
        """
        if clahe_params is not None and clahe_params == self._clahe_used:
            return
        self.pixel_cache.clear()
        if self.current_id is not None:
            self.select_image(self.current_id)

    def truth_mask(self, image_id: str):
        """Bool (H, W) ground truth of ``image_id`` (None when unknown), cached."""
        if self.ground_truth is None or image_id not in self.ground_truth:
            return None
        current = self.current
        if current is not None and current.image_id == image_id:
            return current.truth
        mask = self.truth_cache.get(image_id)
        if mask is None:
            row = self.study_list.model.get(image_id)
            md = None if row is None else row.metadata
            shape = (getattr(md, "rows", 1024) or 1024, getattr(md, "columns", 1024) or 1024)
            found = self.ground_truth.lookup(image_id, shape)  # None mask for a bad row
            mask = None if found is None else found.mask
            self.truth_cache.put(image_id, mask)
        return mask

    # --- problems ------------------------------------------------------------------------------
    def report_problem(self, path: Path, message: str) -> None:
        """List a problem in the Problems dock and show the dock (once per folder)."""
        if self.problems.add_problem(path, message):
            log.warning("%s: %s", path, message)
            self.problems_dock.setWindowTitle(f"Problems ({self.problems.count()})")
            if not self.problems_dock.isVisible() and not self._problems_shown_once:
                self._problems_shown_once = True
                QTimer.singleShot(0, self.problems_dock.show)

    def shutdown(self) -> None:
        """Stop the scan and the loader."""
        self.stop_scan()
        self.loader.stop()
