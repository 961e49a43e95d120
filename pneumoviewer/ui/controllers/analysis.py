"""Model loading, analysis requests ("AI by itself"), results, list columns and summary."""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from superqt.utils import qthrottled

from pneumoviewer.ui.analysis import ResultStore, summary_panel_numbers
from pneumoviewer.ui.cache import AnalysisResult
from pneumoviewer.ui.inference_worker import (
    AnalyseImage,
    AnalysisFailure,
    BatchFinished,
    BatchItem,
    BatchProgress,
    InferenceOutput,
    InferenceWorker,
    ModelFailure,
    ModelInfo,
)
from pneumoviewer.ui.view_model import Readout, clamp_threshold, params_to_values

log = logging.getLogger(__name__)

BULK_TICK_BUDGET_S = 0.012  # GUI time per tick spent recomputing list columns
BULK_DELAY_MS = 150  # the other rows are recomputed once the parameters rest this long


class AnalysisController(QObject):
    """Everything between the inference worker, the view model and the list.

    Parameters
    ----------
    vm : ViewModel
        ``vm.analysis`` and ``vm.decision`` are written here; ``vm.image`` is read.
    study_list : StudyListPanel
        Rows get probability, area, Dice and the decision state.
    status : StatusController
        Messages, model / device labels, progress.
    model_panel, summary_panel : QWidget
        The Model and Summary tabs.
    truth_mask : callable
        ``image_id -> bool (H, W) | None`` (the data controller's cache).
    report_problem : callable
        ``(path, message) -> None``.
    settings : QSettings
        Remembered thresholds per model.
    device_choice : callable
        Returns "auto", "cpu" or "cuda".
    runtime_choice : callable or None
        Returns the CPU runtime setting ("auto", "torch", ...; None: the worker reads the
        settings) (#11).
    on_model_changed : callable
        Called after a *different* model loaded (the window reloads the image: CLAHE).
    truth_rows : callable or None
        ``image_id -> list of RLE strings | None``: identifies an image's ground truth in
        the key of the numbers kept in the results store (#12).
    parent : QObject
        Owner.

    Signals
    -------
    model_ready(object) : :class:`ModelInfo`.
    model_failed(str) : why the model could not be loaded.
    result_arrived(str) : an image's result was stored.
    analysis_failed(str, str) : image id, message.
    batch_done(int, int, bool) : done, total, cancelled.
    summary_updated() : the Summary tab was recomputed.

    """

    model_ready = Signal(object)
    model_failed = Signal(str)
    result_arrived = Signal(str)
    analysis_failed = Signal(str, str)
    batch_done = Signal(int, int, bool)
    summary_updated = Signal()

    def __init__(
        self,
        vm,
        *,
        study_list,
        status,
        model_panel,
        summary_panel,
        truth_mask: Callable[[str], Any],
        report_problem: Callable[[Path, str], None],
        settings,
        device_choice: Callable[[], str],
        on_model_changed: Callable[[], None],
        truth_rows: Callable[[str], Any] | None = None,
        runtime_choice: Callable[[], str | None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.vm = vm
        self.study_list = study_list
        self.status = status
        self.model_panel = model_panel
        self.summary_panel = summary_panel
        self.truth_mask = truth_mask
        self.report_problem = report_problem
        self.settings = settings
        self.device_choice = device_choice
        self.runtime_choice = runtime_choice or (lambda: None)
        self.on_model_changed = on_model_changed
        self.truth_rows = truth_rows or (lambda _image_id: None)
        self.store = self._open_results_store(settings)  # #12: results persist on disk
        self.summary = None
        self.model_info: ModelInfo | None = None
        self.model_dir: Path | None = None
        self.loading_dir: Path | None = None  # the latest load asked for (None: failed)
        self.results_received = 0
        self.generation = 0
        self.bulk_queue: deque[str] = deque()
        self.bulk_timer = QTimer(self)
        self.bulk_timer.setInterval(0)
        self.bulk_timer.timeout.connect(self._bulk_tick)
        self.bulk_delay = QTimer(self)
        self.bulk_delay.setSingleShot(True)
        self.bulk_delay.setInterval(BULK_DELAY_MS)
        self.bulk_delay.timeout.connect(self.bulk_timer.start)
        self.schedule_summary = qthrottled(self.update_summary, timeout=150, leading=False)

        w = InferenceWorker(self)
        w.model_loaded.connect(self._on_model_loaded)
        w.model_failed.connect(self._on_model_failed)
        w.result.connect(self._on_result)
        w.failed.connect(self._on_failed)
        w.progress.connect(self._on_progress)
        w.batch_finished.connect(self._on_batch_finished)
        w.notice.connect(status.notice)
        w.start()
        self.inference = w

        study_list.model.rowsInserted.connect(self._on_rows_inserted)  # #12: restore results
        vm.image.events.image_id.connect(self._on_selection)
        vm.image.events.loaded.connect(lambda *_: self.maybe_auto_analyse())
        vm.analysis.events.auto.connect(lambda *_: self.maybe_auto_analyse())
        vm.decision.events.connect(lambda *_: self.on_params_changed())

    # --- model ---------------------------------------------------------------------------
    @property
    def decision_threshold(self) -> float:
        """The classifier's decision threshold from the manifest (0.5 without one)."""
        from pneumoviewer.core.decision import decision_threshold_of

        return 0.5 if self.model_info is None else decision_threshold_of(self.model_info.manifest)

    def has_segmenter(self) -> bool:
        """Whether the loaded model produces probability maps."""
        return self.model_info is not None and self.model_info.manifest.segmenter is not None

    def load_model(self, model_dir: Path) -> str | None:
        """Check ``manifest.json`` (torch-free), then load the engine in the background.

        Returns
        -------
        str or None
            The problem when the manifest cannot be read (nothing is loaded then).

        """
        from pneumoviewer.core.inference.manifest import read_manifest

        try:
            manifest = read_manifest(model_dir)
        except Exception as exc:  # noqa: BLE001 - any problem is a message
            return str(exc)
        self.vm.analysis.model_name = manifest.name
        self.vm.analysis.model = "loading"
        self.model_panel.show_manifest(manifest, device="loading…")
        self.status.set_label(self.status.model_label, f"Model: {manifest.name} (loading…)")
        self.load_t0 = time.perf_counter()
        self.loading_dir = Path(model_dir)
        self.inference.load_model(Path(model_dir), self.device_choice(), self.runtime_choice())
        return None

    def reload_on_device(self) -> None:
        """Reload the model on the device / runtime chosen in the toolbar (also mid-load)."""
        target = self.loading_dir or self.model_dir
        if target is not None:
            self.load_model(target)

    def _on_model_loaded(self, info: ModelInfo) -> None:
        first = self.model_info is None or info.model_dir != self.model_dir
        self.model_info, self.model_dir = info, info.model_dir
        m = info.manifest
        from pneumoviewer.ui.runtime_setting import describe_runtimes  # #11

        where = describe_runtimes(info.device, dict(info.runtimes), info.runtime_choice)
        self.model_panel.show_manifest(m, device=where, note="\n".join(info.warnings))
        demo = " · DEMO, not for clinical use" if m.demo else ""
        self.status.set_label(
            self.status.model_label,
            f"Model: {m.name}{demo}",
            style="color: #ff8a80;" if m.demo else "",
        )
        short = describe_runtimes(info.device, dict(info.runtimes), info.runtime_choice, short=True)
        self.status.set_label(self.status.device_label, f"Device: {short}")
        self.vm.analysis.device = info.device
        from pneumoviewer.ui.results import results_model_key

        if self.store.use_model(results_model_key(info)) or first:  # model or runtime changed
            # Results of an older model arrived before this signal (one worker, in order);
            # a request queued during the load runs on this model: keep it pending.
            self.clear_results(cancel=False)
            if first:
                self.apply_model_params(info.params, m.name)
            self.restore_results(self.study_list.model.rows)
        self.vm.analysis.model = "ready"
        self.status.message(f"Model {m.name} ready on {info.device} ({info.seconds:.1f} s)")
        if first:
            self.on_model_changed()
        self.model_ready.emit(info)
        self.maybe_auto_analyse()

    def _on_model_failed(self, failure: ModelFailure) -> None:
        self.loading_dir = None
        self.vm.analysis.model = "failed" if self.model_info is None else "ready"
        self.vm.analysis.pending = None
        self.status.set_label(self.status.model_label, "Model: failed to load")
        self.model_panel.show_manifest(None, note=f"Failed: {failure.message}")
        self.model_failed.emit(failure.message)

    def apply_model_params(self, params: Any, model_name: str) -> None:
        """Set the decision parameters: the model's, with the remembered threshold."""
        from pneumoviewer.ui.settings import read_value

        values = params_to_values(params)
        saved = read_value(self.settings, f"threshold/{model_name}", None, float)
        if saved is not None:
            values["bottom_threshold"] = clamp_threshold(saved)
        with self.vm.decision.events.blocked():
            self.vm.decision.update(**values)
        self.vm.decision.events.bottom_threshold.emit(self.vm.decision.bottom_threshold, None)

    def clear_results(self, *, cancel: bool = True) -> None:
        """Forget every result (new folder; new model with ``cancel=False``)."""
        if cancel:
            self.inference.cancel()
            self.vm.analysis.pending = None
        self.store.clear()
        self.bulk_queue.clear()
        for row in self.study_list.model.rows:
            row.probability = row.area = row.dice = row.predicted = row.state = None
            row.analysed = False
        self.study_list.model.notify_all()
        self.schedule_summary()

    # --- requests -------------------------------------------------------------------------
    def _on_selection(self, *_args) -> None:
        self.generation += 1
        self.inference.discard_automatic()  # an automatic analysis of the image we left
        self.vm.analysis.pending = None

    def maybe_auto_analyse(self) -> None:
        """AI by itself: analyse the image on screen when it has no result yet."""
        li = self.vm.image.loaded
        if li is None:
            return
        analysed = not self.needs_analysis(li.image_id)
        wanted = self.vm.auto_analyse_wanted(analysed=analysed)
        if wanted and self.vm.analysis.pending != li.image_id:
            self._request(li, automatic=True)

    def needs_analysis(self, image_id: str) -> bool:
        """No result yet, or its probability map was evicted from the cache."""
        if image_id not in self.store:
            return True
        return self.has_segmenter() and not self.store.has_map(image_id)

    def analyse_current(self) -> None:
        """Analyse the displayed image now (A); queued while the model loads."""
        if not self.vm.analysis.can_queue:
            self.status.message("No model loaded (Model → Load…)", 6000)
            return
        li = self.vm.image.loaded
        if li is None:
            return
        self._request(li, automatic=False)

    def _request(self, li, *, automatic: bool) -> None:
        self.vm.analysis.pending = li.image_id
        if self.vm.analysis.model == "loading":
            self.status.message(f"{li.image_id}: analysed as soon as the model is loaded", 0)
        elif not automatic:
            self.status.message(f"Analysing {li.image_id} …", 0)
        request = AnalyseImage(
            self.generation, li.image_id, li.image.pixels, automatic, padding=li.image.padding
        )
        self.inference.analyse(request)

    def analyse_all(self, image_ids: list[str]) -> None:
        """Analyse every listed image without a result (Shift+A); the one on screen first."""
        if not self.vm.analysis.can_queue:
            self.status.message("No model loaded (Model → Load…)", 6000)
            return
        model = self.study_list.model
        items = [
            BatchItem(i, model.get(i).path)
            for i in image_ids
            if self.needs_analysis(i) and not model.get(i).error
        ]
        if not items:
            self.status.message("All listed images are analysed", 5000)
            return
        self.batch_t0 = time.perf_counter()
        self.vm.analysis.batch_done, self.vm.analysis.batch_total = 0, len(items)
        self.status.progress("Analysing", 0, len(items))
        self.inference.analyse_batch(items, self.generation)
        self.maybe_auto_analyse()

    def cancel(self) -> None:
        """Esc: drop the queued batch and any pending request."""
        self.inference.cancel()
        self.vm.analysis.pending = None

    # --- results --------------------------------------------------------------------------
    def _on_result(self, out: InferenceOutput) -> None:
        score = out.class_probability if out.score is None else out.score
        self.store.add(
            AnalysisResult(
                out.image_id,
                out.class_probability,
                out.prob_u8,
                out.device,
                out.seconds,
                image_shape=out.image_shape,
                score=score,
            )
        )
        self.results_received += 1
        if self.vm.analysis.pending == out.image_id:
            self.vm.analysis.pending = None
        self.study_list.model.update(out.image_id, probability=score, analysed=True)
        if out.image_id != self.vm.image.image_id:
            self.update_row(out.image_id)
        if not out.batch:
            self.status.message(
                f"Analysed {out.image_id} on {out.device} in {out.seconds:.2f} s", 5000
            )
        self.schedule_summary()
        self.result_arrived.emit(out.image_id)  # the render controller redraws

    def _on_failed(self, failure: AnalysisFailure) -> None:
        log.error("analysis failed: %s", failure.message)
        if self.vm.analysis.pending == failure.image_id:
            self.vm.analysis.pending = None
        if failure.image_id:
            row = self.study_list.model.get(failure.image_id)
            self.report_problem(row.path if row else Path(failure.image_id), failure.message)
        self.status.message(failure.message.splitlines()[0], 10000)
        self.analysis_failed.emit(failure.image_id, failure.message)

    def _on_progress(self, p: BatchProgress) -> None:
        self.vm.analysis.batch_done, self.vm.analysis.batch_total = p.done, p.total
        eta = "" if math.isnan(p.eta) else f" · ETA {int(p.eta) // 60}:{int(p.eta) % 60:02d}"
        self.status.progress("Analysing", p.done, p.total, eta)

    def _on_batch_finished(self, b: BatchFinished) -> None:
        self.vm.analysis.batch_done, self.vm.analysis.batch_total = 0, 0
        self.status.progress_done()
        word = "cancelled" if b.cancelled else "finished"
        self.status.message(f"Analysis {word}: {b.done} of {b.total} images", 8000)
        self.batch_done.emit(b.done, b.total, b.cancelled)

    # --- decisions -------------------------------------------------------------------------
    def decision(self, image_id: str, *, prob_map=None):
        """Return the core ``Decision`` of ``image_id`` at the current parameters."""
        from pneumoviewer.core.decision import NOT_ANALYSED, decide

        result = self.store.scalars.get(image_id)
        if result is None:
            return NOT_ANALYSED
        if prob_map is None:
            prob_map = self.store.float_map(image_id, memoise=image_id == self.vm.image.image_id)
        if prob_map is None and self.has_segmenter():
            return None  # map evicted: keep the row's last numbers
        decision = decide(
            class_probability=result.class_probability,
            prob_map=prob_map,
            params=self.vm.decision.params(),
            decision_threshold=self.decision_threshold,
        )
        row = self.study_list.model.get(image_id)
        if row is not None and row.withheld:  # #10: refused by the quality gate
            from pneumoviewer.core.quality import withhold

            decision = withhold(decision)
        return decision

    def update_row(self, image_id: str, *, decision=None, truth=None, notify: bool = True):
        """Put the decision, area and Dice of an analysed image in its row; return Readout."""
        from pneumoviewer.core.metrics import dice as dice_of

        if decision is None:
            decision = self.decision(image_id)
        row = self.study_list.model.get(image_id)
        if decision is None:
            return None
        if truth is None:
            truth = self.truth_mask(image_id)
        d = None
        if decision.mask is not None and truth is not None and truth.shape == decision.mask.shape:
            d = float(dice_of(decision.mask, truth, empty_score=1.0))
        if row is not None and image_id in self.store:
            row.area, row.dice = decision.area, d
            row.predicted, row.state = decision.positive, str(decision.state)
            self.store.note_stats(
                image_id, self._stats_key(image_id), area=decision.area, dice=d,
                positive=decision.positive, state=str(decision.state),
            )  # fmt: skip
            if notify:
                self.study_list.model.update(image_id)
        result = self.store.scalars.get(image_id)
        run = ""
        if result is not None:
            run = f"{result.device}, {result.seconds * 1000:.0f} ms"
        withheld = row is not None and row.withheld  # #10: "not assessed: REASON", no number
        return Readout(
            state=f"not assessed: {row.quality.text}" if withheld else str(decision.state),
            probability=None if withheld else decision.probability,
            decision_threshold=self.decision_threshold if self.model_info else None,
            area=decision.area,
            dice=d,
            run=run,
        )

    def on_params_changed(self) -> None:
        """Decision parameters moved: refresh the other rows' columns in chunks."""
        current = self.vm.image.image_id
        self.bulk_queue = deque(i for i in self.store.scalars if i != current)
        self.bulk_timer.stop()
        if self.bulk_queue:  # once the slider rests: no list work on the slider path
            self.bulk_delay.start()
        self.schedule_summary()

    def bulk_busy(self) -> bool:
        """Whether other rows still wait to be recomputed for the current parameters."""
        return self.bulk_delay.isActive() or self.bulk_timer.isActive()

    def _bulk_tick(self) -> None:
        t0 = time.perf_counter()
        changed = False
        while self.bulk_queue and time.perf_counter() - t0 < BULK_TICK_BUDGET_S:
            self.update_row(self.bulk_queue.popleft(), notify=False)
            changed = True
        if changed:
            self.study_list.model.notify_all()
        if not self.bulk_queue:
            self.bulk_timer.stop()
            self.schedule_summary()

    # --- summary ---------------------------------------------------------------------------
    def update_summary(self) -> None:
        """Recompute the folder summary from the rows (throttled: schedule_summary)."""
        records = []
        for row in self.study_list.model.rows:
            if not row.analysed:
                continue
            result = self.store.scalars.get(row.image_id)  # the AUC ranks class probabilities
            records.append(
                {
                    "truth": row.truth,
                    "score": None if result is None else result.class_probability,
                    "positive": bool(row.predicted_positive),
                    "dice": row.dice,
                    "refused": row.withheld,  # #10: left out of the metrics, counted
                }
            )
        self.summary = summary_panel_numbers(records)
        self.summary_panel.show_summary(self.summary)
        self.summary_updated.emit()

    def shutdown(self) -> None:
        """Stop the worker (the image in progress finishes first), close the results store."""
        self.bulk_timer.stop()
        self.bulk_delay.stop()
        self.inference.cancel()
        self.inference.stop(wait_ms=60_000)
        self.store.close()

    # --- results that persist (#12) ----------------------------------------------------------
    def _open_results_store(self, settings) -> ResultStore:
        """Open the results store (memory only, with a message, when it cannot be used).

        Where: setting ``results/dir``, else $PNEUMOVIEWER_RESULTS_DIR, else the cache dir;
        bound: setting ``results/max_mb`` (default 2048 MB).
        """
        from pneumoviewer.ui.results import open_disk_store
        from pneumoviewer.ui.settings import read_value

        directory = max_mb = None
        if settings is not None:
            directory = read_value(settings, "results/dir", None, str)
            max_mb = read_value(settings, "results/max_mb", None, float)
        disk, notice = open_disk_store(
            directory or None, max_bytes=int(max_mb * 2**20) if max_mb else None
        )
        if notice:
            log.warning(notice)
            self.status.notice(notice)
        return ResultStore(disk=disk)

    def _stats_key(self, image_id: str) -> str:
        from pneumoviewer.ui.results import stats_key

        params, truth = self.vm.decision.params(), self.truth_rows(image_id)
        return stats_key(params, self.decision_threshold, truth)

    def restore_results(self, rows) -> int:
        """Fill the AI columns of ``rows`` from the results store; queue stale numbers."""
        from pneumoviewer.ui.results import restore_rows, stats_keyer

        key = stats_keyer(self.vm.decision.params(), self.decision_threshold)
        n, stale = restore_rows(self.store, rows, stats_key_for=lambda i: key(self.truth_rows(i)))
        if self.store.notice:
            self.status.notice(self.store.notice)
            self.store.notice = None
        if stale:
            self.bulk_queue.extend(stale)
            if not self.bulk_timer.isActive():
                self.bulk_timer.start()
        if n:
            self.schedule_summary()
            current = self.vm.image.image_id
            if current is not None and any(r.image_id == current for r in rows):
                if current in self.store:  # on screen before its result came back from disk
                    self.result_arrived.emit(current)
        return n

    def _on_rows_inserted(self, _parent, first: int, last: int) -> None:
        model = self.study_list.model
        if self.restore_results(model.rows[first : last + 1]):
            right = model.columnCount() - 1
            model.dataChanged.emit(model.index(first, 0), model.index(last, right))
