"""The reading workflow in the viewer (#9): verdicts, note, the reader's mask, export.

Thin over the Qt-free core: :class:`~pneumoviewer.core.reading_session.ReadingSession`
saves every verdict, note and finished edit into the study's reading file
(:func:`~pneumoviewer.core.readings.reading_path_for`); this controller binds it to the
actions (keys in ``ui/actions.py``), the Reading panel, the canvas tools and the study
list's "Read" column. A reading file that is refused (another study, a newer format, not
a reading file) is never written to: the viewer says so and works without saving
readings.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from pneumoviewer.ui.controllers.reading_out import ReadingExporter
from pneumoviewer.ui.widgets.reading_draw import BoxRepainter, DrawSurface, pg_polyline

log = logging.getLogger(__name__)

TOOLS = ("brush", "eraser", "polygon")
def read_text(reading: Any) -> str | None:
    """Return the "Read" column's text of a saved reading: its verdict (None: unread)."""
    if reading is None or reading.verdict is None:
        return None
    return str(reading.verdict)


class ReadingController(QObject):
    """Own the reading file, the session on the image on screen and the drawing tools.

    Parameters
    ----------
    vm : ViewModel
        The image on screen (``vm.image``) and the decision parameters.
    render : RenderController
        The layers (the reader layer draws ``extras["reader"]``, registered here).
    analysis : AnalysisController
        The AI's decision and model for the AI context saved with each reading.
    study_list : StudyListPanel
        The "Read" column.
    canvas : ImageCanvas
        Where the drawing surface goes.
    status : StatusController
        Messages.
    settings : QSettings
        ``reader`` (default: the operating-system user).
    show_error : callable
        ``show_error(title, text)`` (a dialog; tests replace it).
    truth : callable
        ``truth(image_id) -> bool (H, W) | None`` for Dice vs the ground truth.

    Signals
    -------
    reading_opened(str) : a reading file is in use (its path) or "" (refused / none).
    saved(str) : something of this image was saved (verdict, note or mask).
    mask_changed() : the reader's mask changed (stroke step, edit, new image).
    """

    reading_opened = Signal(str)
    saved = Signal(str)
    mask_changed = Signal()

    def __init__(
        self,
        vm,
        *,
        render,
        analysis,
        study_list,
        canvas,
        status,
        settings,
        show_error,
        truth=None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        from pneumoviewer.core.readings import default_reader

        self.vm, self.render, self.analysis = vm, render, analysis
        self.study_list, self.canvas, self.status = study_list, canvas, status
        self.settings, self.show_error = settings, show_error
        self.truth = truth or (lambda _image_id: None)
        self.reader = str(settings.value("reader", "") or "") or default_reader()
        self.file = None  # ReadingFile
        self.session = None  # ReadingSession
        self.problem = ""  # why readings are not saved
        self.folder: Path | None = None
        self.tool = ""
        self.brush_radius = 12
        self.polygon_points: list[tuple[float, float]] = []
        self._read: dict[str, str] = {}
        self._touched = False  # the current image has a reader mask saved or edits
        self._ai_prediction: Any = None  # identity of the AI mask the session started from
        self._ai_dirty = True
        self._last: tuple[float, float] | None = None
        self.export = ReadingExporter(self, status=status, show_error=show_error, parent=self)
        self.label = status.add_label("Readings: —", name="readingsLabel")  # gives way first
        render.extra_sources["reader"] = self._reader_mask
        self.repainter = BoxRepainter(canvas, self._paints)
        self.surface = DrawSurface(lambda: self.tool, self._on_stroke, self._on_click)
        canvas.view.addItem(self.surface)
        self.polygon_item = pg_polyline(canvas)
        vm.image.events.loaded.connect(self._on_loaded)
        vm.decision.events.connect(lambda *_: self._mark_ai_dirty())
        analysis.result_arrived.connect(self._on_result)
        study_list.model.rowsInserted.connect(self._on_rows_inserted)
        self._note_timer = QTimer(self)
        self._note_timer.setSingleShot(True)
        self._note_timer.setInterval(600)
        self._pending_note: tuple[str, str] | None = None
        self._note_timer.timeout.connect(self.flush_note)

    # --- the reading file ---------------------------------------------------------------------
    @property
    def saving(self) -> bool:
        """Whether readings are saved (a reading file is open)."""
        return self.session is not None

    def open_folder(self, folder: Path, image_ids=None, *, path: Path | None = None) -> bool:
        """Open the folder's reading file (beside the study, or ``path``); False when refused."""
        from pneumoviewer.core.reading_session import ReadingSession
        from pneumoviewer.core.readings import (
            ReadingFile,
            ReadingFileError,
            reading_path_for,
            study_key,
        )

        self.close()
        self.folder = Path(folder)
        try:
            path = Path(path) if path is not None else reading_path_for(folder)
            self.file = ReadingFile(
                path,
                study=study_key(folder),
                study_name=Path(folder).name,
                image_ids=image_ids,
                reader=self.reader,
            )
        except (ReadingFileError, OSError) as exc:
            self.file = None
            self.problem = str(exc)
            self._show_state()
            if image_ids is None and "another study" in str(exc):
                return False  # retried with the folder's image ids when the scan ends
            self.show_error("Reading file refused", f"{exc}\n\nReadings are not saved.")
            return False
        self.problem = ""
        self.session = ReadingSession(self.file)
        self._read = {r.image_id: read_text(r) for r in self.file.readings() if r.read}
        self._read = {k: v for k, v in self._read.items() if v is not None}
        model = self.study_list.model
        for row in model.rows:
            text = self._read.get(row.image_id)
            if text != row.read:
                model.update(row.image_id, read=text)
        self._show_state()
        self.reading_opened.emit(str(self.file.path))
        if self.vm.image.loaded is not None:
            self.render.refresh()
        return True

    def choose_file(self, path: Path | None = None) -> bool:
        """Use another reading file for the open folder (File -> Reading file…)."""
        if self.folder is None:
            self.status.message("Open a folder first", 5000)
            return False
        if path is None:
            from PySide6.QtWidgets import QFileDialog

            start = str(self.file.path if self.file is not None else self.folder)
            name, _ = QFileDialog.getSaveFileName(
                None,
                "Reading file (new or existing)",
                start,
                "Reading files (*.sqlite)",
                options=QFileDialog.Option.DontConfirmOverwrite,
            )
            if not name:
                return False
            path = Path(name)
        ids = {r.image_id for r in self.study_list.model.rows}
        return self.open_folder(self.folder, ids, path=path)

    def scan_finished(self, _n: int = 0) -> None:
        """Retry a file refused as "another study" with the image ids (a moved study)."""
        if self.session is None and self.folder is not None and "another study" in self.problem:
            ids = {r.image_id for r in self.study_list.model.rows}
            self.open_folder(self.folder, image_ids=ids)

    def close(self) -> None:
        """Save a pending note and close the reading file."""
        self.flush_note()
        self.finish_polygon(cancel=True)
        if self.file is not None:
            self.file.close()
        self.file = self.session = None
        self._read = {}
        self._touched = False

    def _show_state(self) -> None:
        if self.file is not None:
            text = f"Readings: {self.file.path.name} · reader {self.reader}"
            short, tip = f"Reader: {self.reader}", str(self.file.path)
        else:
            text = "Readings NOT saved (reading file refused)" if self.problem else "Readings: —"
            short, tip = ("Readings NOT saved" if self.problem else ""), self.problem
        self.status.set_label(self.label, text, short=short, tip=tip)
        if self.problem:
            self.status.message(f"Readings are not saved: {self.problem}", 20000)
        self.mask_changed.emit()

    def set_reader(self, name: str) -> None:
        """Set the reader's name (settings ``reader``; written with each change)."""
        from pneumoviewer.core.readings import default_reader

        self.reader = name.strip() or default_reader()
        self.settings.setValue("reader", self.reader)
        if self.file is not None:
            self.file.reader = self.reader
        self._show_state()

    def _on_rows_inserted(self, _parent, first: int, last: int) -> None:
        if not self._read:
            return
        rows = self.study_list.model.rows
        for i in range(first, last + 1):
            rows[i].read = self._read.get(rows[i].image_id)

    def _mark_read(self, image_id: str) -> None:
        text = read_text(self.file.get(image_id)) if self.file is not None else None
        if text is None:
            self._read.pop(image_id, None)
        else:
            self._read[image_id] = text
        self.study_list.model.update(image_id, read=text)
        self.saved.emit(image_id)

    # --- the session on the image on screen ------------------------------------------------------
    def _on_loaded(self, li, *_old) -> None:
        self.flush_note()
        self.finish_polygon(cancel=True)
        self.surface.set_shape(None if li is None else li.image.pixels.shape)
        if li is not None:
            self._reader_mask(li.image_id)
        self.mask_changed.emit()

    def _open_image(self, li) -> None:
        prediction = self.render.prediction
        shape = li.image.pixels.shape
        saved = self.session.open_image(li.image_id, shape=shape, source=self._source(li))
        self._touched = saved is not None and saved.mask_rle is not None
        self._ai_dirty = True
        self._ai_prediction = None
        if not self._touched:
            self._follow_ai(prediction)

    def _source(self, li) -> Path | None:
        row = self.study_list.model.get(li.image_id)
        return None if row is None else row.path

    def _follow_ai(self, prediction) -> None:
        """Make an untouched reader mask the AI's current mask (or empty)."""
        mask = self.session.mask
        if prediction is not None and prediction.shape == mask.shape:
            np.copyto(mask, prediction)
        else:
            mask[...] = False
        self._ai_prediction = prediction

    def _reader_mask(self, image_id: str):
        """``Scene.extras["reader"]``: the mask being edited (opens the image if needed)."""
        li = self.vm.image.loaded
        if self.session is None or li is None or li.image_id != image_id:
            return None
        if self.session.image_id != image_id or self.session.mask.shape != li.image.pixels.shape:
            self._open_image(li)
        elif not self._touched and self.render.prediction is not self._ai_prediction:
            self._follow_ai(self.render.prediction)
        if not self._touched and not self.tool:
            return None  # an untouched mask is the AI's: drawn once a tool is picked
        return self.session.mask

    def saved_mask(self, image_id: str):
        """Return the reader's saved mask of ``image_id`` (the PNG export's reader layer)."""
        if self.file is None:
            return None
        if self.session is not None and self.session.image_id == image_id and self._touched:
            return self.session.mask.copy()
        reading = self.file.get(image_id)
        return None if reading is None else reading.mask()

    def _mark_ai_dirty(self) -> None:
        self._ai_dirty = True

    def _on_result(self, image_id: str) -> None:
        self._mark_ai_dirty()
        li = self.vm.image.loaded
        if li is not None and li.image_id == image_id:  # the Dice read-out, once redrawn
            QTimer.singleShot(0, self.mask_changed.emit)

    def _sync_ai(self) -> bool:
        """Give the session the AI context of the image on screen; False without a session."""
        li = self.vm.image.loaded
        if self.session is None or li is None:
            return False
        if self.session.image_id != li.image_id:
            self._open_image(li)
        if self._ai_dirty:
            self.session.ai = self._ai_context(li.image_id)
            self._ai_dirty = False
        return True

    def _ai_context(self, image_id: str):
        from pneumoviewer.core.readings import ai_context_from_manifest

        info = self.analysis.model_info
        decision = self.analysis.decision(image_id)
        if info is None or decision is None:
            return None
        if decision.probability is None and decision.mask is None:
            return None
        try:
            return ai_context_from_manifest(
                info.manifest,
                probability=decision.probability,
                mask=decision.mask,
                postprocess=self.vm.decision.params(),
                decision_threshold=self.analysis.decision_threshold,
                decision_state=str(decision.state),
            )
        except Exception:  # noqa: BLE001 - a reading is saved without the AI context
            log.exception("AI context of %s", image_id)
            return None

    def _save(self, what: str, call) -> Any:
        """Run one saving session call; a failed save is said and nothing else breaks."""
        from pneumoviewer.core.readings import ReadingFileError

        if not self._sync_ai():
            self.status.message(
                "Readings are not saved: " + (self.problem or "no folder open"), 8000
            )
            return None
        image_id = self.session.image_id
        try:
            result = call()
        except ReadingFileError as exc:
            self.show_error(f"Cannot save the {what}", str(exc))
            return None
        self._mark_read(image_id)
        return result

    # --- verdicts and note ---------------------------------------------------------------------
    def set_verdict(self, verdict: str | None) -> None:
        """Save the verdict (agree / disagree / unsure) of the image on screen."""
        self._save("verdict", lambda: self.session.set_verdict(verdict))
        if self.session is not None and self.session.image_id:
            self.status.message(f"Verdict: {verdict or 'none'} ({self.session.image_id})", 4000)

    def note_edited(self, text: str) -> None:
        """Save the edited note after a short pause (or at the next image)."""
        li = self.vm.image.loaded
        if li is not None:
            self._pending_note = (li.image_id, text)
            self._note_timer.start()

    def flush_note(self) -> None:
        """Save a pending note now."""
        self._note_timer.stop()
        pending, self._pending_note = self._pending_note, None
        if pending is None or self.session is None:
            return
        image_id, text = pending
        if self.session.image_id == image_id:
            self._save("note", lambda: self.session.set_note(text))
        else:
            try:
                self.file.set_note(image_id, text)
                self._mark_read(image_id)
            except Exception as exc:  # noqa: BLE001
                self.show_error("Cannot save the note", str(exc))

    def reading(self):
        """Return the saved reading of the image on screen (None when never touched)."""
        li = self.vm.image.loaded
        return None if self.file is None or li is None else self.file.get(li.image_id)

    # --- tools ---------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        """Activate "brush", "eraser", "polygon" or "" (pan/zoom/window as usual)."""
        self.finish_polygon(cancel=True)
        before, self.tool = self.tool, tool if tool in TOOLS else ""
        if bool(before) != bool(self.tool) and not self._touched:
            self.render.refresh()  # show (or hide) the untouched reader mask
        self.mask_changed.emit()

    def set_brush_radius(self, radius: int) -> None:
        """Brush and eraser radius in image pixels (1..200)."""
        self.brush_radius = int(max(1, min(200, radius)))

    def _paints(self):
        li = self.vm.image.loaded
        return self.render.layers.paints(self.render.scene(li, self.render.prediction))

    def _on_stroke(self, phase: str, xy: tuple[float, float]) -> None:
        if phase == "begin":
            if not self._sync_ai():
                self.status.message("Readings are not saved: drawing is off", 6000)
                return
            self.session.begin_stroke()
            self.repainter.begin(self.session.mask.shape)
            self._last = xy
            return
        if self._last is None or self.session is None:
            return
        if phase == "move":
            self.stroke_step(xy)
        else:
            self._last = None
            self.repainter.end()
            self._finish(lambda: self.session.finish_stroke())

    def stroke_step(self, xy: tuple[float, float]) -> None:
        """One brush step from the last point to ``xy``: edit the mask, repaint its box."""
        points = [self._last, xy]
        box = self.session.stroke_to(points, self.brush_radius, erase=self.tool == "eraser")
        self._last = xy
        self.repainter.repaint(box)

    def _finish(self, call) -> None:
        changed = self._save("mask", call)
        if changed:
            self._touched = True
        self.render.refresh()
        self.mask_changed.emit()

    def _on_click(self, xy: tuple[float, float], double: bool) -> None:
        if not double:
            self.polygon_points.append(xy)
        elif len(self.polygon_points) >= 3:
            self.finish_polygon()
            return
        self._show_polygon()

    def finish_polygon(self, *, cancel: bool = False) -> None:
        """Fill the polygon drawn so far (``cancel``: forget it)."""
        points, self.polygon_points = self.polygon_points, []
        self._show_polygon()
        if cancel or len(points) < 3:
            return
        self.polygon(points)

    def _show_polygon(self) -> None:
        pts = self.polygon_points
        if pts:
            xs = [p[0] + 0.5 for p in pts]
            ys = [p[1] + 0.5 for p in pts]
            self.polygon_item.setData(xs, ys)
            self.polygon_item.show()
        else:
            self.polygon_item.hide()

    def polygon(self, points, *, erase: bool = False) -> None:
        """Fill (or erase) a polygon of image points (x, y) and save."""
        if self._sync_ai():
            self._finish(lambda: self.session.polygon(points, erase=erase))

    def clear(self) -> None:
        """Empty the reader's mask ("no pneumothorax") and save."""
        if self._sync_ai():
            self._finish(lambda: self.session.clear() or True)

    def reset_to_ai(self) -> None:
        """Back to the AI's mask (undoable) and save."""
        if self._sync_ai():
            self._finish(lambda: self.session.reset_to_ai())

    def undo(self) -> None:
        """Undo the last mask edit (saved)."""
        if self._sync_ai():
            self._finish(lambda: self.session.undo() is not None)

    def redo(self) -> None:
        """Redo the last undone mask edit (saved)."""
        if self._sync_ai():
            self._finish(lambda: self.session.redo() is not None)

    def dice(self) -> tuple[float | None, float | None]:
        """Dice of the reader's mask vs the AI's and vs the ground truth (None: no such)."""
        li = self.vm.image.loaded
        if self.session is None or li is None or self.session.image_id != li.image_id:
            return None, None
        vs_ai = None
        ai = self.render.prediction
        if not self._touched and ai is not self._ai_prediction:
            self._follow_ai(ai)  # an untouched reader mask is the AI's
        if ai is not None and ai.shape == self.session.mask.shape:
            from pneumoviewer.core.metrics import dice

            vs_ai = float(dice(self.session.mask, ai))
        return vs_ai, self.session.dice_vs_truth(li.truth)
