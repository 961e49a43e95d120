"""The main window: docks, menus, toolbar, status bar, settings; behaviour lives in mixins."""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QTabWidget,
    QToolButton,
    QWidget,
)
from superqt.utils import qthrottled

from pneumoviewer.ui.actions import ShortcutsDialog, build_actions
from pneumoviewer.ui.analysis import ResultStore
from pneumoviewer.ui.cache import LRUCache
from pneumoviewer.ui.controls import ControlsPanel
from pneumoviewer.ui.image_canvas import ImageCanvas
from pneumoviewer.ui.panels import MetadataPanel, ModelPanel, ProblemsPanel, SummaryPanel
from pneumoviewer.ui.settings import make_settings
from pneumoviewer.ui.study_list import StudyListPanel
from pneumoviewer.ui.window_analysis import AnalysisMixin
from pneumoviewer.ui.window_data import DataMixin, make_pixel_cache
from pneumoviewer.ui.window_export import ExportMixin
from pneumoviewer.ui.window_settings import SettingsMixin
from pneumoviewer.ui.workers import LoaderWorker

log = logging.getLogger(__name__)

DEFAULT_TRUTH = (168, 60, 220)
DEFAULT_PRED = (255, 215, 0)


class KeepArrowKeys(QObject):
    """Let spin boxes, combo boxes and sliders keep Up/Down/PgUp/PgDn when focused.

    The window-wide navigation shortcuts would otherwise take those keys; accepting the
    ``ShortcutOverride`` event hands the key to the focused widget instead.
    """

    KEYS = (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown)

    def eventFilter(self, obj, event) -> bool:  # noqa: D102, N802
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in self.KEYS:
            event.accept()
        return False


