"""File → Export annotated PNG (Ctrl+E) and Export all…, on a superqt ``thread_worker``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from pneumoviewer.ui.workers import (
    ExportJob,
    ExportOutcome,
    ExportProgress,
    export_pngs,
    start_worker,
)


class ExportController(QObject):
    """Export the image on screen or every listed image, in the background.

    Parameters
    ----------
    vm : ViewModel
        Snapshotted at the start of an export (contrast, overlay, decision parameters).
    window : QWidget
        Parent of the dialogs.
    study_list : StudyListPanel
        Rows (paths) and the listed ids.
    analysis : AnalysisController
        Cached results, decision threshold, model.
    data : DataController
        Folder, ground truth, CLAHE parameters, problems.
    status : StatusController
        Progress and messages.
    cancel_action : QAction
        Enabled while an export runs.
    parent : QObject
        Owner.

    Signals
    -------
    export_done(int, int, bool) : written, total, cancelled.

    """

    export_done = Signal(int, int, bool)

    def __init__(
        self,
        vm,
        *,
        window,
        study_list,
        analysis,
        data,
        status,
        clahe_params: Callable[[], Any],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.vm = vm
        self.window = window
        self.study_list = study_list
        self.analysis = analysis
        self.data = data
        self.status = status
        self.clahe_params = clahe_params
        self.worker = None
        self.last_export_dir: Path | None = None
        #: ``{layer key: image_id -> array | None}``, called in the GUI thread when an
        #: export starts; the result is the layer's ``Scene.extras[key]`` in the export.
        self.extra_sources: dict[str, Callable[[str], Any]] = {}

    # Dialog hooks (tests replace them) ---------------------------------------------------
    def ask_save_path(self, suggested: Path) -> Path | None:
        """Ask where to save one PNG."""
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Export annotated PNG", str(suggested), "PNG images (*.png)"
        )
        return Path(path) if path else None

    def ask_export_folder(self) -> Path | None:
        """Ask for the folder of Export all."""
        folder = QFileDialog.getExistingDirectory(
            self.window,
            "Export all listed images to…",
            str(self.last_export_dir or self.data.folder or Path.home()),
        )
        return Path(folder) if folder else None

    def confirm_overwrite(self, paths: list[Path]) -> bool | None:
        """Ask before overwriting: True overwrite, False skip existing, None cancel."""
        buttons = QMessageBox.StandardButton
        if len(paths) == 1:
            answer = QMessageBox.question(
                self.window,
                "Overwrite?",
                f"{paths[0]} exists. Replace it?",
                buttons.Yes | buttons.Cancel,
            )
            return True if answer == buttons.Yes else None
        answer = QMessageBox.question(
            self.window,
            "Overwrite?",
            f"{len(paths)} files exist already (e.g. {paths[0].name}). Overwrite them? "
            "(No: skip them)",
            buttons.Yes | buttons.No | buttons.Cancel,
        )
        if answer == buttons.Cancel:
            return None
        return answer == buttons.Yes

    # Actions --------------------------------------------------------------------------------
    def busy(self) -> bool:
        """Whether an export runs."""
        return self.worker is not None

    def export_current(self) -> None:
        """Ctrl+E: export the displayed image."""
        li = self.vm.image.loaded
        if li is None:
            self.status.message("Nothing to export", 4000)
            return
        row = self.study_list.model.get(li.image_id)
        suggested = (self.last_export_dir or row.path.parent) / f"{row.image_id}.png"
        target = self.ask_save_path(suggested)
        if target is None:
            return
        if target.suffix.lower() != ".png":
            target = target.with_suffix(".png")
        self.last_export_dir = target.parent
        self.start([self._job(row.image_id, target)], existing=[target])

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
        self.start(jobs, existing=[j.target for j in jobs])

    def _job(self, image_id: str, target: Path) -> ExportJob:
        row = self.study_list.model.get(image_id)
        res = self.analysis.store.get(image_id)
        extras = {key: source(image_id) for key, source in self.extra_sources.items()}
        return ExportJob(
            image_id,
            row.path,
            target,
            None if res is None else res.prob_u8,
            None if res is None else res.class_probability,
            extras=extras,
        )

    def start(self, jobs: list[ExportJob], *, existing: list[Path]) -> None:
        """Ask about existing files, then write ``jobs`` on a pool worker."""
        if self.worker is not None:
            self.status.message("An export is already running", 4000)
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
        total = len(jobs)
        self.status.progress("Exporting", 0, total)
        self.worker = start_worker(
            export_pngs,
            jobs,
            write=self.make_writer(overwrite=overwrite),
            yielded=self._on_progress,
            returned=lambda out: self._on_finished(out.written, out.total, False),
            errored=lambda exc: self._on_error(exc, total),
        )
        self.worker.aborted.connect(lambda: self._on_finished(self._written, total, True))
        self._written = 0

    def cancel(self) -> None:
        """Stop the export after the image in progress."""
        if self.worker is not None:
            self.worker.quit()

    def make_writer(self, *, overwrite: bool) -> Callable[[ExportJob, Any], None]:
        """Snapshot everything the worker needs (no widget or view-model access from it)."""
        from pneumoviewer.core.annotation import build_annotation
        from pneumoviewer.core.decision import decide
        from pneumoviewer.core.export import export_annotated_png
        from pneumoviewer.core.metrics import dice
        from pneumoviewer.core.preprocessing import clahe
        from pneumoviewer.ui.cache import upsample_probability
        from pneumoviewer.ui.layers import LAYER_TYPES, LayerStack, Scene

        snap = self.vm.snapshot()  # the worker reads this copy only
        params = snap.decision.params()
        layers = LayerStack([cls(snap) for cls in LAYER_TYPES])  # the screen's layers
        gt, clahe_on, clahe_params = self.data.ground_truth, snap.display.clahe, self.clahe_params()
        info = self.analysis.model_info
        manifest = None if info is None else info.manifest
        decision_threshold = self.analysis.decision_threshold
        contrast = "DICOM display (Modality LUT + VOI/window)"
        if clahe_on and clahe_params is not None:
            contrast = (
                f"CLAHE clip {clahe_params.clip_limit:g}, "
                f"tiles {clahe_params.tile_grid[0]}x{clahe_params.tile_grid[1]}"
            )

        def write(job: ExportJob, image: Any) -> None:
            shape = image.pixels.shape
            found = gt.lookup(image.image_id, shape) if gt is not None else None
            truth = None if found is None else found.mask  # None for a malformed row
            prob = None
            if job.prob_u8 is not None:  # kept at the model's size: resampled as on screen
                prob = upsample_probability(job.prob_u8, shape)
            decision = decide(
                class_probability=job.class_probability,
                prob_map=prob,
                params=params,
                decision_threshold=decision_threshold,
            )
            extras = job.extras or {}
            quality = None
            if "quality" in extras:  # #10: the gate, as on screen (ui/controllers/quality.py)
                from pneumoviewer.ui.controllers.quality import export_quality

                quality, decision = export_quality(extras["quality"], image, decision)
            pred = decision.mask
            d = None
            if pred is not None and truth is not None:
                d = float(dice(pred, truth, empty_score=1.0))
            base = clahe(image.pixels, clahe_params) if clahe_on else image.pixels
            scene = Scene(shape, truth=truth, prediction=pred, probability=prob, extras=extras)
            paints = layers.paints(scene)
            md = image.metadata
            annotation = build_annotation(  # the one builder (core.annotation), as predict
                image_id=image.image_id,
                decision=decision,
                decision_threshold=decision_threshold,
                params=params if pred is not None else None,
                manifest=manifest,
                dice=d,
                source=job.source,
                contrast=contrast,
                paints=paints,
                shape=shape,
                orientation=getattr(md, "patient_orientation", None),
                pixel_spacing=getattr(md, "pixel_spacing", None),
                quality=quality,
            )
            export_annotated_png(
                job.target, base, paints=paints, annotation=annotation, overwrite=overwrite
            )

        return write

    def _on_progress(self, p: ExportProgress) -> None:
        if p.failed is not None:
            self.data.report_problem(Path(p.failed[0]), f"export failed: {p.failed[1]}")
        else:
            self._written += 1
        self.status.progress("Exporting", p.done, p.total, f" · ETA {p.eta:.0f} s")

    def _on_error(self, exc: BaseException, total: int) -> None:
        self.data.report_problem(Path(str(self.last_export_dir)), f"export failed: {exc}")
        self._on_finished(self._written, total, True)

    def _on_finished(self, written: int, total: int, cancelled: bool) -> None:
        if self.worker is None:
            return
        self.worker = None
        self.status.progress_done()
        word = "cancelled" if cancelled else "done"
        self.status.message(f"Export {word}: {written} of {total} PNG written", 8000)
        self.export_done.emit(written, total, cancelled)


__all__ = ["ExportController", "ExportOutcome"]
