"""The main window: builds the widgets and the view model, composes the controllers.

Behaviour lives in small controllers (:mod:`pneumoviewer.ui.controllers`) that receive
their dependencies explicitly; state lives in the evented view model
(:mod:`pneumoviewer.ui.view_model`); the window only wires them to docks, menus, the
toolbar and the status bar, and keeps a few read-only shortcuts for tests and tools.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QMainWindow, QMessageBox

from pneumoviewer.ui.actions import ShortcutsDialog, build_actions
from pneumoviewer.ui.compose import build_controllers
from pneumoviewer.ui.controllers.reading_install import install_reading
from pneumoviewer.ui.controllers.status import StatusController
from pneumoviewer.ui.docks import build_docks, build_panels, default_dock_sizes
from pneumoviewer.ui.menus import bind_actions, build_menus, keep_arrow_keys
from pneumoviewer.ui.settings import make_settings
from pneumoviewer.ui.toolbar import EngineChoice, build_toolbar
from pneumoviewer.ui.view_model import ViewModel
from pneumoviewer.ui.widgets.canvas_wiring import wire_reading_room

log = logging.getLogger(__name__)


class _Busy:
    """A ``isActive()`` view of a callable (what tests poll for "work pending")."""

    def __init__(self, busy) -> None:
        self.isActive = busy


class MainWindow(QMainWindow):
    """The viewer window.

    Parameters
    ----------
    settings : QSettings or None
        Where preferences live (None: :func:`make_settings`).
    gt_csv : Path or None
        Ground-truth CSV to use instead of searching next to the folder.
    device : str
        Initial device ("auto", "cpu", "cuda"); the remembered one wins when not given.
        The CPU runtime is the remembered one, else ``$PNEUMOVIEWER_RUNTIME``, else auto.

    """

    image_shown = Signal(str)
    overlay_updated = Signal()
    result_arrived = Signal(str)
    analysis_failed = Signal(str, str)
    model_ready = Signal(object)
    scan_finished = Signal(int)
    batch_done = Signal(int, int, bool)
    export_done = Signal(int, int, bool)
    summary_updated = Signal()
    first_result_painted = Signal()

    def __init__(
        self, settings=None, *, gt_csv: Path | None = None, device: str | None = None
    ) -> None:
        super().__init__()
        self.settings = settings or make_settings()
        self.setWindowTitle("pneumoviewer")
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self._shut_down = False
        self.vm = ViewModel()
        self.actions = build_actions(self)
        self._build_widgets()
        self.status = StatusController(self.statusBar(), self.actions["cancel"])
        self._build_controllers(gt_csv)
        self._build_menus()
        self._connect()
        self._restore(device)
        # H2's reading-room tools: ruler + annotation actions, presets, W/L box, measurements.
        self.reading_room = wire_reading_room(
            canvas=self.canvas,
            vm=self.vm,
            actions=self.actions,
            view_menu=self.view_menu,
            info_tabs=self.info_tabs,
            render=self.render,
            controls=self.controls,
        )
        # #9: verdicts, note, the reader's mask (dock, Reading menu, File -> Export readings).
        self.reading = install_reading(self)
        self._arrow_keys_filter = keep_arrow_keys(self)
        # H2's hook: the canvas reads and writes the display section (W/L, zoom, toggles).
        if hasattr(self.canvas, "bind_view_model"):
            self.canvas.bind_view_model(self.vm)

    # --- construction ---------------------------------------------------------------------
    def _build_widgets(self) -> None:
        p = self.panels = build_panels(self, self.vm, self.actions)
        self.canvas, self.study_list, self.controls = p.canvas, p.study_list, p.controls
        self.metadata_panel, self.model_panel = p.metadata_panel, p.model_panel
        self.summary_panel, self.problems = p.summary_panel, p.problems
        d = self.docks = build_docks(self, p)
        self.studies_dock, self.controls_dock, self.info_dock = d.studies, d.controls, d.info
        self.problems_dock, self.info_tabs = d.problems, d.info_tabs
        self.default_dock_sizes()
        # #11: device and CPU runtime (toolbar), remembered; a change reloads the model.
        self.engine_choice = EngineChoice(self.settings, self)
        self.device_combo = self.engine_choice.device_combo
        self.runtime_combo = self.engine_choice.runtime_combo

    def _build_controllers(self, gt_csv: Path | None) -> None:
        self.recent_menu = self.menuBar().addMenu("&File").addMenu("Open &recent")
        c = build_controllers(
            self,
            self.vm,
            panels=self.panels,
            docks=self.docks,
            actions=self.actions,
            status=self.status,
            settings=self.settings,
            engine=self.engine_choice,
            recent_menu=self.recent_menu,
            open_folder=self.open_folder,
            gt_csv=gt_csv,
        )
        self.data, self.analysis, self.render, self.exporter = (
            c.data, c.analysis, c.render, c.exporter
        )  # fmt: skip
        self.quality, self.heatmaps, self.prefs = c.quality, c.heatmaps, c.prefs

    def _build_menus(self) -> None:
        self.view_menu = build_menus(
            self.menuBar(),
            self.actions,
            recent_menu=self.recent_menu,
            pick_color=self.prefs.pick_color,
            docks=self.docks.all(),
        )
        self.view_toolbar = build_toolbar(self, self.actions, self.engine_choice)

    def _connect(self) -> None:
        a, vm = self.actions, self.vm
        bind_actions(a, vm)
        a["open_folder"].triggered.connect(self.choose_folder)
        a["export_png"].triggered.connect(self.exporter.export_current)
        a["export_all"].triggered.connect(self.exporter.export_all)
        a["quit"].triggered.connect(self.close)
        a["next_image"].triggered.connect(lambda: self.study_list.move(1))
        a["prev_image"].triggered.connect(lambda: self.study_list.move(-1))
        a["page_down"].triggered.connect(lambda: self.study_list.move(10))
        a["page_up"].triggered.connect(lambda: self.study_list.move(-10))
        a["triage"].triggered.connect(self.study_list.triage)
        a["analyse"].triggered.connect(self.analyse_current)
        a["analyse_all"].triggered.connect(self.analyse_all)
        a["cancel"].triggered.connect(self.cancel)
        a["threshold_up"].triggered.connect(lambda: vm.decision.nudge(0.05))
        a["threshold_down"].triggered.connect(lambda: vm.decision.nudge(-0.05))
        a["fit"].triggered.connect(self.canvas.fit)
        a["one_to_one"].triggered.connect(self.canvas.one_to_one)
        a["reset_levels"].triggered.connect(self.canvas.reset_levels)
        a["load_model"].triggered.connect(self.choose_model)
        a["shortcuts"].triggered.connect(lambda: ShortcutsDialog(self).exec())
        a["about"].triggered.connect(self._about)
        self.engine_choice.changed.connect(self.analysis.reload_on_device)
        # Controller signals the window re-emits (tests, tools and the startup probe).
        self.data.image_shown.connect(self.image_shown)
        self.data.scan_finished.connect(self.scan_finished)
        self.data.folder_opened.connect(self._on_folder_opened)
        self.data.scan_finished.connect(self._title_with_count)
        self.render.overlay_updated.connect(self.overlay_updated)
        self.render.first_result_painted.connect(self.first_result_painted)
        self.analysis.result_arrived.connect(self.result_arrived)
        self.analysis.analysis_failed.connect(self.analysis_failed)
        self.analysis.model_ready.connect(self.model_ready)
        self.analysis.model_failed.connect(lambda m: self.show_error("Cannot load the model", m))
        self.analysis.batch_done.connect(self.batch_done)
        self.analysis.summary_updated.connect(self.summary_updated)
        self.exporter.export_done.connect(self.export_done)
        vm.analysis.events.batch_total.connect(lambda *_: self._update_cancel())
        self.exporter.export_done.connect(lambda *_: self._update_cancel())

    def _restore(self, device: str | None) -> None:
        self._layout_restored = self.prefs.restore()
        self.exporter.last_export_dir = self.prefs.last_export_dir()
        self.engine_choice.restore(self.prefs.device(device))
        self._update_cancel()

    def default_dock_sizes(self) -> None:
        """Studies ~470 px (room for the columns), controls ~370 px, Problems readable."""
        default_dock_sizes(self, self.docks)

    def showEvent(self, event) -> None:  # noqa: D102, N802
        super().showEvent(event)
        if not self._layout_restored:
            self._layout_restored = True
            QTimer.singleShot(0, self.default_dock_sizes)

    # --- commands ----------------------------------------------------------------------------
    def choose_folder(self) -> None:
        """Pick a folder and open it (File → Open folder…)."""
        from PySide6.QtWidgets import QFileDialog

        start = str(self.data.folder or Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of DICOM images", start)
        if folder:
            self.open_folder(Path(folder))

    def open_folder(self, folder: Path) -> None:
        """Open ``folder`` (results of the previous folder are dropped)."""
        self.data.open_folder(Path(folder))

    def _on_folder_opened(self, folder: Path) -> None:
        self.analysis.clear_results()
        self.prefs.folder_opened(folder)
        self.setWindowTitle(f"pneumoviewer — {folder.name}")

    def _title_with_count(self, n: int) -> None:
        if self.data.folder is not None:
            self.setWindowTitle(f"pneumoviewer — {self.data.folder.name} ({n} images)")

    def choose_model(self) -> None:
        """Pick a model directory (Model → Load…)."""
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(
            self, "Choose a model directory", str(self.analysis.model_dir or Path.home())
        )
        if folder:
            self.load_model(Path(folder))

    def load_model(self, model_dir: Path, *, explicit: bool = False) -> bool:
        """Load a model directory in the background; False (and a message) when unreadable."""
        problem = self.analysis.load_model(Path(model_dir))
        if problem is not None:
            self.show_error("Cannot load the model", problem)
            return False
        return True

    def analyse_current(self) -> None:
        """Analyse the displayed image (A)."""
        self.analysis.analyse_current()

    def analyse_all(self) -> None:
        """Analyse every listed (filtered) image without a result (Shift+A)."""
        ids = self.study_list.proxy.image_ids()
        current = self.vm.image.image_id
        if current in ids:  # the image on screen first
            ids.remove(current)
            ids.insert(0, current)
        self.analysis.analyse_all(ids)

    def cancel(self) -> None:
        """Esc: cancel the analysis batch and any export."""
        self.analysis.cancel()
        self.exporter.cancel()

    def _update_cancel(self) -> None:
        self.actions["cancel"].setEnabled(self.vm.analysis.batch_running or self.exporter.busy())

    def show_error(self, title: str, text: str) -> None:
        """Tell the user about a problem (tests replace this to avoid modal dialogs)."""
        log.error("%s: %s", title, text)
        self.status.message(f"{title}: {text}", 15000)
        QMessageBox.warning(self, title, text)

    def _about(self) -> None:
        from pneumoviewer import __version__

        QMessageBox.about(
            self,
            "About pneumoviewer",
            f"<b>pneumoviewer {__version__}</b><br>Pneumothorax AI on chest "
            "radiographs (SIIM-ACR).<br>Research tool — not for clinical use.",
        )

    # --- read-only shortcuts (tests, benchmarks, the screenshot driver) ------------------------
    current = property(lambda self: self.vm.image.loaded, doc="The decoded image on screen.")
    current_id = property(lambda self: self.vm.image.image_id, doc="The selected image id.")
    store = property(lambda self: self.analysis.store, doc="Cached analysis results.")
    model_info = property(lambda self: self.analysis.model_info, doc="The loaded model.")
    inference = property(lambda self: self.analysis.inference, doc="The inference worker.")
    loader = property(lambda self: self.data.loader, doc="The image loader.")
    pixel_cache = property(lambda self: self.data.pixel_cache, doc="Decoded images.")
    folder = property(lambda self: self.data.folder, doc="The open folder.")
    summary = property(lambda self: self.analysis.summary, doc="The folder summary.")
    results_received = property(lambda self: self.analysis.results_received)
    bulk_timer = property(
        lambda self: _Busy(self.analysis.bulk_busy),
        doc="``isActive()``: list rows still being recomputed after a parameter change.",
    )
    recent = property(lambda self: self.prefs.recent, doc="Recent folders.")
    gt_label = property(lambda self: self.status.gt_label)
    model_label = property(lambda self: self.status.model_label)
    device_label = property(lambda self: self.status.device_label)
    notice_label = property(lambda self: self.status.notice_label)
    truth_color = property(lambda self: tuple(self.vm.overlay.truth_color))
    pred_color = property(lambda self: tuple(self.vm.overlay.pred_color))

    @property
    def last_export_dir(self) -> Path | None:
        """The folder exports start in (remembered across sessions)."""
        return self.exporter.last_export_dir

    @last_export_dir.setter
    def last_export_dir(self, folder: Path | None) -> None:
        self.exporter.last_export_dir = folder

    @property
    def export_worker(self):
        """The running export worker (None when idle)."""
        return self.exporter.worker

    def schedule_summary(self) -> None:
        """Recompute the Summary tab soon (throttled)."""
        self.analysis.schedule_summary()

    # --- drag and drop, shutdown ----------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: D102, N802
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: D102, N802
        for url in event.mimeData().urls():
            if url.isLocalFile():
                path = Path(url.toLocalFile())
                self.open_folder(path if path.is_dir() else path.parent)
                event.acceptProposedAction()
                return

    def shutdown(self) -> None:
        """Stop every worker and wait for it (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        from pneumoviewer.ui.workers import wait_for_pool

        self.data.stop_scan()
        self.exporter.cancel()
        self.analysis.shutdown()
        self.data.shutdown()
        wait_for_pool(60_000)

    def closeEvent(self, event) -> None:  # noqa: D102, N802
        try:
            info = self.analysis.model_info
            self.prefs.save(
                model_name=None if info is None else info.manifest.name,
                device=self.engine_choice.device(),
                last_export_dir=self.exporter.last_export_dir,
            )
        finally:
            self.shutdown()
        super().closeEvent(event)
