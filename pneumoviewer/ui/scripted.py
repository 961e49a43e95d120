"""Hidden ``--screenshot`` support: run a few steps, grab the window, save it, quit.

Used by the Xvfb test and to make the documentation screenshots; not a user feature.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)


class ScreenshotDriver(QObject):
    """Drive ``window`` through ``script`` steps, then save ``window.grab()`` to ``path``.

    Parameters
    ----------
    window : MainWindow
        The viewer.
    path : Path
        PNG to write.
    script : str
        Comma-separated steps: ``ai`` (wait for the automatic result), ``analyse``,
        ``analyse_all``, ``clahe``, ``difference``, ``heatmap``,
        ``down``, ``outline``, ``triage``, ``select:N``, ``threshold:T``, ``tab:N``,
        ``wait:MS``.
    want_model : bool
        Wait for the model before running the steps.

    """

    def __init__(self, window, path: Path, *, script: str = "", want_model: bool = False):
        super().__init__(window)
        self.window, self.path = window, path
        self.steps = [s.strip() for s in script.split(",") if s.strip()]
        self.want_model = want_model
        self.started = False
        QTimer.singleShot(600_000, self.finish)  # never hang a test (slow shared machines)

    def on_image(self, _image_id: str) -> None:
        """First image shown: wait for the model when needed, then run the steps."""
        if self.started:
            return
        self.started = True
        if self.want_model and self.window.model_info is None:
            self.window.model_ready.connect(lambda _i: QTimer.singleShot(200, self.next_step))
            self.window.analysis_failed.connect(lambda *_: None)
        else:
            QTimer.singleShot(300, self.next_step)

    def next_step(self) -> None:
        """Run the next step; the ones that wait reconnect here when done."""
        w = self.window
        if not self.steps:
            QTimer.singleShot(400, self.finish)
            return
        step = self.steps.pop(0)
        log.info("screenshot step %s", step)
        if step == "ai":  # AI by itself: wait for the image on screen's result
            if w.current_id is not None and w.current_id in w.store:
                QTimer.singleShot(200, self.next_step)
            else:
                w.result_arrived.connect(self._once_current_result)
            return
        if step == "analyse":
            w.result_arrived.connect(self._once_result)
            w.analyse_current()
            return
        if step == "heatmap":  # show the image on screen's heat-map once it is computed
            w.heatmaps.heatmap_ready.connect(self._once_heatmap)
            w.actions["heatmap"].setChecked(True)
            return
        if step == "analyse_all":
            w.batch_done.connect(self._once_batch)
            w.analyse_all()
            return
        if step == "clahe":
            w.actions["contrast"].setChecked(True)
        elif step == "difference":
            w.actions["difference"].setChecked(True)
        elif step == "outline":
            w.controls.outline_combo.setCurrentIndex(1)
        elif step == "down":
            w.study_list.move(1)
        elif step == "triage":
            w.study_list.triage()
        elif step.startswith("select:"):
            w.study_list.select_row(int(step.split(":", 1)[1]))
        elif step.startswith("threshold:"):
            w.controls.set_threshold(float(step.split(":", 1)[1]))
        elif step.startswith("tab:"):
            w.info_dock.raise_()  # in front of the docks tabbed with it (Reading)
            w.info_tabs.setCurrentIndex(int(step.split(":", 1)[1]))
        elif step.startswith("wait:"):  # time for external key events (xdotool)
            QTimer.singleShot(int(step.split(":", 1)[1]), self.next_step)
            return
        QTimer.singleShot(400, self.next_step)

    def _once_result(self, _image_id: str) -> None:
        self.window.result_arrived.disconnect(self._once_result)
        QTimer.singleShot(100, self.next_step)

    def _once_current_result(self, image_id: str) -> None:
        if image_id != self.window.current_id:
            return
        self.window.result_arrived.disconnect(self._once_current_result)
        QTimer.singleShot(100, self.next_step)

    def _once_heatmap(self, _image_id: str) -> None:
        self.window.heatmaps.heatmap_ready.disconnect(self._once_heatmap)
        QTimer.singleShot(300, self.next_step)

    def _once_batch(self, *_args) -> None:
        self.window.batch_done.disconnect(self._once_batch)
        QTimer.singleShot(300, self.next_step)

    def finish(self) -> None:
        """Save the grab and close the window."""
        if self.path is None:
            return
        path, self.path = self.path, None
        path.parent.mkdir(parents=True, exist_ok=True)
        ok = self.window.grab().save(str(path))
        log.info("screenshot %s saved=%s", path, ok)
        w = self.window
        index = w.study_list.view.currentIndex()
        state = {
            "image_id": w.current_id,
            "row": index.row() if index.isValid() else None,
            "clahe": w.actions["contrast"].isChecked(),
            "show_truth": w.actions["show_truth"].isChecked(),
            "difference": w.actions["difference"].isChecked(),
            "threshold": w.controls.threshold,
            "auto": w.vm.analysis.auto,
            "readout": w.vm.analysis.readout.state,
            "analysed": len(w.store),
        }
        path.with_suffix(".json").write_text(json.dumps(state, indent=1))
        self.window.close()
