"""The reading workflow in the viewer (#9): verdicts, the reader's mask, resume, export."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from pneumoviewer.core.metrics import dice
from pneumoviewer.core.readings import ReadingFile, default_reading_path, study_key
from tests.dicom_checks import check_dicom
from tests.ui.conftest import open_and_wait, show_row_and_wait


@pytest.fixture
def study(tmp_path: Path, samples_dir: Path) -> Path:
    """A writable copy of the sample study (its reading file goes beside it)."""
    folder = tmp_path / "study"
    shutil.copytree(samples_dir, folder, ignore=shutil.ignore_patterns(".pneumoviewer-readings*"))
    return folder


def saved(folder: Path, image_id: str):
    with ReadingFile(default_reading_path(folder), study=None, readonly=True) as rf:
        return rf.get(image_id)


def stroke(window, points, *, tool="brush") -> None:
    """Drag the brush or eraser over image points (x, y), as the canvas surface does."""
    c = window.reading
    c.set_tool(tool)
    c._on_stroke("begin", points[0])
    for p in points:
        c._on_stroke("move", p)
    c._on_stroke("end", points[-1])


def test_verdict_keys_save_to_the_reading_file_and_the_read_column(qtbot, window, study):
    open_and_wait(qtbot, window, study)
    image_id = window.current_id
    assert window.reading.file.path == default_reading_path(study)
    assert "Readings: .pneumoviewer-readings.sqlite" in window.reading.label.text()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_N)
    assert str(saved(study, image_id).verdict) == "disagree"
    qtbot.keyClick(window.canvas, Qt.Key.Key_Y)
    assert str(saved(study, image_id).verdict) == "agree"
    assert window.actions["verdict_agree"].isChecked()
    assert not window.actions["verdict_disagree"].isChecked()
    row = window.study_list.model.get(image_id)
    assert row.read == "agree"
    # "Unread" filter: the read image leaves the list; sorting by Read puts unread first.
    combo = window.study_list.state_combo
    combo.setCurrentIndex(combo.findData("unread"))
    ids = window.study_list.proxy.image_ids()
    assert image_id not in ids and len(ids) == window.study_list.model.rowCount() - 1
    combo.setCurrentIndex(combo.findData("all"))
    from pneumoviewer.ui.study_model import COL_READ

    window.study_list.view.sortByColumn(COL_READ, Qt.SortOrder.AscendingOrder)
    assert window.study_list.proxy.image_ids()[-1] == image_id
    # The same key again takes the verdict back.
    show_row_and_wait(qtbot, window, image_id)  # the filter moved the selection
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Y)
    assert saved(study, image_id).verdict is None
    # The note is saved (after its pause, or when flushed).
    window.reading_panel.note_edit.setPlainText("small apical rim")
    qtbot.waitUntil(lambda: (saved(study, image_id).note or "") == "small apical rim")
    assert [
        e.kind
        for e in ReadingFile(default_reading_path(study), study=None, readonly=True).history(
            image_id
        )
    ].count("verdict") == 3


def test_brush_eraser_polygon_undo_redo_and_dice(qtbot, window, study):
    open_and_wait(qtbot, window, study)
    image_id = window.current_id
    li = window.vm.image.loaded
    c = window.reading
    assert c.session.mask.shape == li.image.pixels.shape
    assert not c.session.mask.any()  # no model: the reader's mask starts empty
    with qtbot.waitSignal(window.overlay_updated):
        stroke(window, [(100.0, 100.0), (200.0, 100.0)])
    mask = saved(study, image_id).mask()
    assert mask is not None and mask.sum() == c.session.mask.sum() > 0
    r = c.brush_radius
    assert mask[100, 150] and mask[100 + r, 150] and not mask[100 + r + 2, 150]
    # Drawn on screen: the reader's cyan outline is in the canvas overlay.
    overlay = window.canvas.overlay
    assert overlay is not None and tuple(overlay[100, 100 - c.brush_radius, :3]) == (0, 220, 255)
    entries = (
        [label for label, _ in window.canvas.legend_entries]
        if hasattr(window.canvas, "legend_entries")
        else None
    )
    assert entries is None or "Reader" in entries
    before_erase = c.session.mask.copy()
    stroke(window, [(150.0, 100.0)], tool="eraser")
    assert not c.session.mask[100, 150] and saved(study, image_id).mask().sum() < before_erase.sum()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(c.session.mask, before_erase)
    np.testing.assert_array_equal(saved(study, image_id).mask(), before_erase)
    qtbot.keyClick(
        window.canvas,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert not saved(study, image_id).mask()[100, 150]
    # Polygon: corners by click, a double click fills.
    c.set_tool("polygon")
    for xy in ((400.0, 400.0), (500.0, 400.0), (500.0, 500.0)):
        c._on_click(xy, False)
    c._on_click((500.0, 500.0), True)
    assert saved(study, image_id).mask()[450, 480]
    # Dice against the ground truth, as core computes it.
    vs_ai, vs_truth = c.dice()
    assert vs_ai is None
    if li.truth is not None:
        assert vs_truth == pytest.approx(float(dice(c.session.mask, li.truth)))
        assert f"{vs_truth:.3f}" in window.reading_panel.dice_label.text()
    # The PNG export draws the saved reader's mask through the same layer.
    job = window.exporter._job(image_id, study.parent / "x.png")
    np.testing.assert_array_equal(job.extras["reader"], saved(study, image_id).mask())
    # Clear: an empty mask is saved ("no pneumothorax").
    qtbot.keyClick(window.canvas, Qt.Key.Key_Delete, Qt.KeyboardModifier.ShiftModifier)
    assert saved(study, image_id).mask().sum() == 0
    assert window.study_list.model.get(image_id).read is None  # read = a verdict given


def test_surface_ignores_drags_without_a_tool(qtbot, window, study):
    open_and_wait(qtbot, window, study)

    class Drag:
        accepted = None

        def button(self):
            return Qt.MouseButton.LeftButton

        def ignore(self):
            self.accepted = False

        def accept(self):
            self.accepted = True

    window.reading.set_tool("")
    ev = Drag()
    window.reading.surface.mouseDragEvent(ev)
    assert ev.accepted is False  # the ViewBox pans
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_B)
    assert window.reading.tool == "brush" and window.actions["tool_brush"].isChecked()
    qtbot.keyClick(window.canvas, Qt.Key.Key_B)
    assert window.reading.tool == ""
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketRight)
    assert window.reading.brush_radius == 14


def test_reopen_resumes_the_reading(qtbot, make_window, study):
    first = make_window()
    open_and_wait(qtbot, first, study)
    image_id = first.current_id
    first.reading.set_verdict("unsure")
    stroke(first, [(300.0, 300.0), (320.0, 340.0)])
    drawn = first.reading.session.mask.copy()
    first.close()
    first.shutdown()
    second = make_window()
    open_and_wait(qtbot, second, study)
    assert second.current_id == image_id
    assert second.study_list.model.get(image_id).read == "unsure"
    assert second.actions["verdict_unsure"].isChecked()
    np.testing.assert_array_equal(second.reading.session.mask, drawn)
    assert tuple(second.canvas.overlay[300, 300 - second.reading.brush_radius, :3]) == (0, 220, 255)


def test_a_reading_file_of_another_study_is_refused_and_left_unchanged(qtbot, window, study):
    path = default_reading_path(study)
    with ReadingFile(path, study="/elsewhere/other-study", study_name="other") as rf:
        rf.set_verdict("1.2.3.not.here", "agree")
    before = path.read_bytes()
    open_and_wait(qtbot, window, study)
    qtbot.waitUntil(lambda: bool(window.errors))
    assert "another study" in window.errors[-1] and "not saved" in window.errors[-1]
    assert "NOT saved" in window.reading.label.text()
    assert not window.reading_panel.isEnabled()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Y)  # the viewer goes on, nothing is written
    assert "not saved" in window.status.current_message()
    assert path.read_bytes() == before
    assert window.study_list.model.get(window.current_id).read is None
    # Another reading file can be chosen; the refused one stays as it was.
    other = study.parent / "mine.sqlite"
    assert window.reading.choose_file(other)
    qtbot.keyClick(window.canvas, Qt.Key.Key_U)
    with ReadingFile(other, study=None, readonly=True) as rf:
        assert str(rf.get(window.current_id).verdict) == "unsure"
    assert path.read_bytes() == before
    assert "mine.sqlite" in window.reading.label.text()


def test_a_moved_study_keeps_its_reading_file(qtbot, make_window, study, tmp_path):
    w = make_window()
    open_and_wait(qtbot, w, study)
    w.reading.set_verdict("agree")
    image_id = w.current_id
    w.close()
    w.shutdown()
    moved = tmp_path / "moved"
    shutil.move(study, moved)
    w2 = make_window()
    open_and_wait(qtbot, w2, moved)
    qtbot.waitUntil(lambda: w2.reading.saving)
    assert w2.study_list.model.get(image_id).read == "agree" and not w2.errors
    assert study_key(moved) != study_key(study)


def test_export_readings_writes_readings_csv(qtbot, window, study, tmp_path):
    open_and_wait(qtbot, window, study)
    image_id = window.current_id
    window.reading.set_verdict("disagree")
    stroke(window, [(100.0, 100.0), (140.0, 120.0)])
    out = tmp_path / "out"
    window.reading.export.ask_export_folder = lambda: out
    with qtbot.waitSignal(window.reading.export.exported, timeout=60000) as blocker:
        window.actions["export_readings"].trigger()
    result = blocker.args[0]
    assert result.readings == 1
    with open(out / "readings.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["ImageId"], r["verdict"]) for r in rows] == [(image_id, "disagree")]
    assert rows[0]["reader"] == window.reading.reader
    assert (out / "readings-rle.csv").exists()
    files = sorted((out / "dicom").glob("*.dcm"))
    assert [f.name for f in files] == [f"{image_id}_{k}.dcm" for k in ("gsps", "sc", "seg", "sr")]
    check_dicom(files)  # the viewer's export: read back, then dciodvfy


def test_reader_mask_starts_as_the_ai_mask_and_keeps_its_edits(
    qtbot, window, study, tiny_model_dir
):
    from tests.ui.conftest import load_model_and_wait

    open_and_wait(qtbot, window, study)
    image_id = window.current_id
    with qtbot.waitSignal(
        window.result_arrived, timeout=60000, check_params_cb=lambda i: i == image_id
    ):
        load_model_and_wait(qtbot, window, tiny_model_dir)
    # A random tiny model: low thresholds and no gate give the AI a mask to start from.
    window.vm.decision.update(gate_enabled=False, top_threshold=0.01, bottom_threshold=0.01)
    qtbot.waitUntil(lambda: window.render.prediction is not None and window.render.prediction.any())
    c = window.reading
    ai = window.render.prediction.copy()
    assert ai.any()
    np.testing.assert_array_equal(c.session.mask, ai)  # untouched: the AI's mask
    assert c.dice()[0] == pytest.approx(1.0)
    # Untouched and no tool: not drawn over the AI's own mask; a tool shows it.
    scene = window.render.scene(window.vm.image.loaded, window.render.prediction)
    assert scene.extras["reader"] is None
    c.set_tool("brush")
    scene = window.render.scene(window.vm.image.loaded, window.render.prediction)
    np.testing.assert_array_equal(scene.extras["reader"], ai)
    c.set_tool("")
    assert saved(study, image_id) is None  # nothing saved before the reader acts
    window.reading.set_verdict("agree")
    reading = saved(study, image_id)
    assert reading.ai is not None and reading.ai.model_name == window.model_info.manifest.name
    assert reading.ai.probability == pytest.approx(window.vm.analysis.readout.probability)
    np.testing.assert_array_equal(reading.ai.mask(), ai)
    stroke(window, [(500.0, 500.0), (600.0, 500.0)], tool="eraser")
    edited = c.session.mask.copy()
    assert edited.sum() < ai.sum() and c.dice()[0] < 1.0
    window.vm.decision.update(bottom_threshold=0.9, top_threshold=0.9)  # the AI mask changes
    qtbot.waitUntil(lambda: window.render.prediction is not None)
    np.testing.assert_array_equal(c.session.mask, edited)  # the reader's edit stays
    np.testing.assert_array_equal(saved(study, image_id).mask(), edited)


KILLED_VIEWER = r"""
import os, signal, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from pathlib import Path
from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication
from pneumoviewer.ui.main_window import MainWindow

