"""MainWindow part: model loading, analysis requests and results, thresholds, summary."""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from pneumoviewer.ui.analysis import ImageStats, folder_summary, image_stats, prediction_mask
from pneumoviewer.ui.cache import AnalysisResult
from pneumoviewer.ui.inference_worker import InferenceOutput, InferenceWorker, ModelInfo

log = logging.getLogger(__name__)

BULK_TICK_BUDGET_S = 0.012  # GUI time per tick spent recomputing list columns


class AnalysisMixin:
    """Everything between the inference worker and the widgets."""

    # --- model -------------------------------------------------------------------------
    def make_inference_worker(self) -> InferenceWorker:
        """Create and start the long-lived inference worker (torch is imported inside it)."""
        w = InferenceWorker(self)
        w.model_loaded.connect(self._on_model_loaded)
        w.model_failed.connect(self._on_model_failed)
        w.result.connect(self._on_result)
        w.failed.connect(self._on_analysis_failed)
        w.progress.connect(self._on_progress)
        w.batch_finished.connect(self._on_batch_finished)
        w.notice.connect(self._on_notice)
        w.start()
        return w

    def choose_model(self) -> None:
        """Pick a model directory (Model → Load…)."""
        folder = QFileDialog.getExistingDirectory(
            self, "Choose a model directory", str(self.model_dir or Path.home())
        )
        if folder:
            self.load_model(Path(folder), explicit=True)

    def load_model(self, model_dir: Path, *, explicit: bool = False) -> bool:
        """Check ``manifest.json`` (torch-free) then load the engine in the background."""
        from pneumoviewer.core.inference.manifest import read_manifest

        try:
            manifest = read_manifest(model_dir)
        except Exception as exc:  # noqa: BLE001 - any problem is a message
            self.show_error("Cannot load the model", str(exc))
            return False
        self._explicit_model = explicit
        self.pending_model_dir = Path(model_dir)
        self.model_panel.show_manifest(manifest, device="loading…")
        self.model_label.setText(f"Model: {manifest.name} (loading…)")
        self.inference.load_model(Path(model_dir), self.device_choice())
        return True

    def device_choice(self) -> str:
        """'auto', 'cpu' or 'cuda' from the toolbar."""
        return self.device_combo.currentData()

    def on_device_changed(self, _index: int) -> None:
        """Reload the model on the chosen device."""
        self.settings.setValue("device", self.device_choice())
        if self.model_dir is not None:
            self.load_model(self.model_dir)

    def _on_model_loaded(self, info: ModelInfo) -> None:
        first = self.model_info is None or info.model_dir != self.model_dir
        self.model_info, self.model_dir = info, info.model_dir
        m = info.manifest
        self.model_panel.show_manifest(m, device=info.device, note="\n".join(info.warnings))
        demo = " · DEMO — not for clinical use" if m.demo else ""
        self.model_label.setText(f"Model: {m.name}{demo}")
        self.model_label.setStyleSheet("color: #ff8a80;" if m.demo else "")
        self.device_label.setText(f"Device: {info.device}")
        if first:
            from pneumoviewer.core.preprocessing import ClaheParams

            self.store.clear()
            self.row_stats.clear()
            for row in self.study_list.model.rows:
                row.probability = row.area = row.dice = row.predicted = None
                row.analysed = False
            self.study_list.model.notify_all()
            self.clahe_params = m.clahe or ClaheParams()
            self.apply_model_params(info.params, m.name)
            self.reload_current()
        self.statusBar().showMessage(
            f"Model {m.name} ready on {info.device} ({info.seconds:.1f} s)", 8000
        )
        self.model_ready.emit(info)

    def _on_model_failed(self, model_dir: str, message: str) -> None:
        self.model_label.setText("Model: failed to load")
        self.model_panel.show_manifest(None, note=f"Failed: {message}")
        self.show_error("Cannot load the model", message)

    def _on_notice(self, text: str) -> None:
        log.warning(text)
        self.statusBar().showMessage(text, 15000)
        self.notice_label.setText("⚠ " + text[:80])
        self.notice_label.setToolTip(text)
        self.notice_label.show()

    def apply_model_params(self, params, model_name: str) -> None:
        """Set the decision controls to the remembered values for this model, else defaults."""
        from superqt.utils import signals_blocked

        key = f"threshold/{model_name}"
        saved = self.settings.value(key, None)
        c = self.controls
        with (
            signals_blocked(c.threshold_slider),
            signals_blocked(c.min_area_spin),
            signals_blocked(c.gate_check),
            signals_blocked(c.gate_spin),
        ):
            c.threshold_slider.setValue(
                float(saved) if saved is not None else params.mask_threshold
            )
            c.min_area_spin.setValue(int(params.min_area))
            c.gate_check.setChecked(bool(params.gate_enabled))
            c.gate_spin.setValue(float(params.gate_threshold))
            c.gate_check.setEnabled(self.model_info.manifest.classifier is not None)
        self.on_params_changed()

    @property
    def decision_threshold(self) -> float:
        """The classifier's decision threshold from the manifest (0.5 without one)."""
        m = None if self.model_info is None else self.model_info.manifest
        return m.classifier.decision_threshold if m is not None and m.classifier else 0.5

    def segmenter_expected(self) -> bool:
        """Whether the loaded model produces probability maps."""
        return self.model_info is not None and self.model_info.manifest.segmenter is not None

    def params(self):
        """Return the current ``PostprocessParams`` from the controls."""
        from pneumoviewer.core.postprocessing import PostprocessParams

        c = self.controls
        return PostprocessParams(
            mask_threshold=c.threshold,
            min_area=int(c.min_area_spin.value()),
            gate_enabled=c.gate_check.isChecked(),
            gate_threshold=float(c.gate_spin.value()),
        )

    # --- requests ---------------------------------------------------------------------------
    def auto_analyse_wanted(self, image_id: str) -> bool:
        """Auto-analyse is on, a model is ready and ``image_id`` has no cached map."""
        return (
            self.controls.auto_check.isChecked()
            and self.model_info is not None
            and not self.store.has_map(image_id)
        )

    def analyse_current(self) -> None:
        """Analyse the displayed image (A)."""
        if self.model_info is None:
            self.statusBar().showMessage("No model loaded (Model → Load…)", 6000)
            return
        if self.current is None:
            return
        self.statusBar().showMessage(f"Analysing {self.current.image_id} …")
        self.inference.analyse(self.generation, self.current.image_id, self.current.image.pixels)

    def analyse_all(self) -> None:
        """Analyse every listed (filtered) image without a cached map (Shift+A)."""
        if self.model_info is None:
            self.statusBar().showMessage("No model loaded (Model → Load…)", 6000)
            return
        model = self.study_list.model
        items = [
            (i, model.get(i).path)
            for i in self.study_list.proxy.image_ids()
            if not self.store.has_map(i) and not model.get(i).error
        ]
        if not items:
            self.statusBar().showMessage("All listed images are analysed", 5000)
            return
        self.batch_t0 = time.perf_counter()
        self.progress_bar.setRange(0, len(items))
        self.progress_bar.setValue(0)
        self.progress_bar.show()
        self.progress_label.setText(f"Analysing 0/{len(items)}")
        self.progress_label.show()
        self.actions["cancel"].setEnabled(True)
        self.inference.analyse_batch(items, self.generation)

    def inference_cancel(self) -> None:
        """Esc: cancel the analysis batch and any export."""
        if self.inference is not None:
            self.inference.cancel()
        if self.export_worker is not None:
            self.export_worker.stop(wait_ms=0)

    # --- results --------------------------------------------------------------------------
    def _on_result(self, out: InferenceOutput) -> None:
        self.store.add(
            AnalysisResult(
                out.image_id, out.class_probability, out.prob_u8, out.device, out.seconds
            )
        )
        self.results_received += 1
        score = out.class_probability
        if score is None and out.prob_u8 is not None:
            score = float(out.prob_u8.max()) / 255.0
        self.study_list.model.update(out.image_id, probability=score, analysed=True)
        if out.image_id == self.current_id and self.current is not None:
            self.refresh_overlay()
        else:
            self.update_row_stats(out.image_id, compute=True)
        if not out.batch:
            self.statusBar().showMessage(
                f"Analysed {out.image_id} on {out.device} in {out.seconds:.2f} s", 5000
            )
        self.schedule_summary()
        self.result_arrived.emit(out.image_id)

    def _on_analysis_failed(self, generation: int, image_id: str, message: str) -> None:
        log.error("analysis failed: %s", message)
        if image_id:
            row = self.study_list.model.get(image_id)
            self.report_problem(row.path if row else Path(image_id), message)
        self.statusBar().showMessage(message.splitlines()[0][:200], 10000)
        self.analysis_failed.emit(image_id, message)

    def _on_progress(self, done: int, total: int, eta: float) -> None:
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(done)
        eta_text = "" if math.isnan(eta) else f" · ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        self.progress_label.setText(f"Analysing {done}/{total}{eta_text}")

    def _on_batch_finished(self, done: int, total: int, cancelled: bool) -> None:
        self.progress_bar.hide()
        self.progress_label.hide()
        self.actions["cancel"].setEnabled(self.export_worker is not None)
        word = "cancelled" if cancelled else "finished"
        self.statusBar().showMessage(f"Analysis {word}: {done} of {total} images", 8000)
        self.batch_done.emit(done, total, cancelled)

    # --- thresholds ---------------------------------------------------------------------------
    def on_params_changed(self) -> None:
        """Slider / min area / gate moved: redraw now, refresh the list columns in chunks."""
        self.refresh_overlay()
        current = self.current_id
        self.bulk_queue = deque(i for i in self.store.scalars if i != current)
        if self.bulk_queue and not self.bulk_timer.isActive():
            self.bulk_timer.start()
        self.schedule_summary()

    def nudge_threshold(self, delta: float) -> None:
        """+/-: move the mask threshold by ``delta``."""
        self.controls.set_threshold(self.controls.threshold + delta)

    def _bulk_tick(self) -> None:
        t0 = time.perf_counter()
        changed = False
        while self.bulk_queue and time.perf_counter() - t0 < BULK_TICK_BUDGET_S:
            self.update_row_stats(self.bulk_queue.popleft(), compute=True, notify=False)
            changed = True
        if changed:
            self.study_list.model.notify_all()
        if not self.bulk_queue:
            self.bulk_timer.stop()
            self.schedule_summary()

    def truth_mask(self, image_id: str):
        """Bool (H, W) ground truth of ``image_id`` (None when unknown), cached."""
        if self.ground_truth is None or image_id not in self.ground_truth:
            return None
        if self.current is not None and self.current.image_id == image_id:
            return self.current.truth
        mask = self.truth_cache.get(image_id)
        if mask is None:
            row = self.study_list.model.get(image_id)
            md = None if row is None else row.metadata
            shape = (getattr(md, "rows", 1024) or 1024, getattr(md, "columns", 1024) or 1024)
            mask = self.ground_truth.mask(image_id, shape)
            self.truth_cache.put(image_id, mask)
        return mask

    def update_row_stats(
        self, image_id: str, *, mask=None, truth=None, compute: bool = False, notify: bool = True
    ) -> ImageStats | None:
        """Recompute area / Dice / label of an analysed image and put them in its row."""
        result = self.store.scalars.get(image_id)
        if result is None:
            return None
        if mask is None and compute and self.store.has_map(image_id):
            mask = prediction_mask(self.store, image_id, self.params())
        if truth is None:
            truth = self.truth_mask(image_id)
        row = self.study_list.model.get(image_id)
        if (
            mask is None
            and self.store.has_map(image_id) is False
            and row is not None
            and row.area is not None
            and self.segmenter_expected()
        ):
            return ImageStats(row.area, row.dice, row.area > 0)  # evicted: keep last numbers
        stats = image_stats(
            mask,
            truth,
            class_probability=result.class_probability,
            decision_threshold=self.decision_threshold,
        )
        if row is not None:
            row.area, row.dice, row.predicted = stats.area, stats.dice, stats.predicted_positive
            if notify:
                self.study_list.model.update(image_id)
        self.row_stats[image_id] = stats
        return stats

    # --- summary -------------------------------------------------------------------------------
    def update_summary(self) -> None:
        """Recompute the folder summary from the rows (throttled through schedule_summary)."""
        records = []
        for row in self.study_list.model.rows:
            if not row.analysed:
                continue
            positive = bool(row.predicted_positive)
            records.append(
                {
                    "truth": row.truth,
                    "score": row.probability,
                    "positive": positive,
                    "dice": row.dice,
                }
            )
        self.summary = folder_summary(records)
        self.summary_panel.show_summary(self.summary)
        self.summary_updated.emit()
