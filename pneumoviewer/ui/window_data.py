"""MainWindow part: folders, scanning, selection, image loading and drawing."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog

from pneumoviewer.ui.cache import LRUCache
from pneumoviewer.ui.settings import push_recent_folder
from pneumoviewer.ui.study_model import StudyRow
from pneumoviewer.ui.workers import LoadedImage, ScanWorker

log = logging.getLogger(__name__)


class DataMixin:
    """Open folders, stream the scan into the list, load and show the selected image."""

    # --- folders ----------------------------------------------------------------------
    def choose_folder(self) -> None:
        """Pick a folder and open it (File → Open folder…)."""
        start = str(self.folder or Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of DICOM images", start)
        if folder:
            self.open_folder(Path(folder))

    def open_folder(self, folder: Path) -> None:
        """Show ``folder``: clear everything, read its ground truth, start the scan."""
        from pneumoviewer.core.ground_truth import find_ground_truth_csv, read_rle_csv

        folder = Path(folder)
        if not folder.is_dir():
            self.report_problem(folder, "not a folder (or it does not exist)")
            self.statusBar().showMessage(f"Cannot open {folder}: not a folder", 8000)
            return
        self._stop_scan()
        self.inference_cancel()
        self.folder = folder.resolve()
        self.scan_generation += 1
        self.generation += 1
        self.current_id = None
        self.current = None
        self.pixel_cache.clear()
        self.truth_cache.clear()
        self.store.clear()
        self.row_stats.clear()
        self.study_list.model.clear()
        self.problems.clear()
        self.canvas.show_message("Scanning…")
        self.ground_truth = None
        gt_path = self.gt_csv_override or find_ground_truth_csv(self.folder)
        if gt_path is not None:
            try:
                self.ground_truth = read_rle_csv(gt_path)
            except Exception as exc:  # noqa: BLE001 - a bad CSV must not stop browsing
                self.report_problem(Path(gt_path), f"ground truth not used: {exc}")
        self.gt_label.setText(
            f"Ground truth: {Path(gt_path).name}"
            if self.ground_truth is not None
            else "No ground truth"
        )
        self.recent = push_recent_folder(self.settings, self.folder)
        self._rebuild_recent_menu()
        self.setWindowTitle(f"pneumoviewer — {self.folder.name}")
        worker = ScanWorker(self.folder, self.scan_generation, parent=self)
        worker.batch.connect(self._on_scan_batch)
        worker.finished_scan.connect(self._on_scan_finished)
        self.scan_worker = worker
        self.statusBar().showMessage(f"Scanning {self.folder} …")
        worker.start()

    def _stop_scan(self) -> None:
        if self.scan_worker is not None:
            self.scan_worker.stop()
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
            truth = gt.is_positive(item.image_id) if gt is not None else None
            rows.append(StudyRow(item.image_id, item.path, item.metadata, truth))
        self.study_list.model.append_rows(rows)
        if self.current_id is None and self.study_list.proxy.rowCount():
            self.study_list.select_row(0)

    def _on_scan_finished(self, generation: int, count: int, error: str) -> None:
        if generation != self.scan_generation:
            return
        self.scan_worker = None
        n = self.study_list.model.rowCount()
        if error:
            self.report_problem(self.folder, error)
        msg = f"{n} images in {self.folder}"
        self.setWindowTitle(f"pneumoviewer — {self.folder.name} ({n} images)")
        if self.problems.count():
            msg += f" · {self.problems.count()} problems (see Problems)"
        if n == 0:
            self.canvas.show_message(f"No readable DICOM images in {self.folder}")
        if self.ground_truth is not None:
            known = sum(r.truth is not None for r in self.study_list.model.rows)
            name = self.gt_label.text().removeprefix("Ground truth: ")
            self.gt_label.setText(f"Ground truth: {name} ({known} of {n} images)")
            if known == 0 and n:
                msg += " · the ground-truth CSV lists none of these images"
        self.statusBar().showMessage(msg, 10000)
        self.scan_finished.emit(n)

    # --- selection and loading -----------------------------------------------------------
    def select_image(self, image_id: str) -> None:
        """Show ``image_id`` (from the pixel cache at once, else via the loader)."""
        row = self.study_list.model.get(image_id)
        if row is None:
            return
        self.generation += 1
        self.current_id = image_id
        self.inference.discard_speculative()  # an auto-analysis of the image we left
        self.metadata_panel.show_metadata(image_id, row.path, row.metadata)
        cached = self.pixel_cache.get(image_id)
        if cached is not None:
            self._show_loaded(cached)
            return
        self.loader.request(
            self.generation,
            image_id,
            row.path,
            clahe_params=self.clahe_params,
            ground_truth=self.ground_truth,
        )

    def _on_loaded(self, li: LoadedImage) -> None:
        self.pixel_cache.put(li.image_id, li)
        if li.generation != self.generation or li.image_id != self.current_id:
            self.stale_dropped += 1
            return
        self._show_loaded(li)

    def _on_load_failed(self, generation: int, image_id: str, path: str, message: str) -> None:
        self.study_list.model.update(image_id, error=message)
        self.report_problem(Path(path), message)
        if generation == self.generation and image_id == self.current_id:
            self.current = None
            self.canvas.show_message(f"Cannot display this image:\n{message}")
            self.controls.show_result(
                probability=None, decision_threshold=None, area=None, dice=None
            )
            self.image_shown.emit(image_id)

    def _show_loaded(self, li: LoadedImage) -> None:
        self.current = li
        self.canvas.set_image(self.display_pixels(li))
        self.refresh_overlay()
        if self.auto_analyse_wanted(li.image_id):
            self.inference.analyse(self.generation, li.image_id, li.image.pixels, speculative=True)
        self.image_shown.emit(li.image_id)

    def display_pixels(self, li: LoadedImage):
        """Raw or CLAHE uint8 pixels of ``li`` depending on the contrast mode."""
        return li.clahe if self.actions["contrast"].isChecked() else li.image.pixels

    def reload_current(self) -> None:
        """Forget cached pixels (e.g. new CLAHE parameters) and load the current image again."""
        self.pixel_cache.clear()
        if self.current_id is not None:
            self.select_image(self.current_id)

    # --- drawing ---------------------------------------------------------------------------
    def overlay_style(self):
        """Return the core ``OverlayStyle`` from the toggles, colours, fill/outline and opacity."""
        from pneumoviewer.core.overlay import LayerStyle, OverlayStyle

        opacity, outline = self.controls.opacity, self.controls.outline
        return OverlayStyle(
            ground_truth=LayerStyle(
                self.truth_color, opacity, outline, self.actions["show_truth"].isChecked()
            ),
            prediction=LayerStyle(
                self.pred_color, opacity, outline, self.actions["show_prediction"].isChecked()
            ),
            difference=self.actions["difference"].isChecked(),
        )

    def refresh_overlay(self) -> None:
        """Recompute the current prediction mask and overlay, legend, read-out and row."""
        from pneumoviewer.core.overlay import compose_overlay, legend_entries

        li = self.current
        if li is None:
            return
        image_id = li.image_id
        pred = self.current_prediction_mask()
        style = self.overlay_style()
        rgba = compose_overlay(
            li.image.pixels.shape, ground_truth=li.truth, prediction=pred, style=style
        )
        self.canvas.set_overlay(rgba)
        notes = []
        if li.truth is None:
            notes.append("no ground truth")
        elif not li.truth.any():
            notes.append("ground truth: no pneumothorax")
        if pred is not None and not pred.any():
            notes.append("prediction: empty")
        entries = legend_entries(
            style, have_truth=li.truth is not None, have_prediction=pred is not None
        )
        two_filled_layers = len(entries) == 2 and not self.controls.outline
        if two_filled_layers and li.truth is not None and pred is not None:
            both = li.truth & pred
            if both.any():  # the colour actually drawn where the layers overlap
                y, x = np.unravel_index(int(np.argmax(both)), both.shape)
                entries.append(("Overlap", tuple(int(v) for v in rgba[y, x, :3])))
        self.canvas.set_legend(entries, note=" · ".join(notes))
        result = self.store.get(image_id)
        stats = self.update_row_stats(image_id, mask=pred, truth=li.truth, compute=True)
        prob = None if result is None else result.class_probability
        run = "" if result is None else f"{result.device}, {result.seconds * 1000:.0f} ms"
        if result is not None and result.prob_u8 is None and self.segmenter_expected():
            run += " (map evicted: analyse again)"
        self.controls.show_result(
            probability=prob,
            decision_threshold=self.decision_threshold,
            area=None if stats is None else stats.area,
            dice=None if stats is None else stats.dice,
            run=run,
        )
        info = f"<b>{'…' if len(image_id) > 28 else ''}{image_id[-28:]}</b>"
        if prob is not None:
            info += f" &nbsp; AI p = {prob:.2f}"
        self.canvas.set_info(info)
        self.overlay_updated.emit()

    def current_prediction_mask(self):
        """Bool (H, W) post-processed mask of the current image, or None."""
        from pneumoviewer.ui.analysis import prediction_mask

        if self.current is None or not self.store.has_map(self.current.image_id):
            return None
        return prediction_mask(self.store, self.current.image_id, self.params())

    def on_contrast_toggled(self, _checked: bool) -> None:
        """Raw ↔ CLAHE."""
        if self.current is not None:
            self.canvas.set_image(self.display_pixels(self.current), keep_view=True)
        self.overlay_updated.emit()

    # --- problems ----------------------------------------------------------------------
    def report_problem(self, path: Path, message: str) -> None:
        """List a problem in the Problems dock and show the dock."""
        if self.problems.add_problem(path, message):
            log.warning("%s: %s", path, message)
            self.problems_dock.setWindowTitle(f"Problems ({self.problems.count()})")
            if not self.problems_dock.isVisible() and not self._problems_shown_once:
                self._problems_shown_once = True
                QTimer.singleShot(0, self.problems_dock.show)


def make_pixel_cache() -> LRUCache:
    """Make the LRU of decoded images for instant switching (24 images, ~3 MB each)."""
    return LRUCache(max_items=24)
