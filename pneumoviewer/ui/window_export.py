"""MainWindow part: annotated PNG export (current image and all listed images)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QMessageBox

from pneumoviewer.ui.workers import ExportJob, ExportWorker


class ExportMixin:
    """File → Export annotated PNG (Ctrl+E) and Export all… through core.export."""

    # Dialog hooks (tests replace them) ----------------------------------------------------
    def ask_save_path(self, suggested: Path) -> Path | None:
        """Ask where to save one PNG."""
        path, _ = QFileDialog.getSaveFileName(
            self, "Export annotated PNG", str(suggested), "PNG images (*.png)"
        )
        return Path(path) if path else None

    def ask_export_folder(self) -> Path | None:
        """Ask for the folder of Export all."""
        folder = QFileDialog.getExistingDirectory(
            self,
            "Export all listed images to…",
            str(self.last_export_dir or self.folder or Path.home()),
        )
        return Path(folder) if folder else None

    def confirm_overwrite(self, paths: list[Path]) -> bool | None:
        """Ask before overwriting: True overwrite, False skip existing, None cancel."""
        if len(paths) == 1:
            answer = QMessageBox.question(
                self,
                "Overwrite?",
                f"{paths[0]} exists. Replace it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            )
            return True if answer == QMessageBox.StandardButton.Yes else None
        answer = QMessageBox.question(
            self,
            "Overwrite?",
            f"{len(paths)} files exist already (e.g. {paths[0].name}). Overwrite them? "
            "(No: skip them)",
            QMessageBox.StandardButton.Yes
            | QMessageBox.StandardButton.No
            | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Cancel:
            return None
        return answer == QMessageBox.StandardButton.Yes

    # Actions --------------------------------------------------------------------------------
    def export_current(self) -> None:
        """Ctrl+E: export the displayed image."""
        if self.current is None:
            self.statusBar().showMessage("Nothing to export", 4000)
            return
        row = self.study_list.model.get(self.current.image_id)
        suggested = (self.last_export_dir or row.path.parent) / f"{row.image_id}.png"
        target = self.ask_save_path(suggested)
        if target is None:
            return
        if target.suffix.lower() != ".png":
            target = target.with_suffix(".png")
        self.last_export_dir = target.parent
        self._start_export([self._job(row.image_id, target)], existing=[target])

    def export_all(self) -> None:
        """Export every listed (filtered) image into a folder, in the background."""
        ids = self.study_list.proxy.image_ids()
        if not ids:
            return
        folder = self.ask_export_folder()
        if folder is None:
            return
        self.last_export_dir = folder
        jobs = [self._job(i, folder / f"{i}.png") for i in ids]
        self._start_export(jobs, existing=[j.target for j in jobs])

    def _job(self, image_id: str, target: Path) -> ExportJob:
        row = self.study_list.model.get(image_id)
        res = self.store.get(image_id)
        return ExportJob(
            image_id,
            row.path,
            target,
            None if res is None else res.prob_u8,
            None if res is None else res.class_probability,
        )

    def _start_export(self, jobs: list[ExportJob], *, existing: list[Path]) -> None:
        if self.export_worker is not None and self.export_worker.isRunning():
            self.statusBar().showMessage("An export is already running", 4000)
            return
        exists = [p for p in existing if p.exists()]
        overwrite = False
        if exists:
            answer = self.confirm_overwrite(exists)
            if answer is None:
                return
            overwrite = bool(answer)
            if not overwrite:
                jobs = [j for j in jobs if not j.target.exists()]
        if not jobs:
            return
        worker = ExportWorker(
            jobs, make_kwargs=self._export_kwargs_factory(), overwrite=overwrite, parent=self
        )
        worker.progress.connect(self._on_export_progress)
        worker.failed.connect(lambda i, m: self.report_problem(Path(i), f"export failed: {m}"))
        worker.finished_export.connect(self._on_export_finished)
        self.export_worker = worker
        self.progress_bar.setRange(0, len(jobs))
        self.progress_bar.setValue(0)
        self.progress_bar.show()
        self.progress_label.setText(f"Exporting 0/{len(jobs)}")
        self.progress_label.show()
        self.actions["cancel"].setEnabled(True)
        worker.start()

    def _export_kwargs_factory(self):
        """Snapshot everything the worker needs (no widget access from the worker)."""
        from pneumoviewer.core.metrics import dice
        from pneumoviewer.core.postprocessing import postprocess
        from pneumoviewer.core.preprocessing import clahe
        from pneumoviewer.ui.cache import dequantise_probability

        params, style = self.params(), self.overlay_style()
        gt, clahe_on, clahe_params = (
            self.ground_truth,
            self.actions["contrast"].isChecked(),
            self.clahe_params,
        )
        manifest = None if self.model_info is None else self.model_info.manifest
        decision = self.decision_threshold

        def make(job: ExportJob, image: Any) -> dict[str, Any]:
            shape = image.pixels.shape
            truth = (
                gt.mask(image.image_id, shape) if gt is not None and image.image_id in gt else None
            )
            pred = None
            if job.prob_u8 is not None and job.prob_u8.shape == shape:
                pred = postprocess(
                    dequantise_probability(job.prob_u8),
                    params,
                    class_probability=job.class_probability,
                )
            lines, prov = (
                [],
                {
                    "pneumoviewer:image_id": image.image_id,
                    "pneumoviewer:source": str(job.source),
                    "pneumoviewer:contrast": "clahe" if clahe_on else "raw",
                },
            )
            if job.class_probability is not None:
                label = "positive" if job.class_probability >= decision else "negative"
                lines.append(
                    f"AI probability {job.class_probability:.3f} ({label}, "
                    f"threshold {decision:.2f})"
                )
                prov["pneumoviewer:class_probability"] = f"{job.class_probability:.6f}"
            if pred is not None:
                area = int(pred.sum())
                lines.append(
                    f"Predicted area {area:,} px (mask threshold "
                    f"{params.mask_threshold:.2f}, min area {params.min_area})"
                )
                prov.update(
                    {
                        "pneumoviewer:mask_threshold": f"{params.mask_threshold:.4f}",
                        "pneumoviewer:min_area": str(params.min_area),
                        "pneumoviewer:gate": str(params.gate_enabled),
                        "pneumoviewer:predicted_area": str(area),
                    }
                )
                if truth is not None:
                    d = dice(pred, truth, empty_score=1.0)
                    lines.append(f"Dice vs ground truth {d:.3f}")
                    prov["pneumoviewer:dice"] = f"{d:.6f}" if not math.isnan(d) else "nan"
            if manifest is not None:
                demo = " — DEMO, not for clinical use" if manifest.demo else ""
                lines.append(f"Model {manifest.name}{demo}")
                prov["pneumoviewer:model"] = manifest.name
                prov["pneumoviewer:model_demo"] = str(bool(manifest.demo))
            base = clahe(image.pixels, clahe_params) if clahe_on else image.pixels
            return {
                "ground_truth": truth,
                "prediction": pred,
                "style": style,
                "title": image.image_id,
                "lines": lines,
                "provenance": prov,
                "base_override": base,
            }

        return make

    def _on_export_progress(self, done: int, total: int, eta: float) -> None:
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(done)
        self.progress_label.setText(f"Exporting {done}/{total} · ETA {eta:.0f} s")

    def _on_export_finished(self, written: int, total: int, cancelled: bool) -> None:
        self.export_worker = None
        self.progress_bar.hide()
        self.progress_label.hide()
        self.actions["cancel"].setEnabled(self.inference is not None and self.inference.busy())
        word = "cancelled" if cancelled else "done"
        self.statusBar().showMessage(f"Export {word}: {written} of {total} PNG written", 8000)
        self.export_done.emit(written, total, cancelled)