app = QApplication([])
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[2])
w = MainWindow(QSettings(sys.argv[2] + "/s.ini", QSettings.Format.IniFormat))
w.show()
loop = QEventLoop()
w.image_shown.connect(lambda *_: loop.quit())
QTimer.singleShot(60000, loop.quit)
w.open_folder(Path(sys.argv[1]))
loop.exec()
c = w.reading
c.set_verdict("disagree")
c.set_tool("brush")
for phase, xy in (("begin", (50.0, 60.0)), ("move", (90.0, 60.0)), ("end", (90.0, 60.0))):
    c._on_stroke(phase, xy)
print(w.current_id, int(c.session.mask.sum()), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_viewer_loses_neither_the_verdict_nor_the_stroke(study, tmp_path):
    import os
    import subprocess
    import sys

    settings = tmp_path / "killed-settings"
    settings.mkdir()
    home = {k: str(tmp_path / k.lower()) for k in ("XDG_CACHE_HOME", "XDG_DATA_HOME")}
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_VIEWER, str(study), str(settings)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, **home},  # the viewer's caches stay in tmp
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    image_id, pixels = proc.stdout.split()
    reading = saved(study, image_id)
    assert str(reading.verdict) == "disagree"
    assert int(reading.mask().sum()) == int(pixels) > 0