class MainWindow(DataMixin, AnalysisMixin, ExportMixin, SettingsMixin, QMainWindow):
    """The viewer window.

    Parameters
    ----------
    settings : QSettings or None
        Where preferences live (None: :func:`make_settings`).
    gt_csv : Path or None
        Ground-truth CSV to use instead of searching next to the folder.
    device : str
        Initial device ("auto", "cpu", "cuda"); the remembered one wins when not given.

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

    def __init__(
        self, settings=None, *, gt_csv: Path | None = None, device: str | None = None
    ) -> None:
        super().__init__()
        self.settings = settings or make_settings()
        self.setWindowTitle("pneumoviewer")
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self.folder: Path | None = None
        self.gt_csv_override = Path(gt_csv) if gt_csv else None
        self.ground_truth = None
        self.generation = 0
        self.scan_generation = 0
        self.current_id: str | None = None
        self.current = None
        self.stale_dropped = 0
        self.results_received = 0
        self.pixel_cache = make_pixel_cache()
        self.truth_cache = LRUCache(max_items=64)
        self.store = ResultStore()
        self.row_stats: dict = {}
        self.summary = None
        self.model_info = None
        self.model_dir: Path | None = None
        self.pending_model_dir: Path | None = None
        self._explicit_model = False
        self.last_export_dir: Path | None = None
        self.scan_worker = None
        self.export_worker = None
        self._problems_shown_once = False
        self._shut_down = False
        from pneumoviewer.core.preprocessing import ClaheParams

        self.clahe_params = ClaheParams()
        self.truth_color = self._read_color("overlay/truth_color", DEFAULT_TRUTH)
        self.pred_color = self._read_color("overlay/pred_color", DEFAULT_PRED)

        self.bulk_queue: deque[str] = deque()
        self.bulk_timer = QTimer(self)
        self.bulk_timer.setInterval(0)
        self.bulk_timer.timeout.connect(self._bulk_tick)
        self.schedule_summary = qthrottled(self.update_summary, timeout=150, leading=False)
        self.actions = build_actions(self)
        self._build_widgets()
        self._build_menus()
        self._build_status_bar()
        self._connect()
        self._restore_settings(device)
        self.actions["cancel"].setEnabled(False)  # enabled while a batch or export runs
        self._arrow_keys_filter = KeepArrowKeys(self)
        for cls in (QAbstractSpinBox, QComboBox, QAbstractSlider):
            for widget in self.findChildren(cls):
                widget.installEventFilter(self._arrow_keys_filter)

        self.loader = LoaderWorker(self)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self.loader.start()
        self.inference = self.make_inference_worker()

    # --- construction ---------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.canvas = ImageCanvas(self)
        self.canvas.setMinimumWidth(420)
        self.setCentralWidget(self.canvas)
        self.study_list = StudyListPanel(self)
        self.controls = ControlsPanel(self.actions, self)
        self.controls.set_legend_colors(self.truth_color, self.pred_color)
        self.metadata_panel = MetadataPanel(self)
        self.model_panel = ModelPanel(self)
        self.summary_panel = SummaryPanel(self)
        self.summary_panel.show_summary(None)
        self.problems = ProblemsPanel(self)

        def dock(title: str, name: str, widget: QWidget, area) -> QDockWidget:
            d = QDockWidget(title, self)
            d.setObjectName(name)
            d.setWidget(widget)
            d.setFeatures(
                QDockWidget.DockWidgetFeature.DockWidgetMovable
                | QDockWidget.DockWidgetFeature.DockWidgetClosable
                | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            )
            self.addDockWidget(area, d)
            return d

        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.studies_dock = dock("Studies", "studies_dock", self.study_list, left)
        scroll = QScrollArea(self)
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.controls_dock = dock("Controls", "controls_dock", scroll, right)
        self.info_tabs = QTabWidget(self)
        for panel, title in (
            (self.metadata_panel, "Image"),
            (self.model_panel, "Model"),
            (self.summary_panel, "Summary"),
        ):
            area = QScrollArea(self)
            area.setWidget(panel)
            area.setWidgetResizable(True)
            area.setFrameShape(QScrollArea.Shape.NoFrame)
            area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.info_tabs.addTab(area, title)
        self.info_dock = dock("Information", "info_dock", self.info_tabs, right)
        self.problems_dock = dock(
            "Problems", "problems_dock", self.problems, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.problems_dock.hide()
        self.resizeDocks([self.problems_dock], [130], Qt.Orientation.Vertical)
        self.resizeDocks(
            [self.studies_dock, self.controls_dock], [450, 320], Qt.Orientation.Horizontal
        )
        self.resizeDocks([self.controls_dock, self.info_dock], [560, 300], Qt.Orientation.Vertical)

        self.device_combo = QComboBox(self)
        for label, key in (("Auto", "auto"), ("CPU", "cpu"), ("CUDA", "cuda")):
            self.device_combo.addItem(label, key)
        self.device_combo.setToolTip("Device for the model (CUDA falls back to the CPU)")

    def _build_menus(self) -> None:
        a, bar = self.actions, self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(a["open_folder"])
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        file_menu.addAction(a["export_png"])
        file_menu.addAction(a["export_all"])
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        view = bar.addMenu("&View")
        for name in ("contrast", "show_truth", "show_prediction", "difference"):
            view.addAction(a[name])
        view.addSeparator()
        for name in ("fit", "one_to_one", "reset_levels"):
            view.addAction(a[name])
        view.addSeparator()
        view.addAction("Ground-truth colour…", lambda: self.pick_color("truth"))
        view.addAction("Prediction colour…", lambda: self.pick_color("pred"))
        view.addSeparator()
        for d in (self.studies_dock, self.controls_dock, self.info_dock, self.problems_dock):
            view.addAction(d.toggleViewAction())
        go = bar.addMenu("&Go")
        for name in ("next_image", "prev_image", "page_down", "page_up", "triage"):
            go.addAction(a[name])
        analysis = bar.addMenu("&Analysis")
        for name in ("analyse", "analyse_all", "cancel", "threshold_up", "threshold_down"):
            analysis.addAction(a[name])
        model = bar.addMenu("&Model")
        model.addAction(a["load_model"])
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(a["shortcuts"])
        help_menu.addAction(a["about"])

        tb = self.addToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        for name in (
            "open_folder",
            None,
            "analyse",
            "analyse_all",
            "cancel",
            None,
            "triage",
            None,
            "contrast",
            "show_truth",
            "show_prediction",
            "difference",
            None,
            "export_png",
        ):
            if name is None:
                tb.addSeparator()
            else:
                tb.addAction(a[name])
        tb.addSeparator()
        tb.addWidget(QLabel(" Device "))
        tb.addWidget(self.device_combo)
        self.view_toolbar = tb

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.notice_label = QLabel("", self)
        self.notice_label.setStyleSheet("color: #ffb74d;")
        self.notice_label.hide()
        self.gt_label = QLabel("No ground truth", self)
        self.model_label = QLabel("Model: none", self)
        self.device_label = QLabel("Device: —", self)
        self.progress_label = QLabel("", self)
        self.progress_label.hide()
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setFixedWidth(160)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        cancel = QToolButton(self)
        cancel.setDefaultAction(self.actions["cancel"])
        for w in (
            self.notice_label,
            self.gt_label,
            self.model_label,
            self.device_label,
            self.progress_label,
            self.progress_bar,
            cancel,
        ):
            sb.addPermanentWidget(w)

    def _connect(self) -> None:
        a = self.actions
        a["open_folder"].triggered.connect(self.choose_folder)
        a["export_png"].triggered.connect(self.export_current)
        a["export_all"].triggered.connect(self.export_all)
        a["quit"].triggered.connect(self.close)
        a["next_image"].triggered.connect(lambda: self.study_list.move(1))
        a["prev_image"].triggered.connect(lambda: self.study_list.move(-1))
        a["page_down"].triggered.connect(lambda: self.study_list.move(10))
        a["page_up"].triggered.connect(lambda: self.study_list.move(-10))
        a["triage"].triggered.connect(self.study_list.triage)
        a["analyse"].triggered.connect(self.analyse_current)
        a["analyse_all"].triggered.connect(self.analyse_all)
        a["cancel"].triggered.connect(self.inference_cancel)
        a["threshold_up"].triggered.connect(lambda: self.nudge_threshold(0.05))
        a["threshold_down"].triggered.connect(lambda: self.nudge_threshold(-0.05))
        a["contrast"].toggled.connect(self.on_contrast_toggled)
        for name in ("show_truth", "show_prediction", "difference"):
            a[name].toggled.connect(lambda _c: self.refresh_overlay())
        a["fit"].triggered.connect(self.canvas.fit)
        a["one_to_one"].triggered.connect(self.canvas.one_to_one)
        a["reset_levels"].triggered.connect(self.canvas.reset_levels)
        a["load_model"].triggered.connect(self.choose_model)
        a["shortcuts"].triggered.connect(lambda: ShortcutsDialog(self).exec())
        a["about"].triggered.connect(self._about)
        self.study_list.current_changed.connect(self.select_image)
        self.study_list.triage_button.clicked.connect(lambda: None)
        self.controls.params_changed.connect(self.on_params_changed)
        self.controls.style_changed.connect(self.refresh_overlay)
        self.controls.levels_changed.connect(lambda lo, hi: self.canvas.set_levels(lo, hi))
        self.canvas.levels_changed.connect(self.controls.show_levels)
        self.device_combo.currentIndexChanged.connect(self.on_device_changed)

    # --- misc ---------------------------------------------------------------------------------
    def show_error(self, title: str, text: str) -> None:
        """Tell the user about a problem (tests replace this to avoid modal dialogs)."""
        log.error("%s: %s", title, text)
        self.statusBar().showMessage(f"{title}: {text}", 15000)
        QMessageBox.warning(self, title, text)

    def _about(self) -> None:
        from pneumoviewer import __version__

        QMessageBox.about(
            self,
            "About pneumoviewer",
            f"<b>pneumoviewer {__version__}</b><br>Pneumothorax AI on chest "
            "radiographs (SIIM-ACR).<br>Research tool — not for clinical use.",
        )

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
        self.bulk_timer.stop()
        self._stop_scan()
        if self.export_worker is not None:
            self.export_worker.stop()
        self.inference.cancel()
        self.inference.stop(wait_ms=60_000)
        self.loader.stop()

    def closeEvent(self, event) -> None:  # noqa: D102, N802
        try:
            self.save_settings()
        finally:
            self.shutdown()
        super().closeEvent(event)
