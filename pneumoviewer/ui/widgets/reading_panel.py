"""The Reading dock's panel (#9): verdict, note, the reader's mask tools and Dice.

The wiring (controller, dock, menu, actions) is
:func:`pneumoviewer.ui.controllers.reading_install.install_reading`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:  # widgets never import controllers at run time (import-linter: acyclic)
    from pneumoviewer.ui.controllers.reading import ReadingController

#: action name -> verdict stored in the reading file
VERDICT_ACTIONS = {
    "verdict_agree": "agree",
    "verdict_disagree": "disagree",
    "verdict_unsure": "unsure",
}
#: action name -> drawing tool
TOOL_ACTIONS = {"tool_brush": "brush", "tool_eraser": "eraser", "tool_polygon": "polygon"}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


class ReadingPanel(QWidget):
    """Verdict buttons, note box, tools with brush size, clear/reset/undo/redo, Dice.

    Parameters
    ----------
    controller : ReadingController
        What the buttons call; the panel follows its signals.
    actions : dict of str to QAction
        The window's actions (buttons show the same commands and keys).
    """

    def __init__(self, controller: ReadingController, actions: dict[str, Any], parent=None):
        super().__init__(parent)
        self.c = controller
        self.setObjectName("readingPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        self.reader_edit = QLineEdit(controller.reader, self)
        self.reader_edit.setToolTip("Reader name written with each change (settings: reader)")
        self.reader_edit.editingFinished.connect(
            lambda: controller.set_reader(self.reader_edit.text())
        )
        self.file_label = QLabel("", self)
        self.file_label.setWordWrap(True)
        self.file_label.setStyleSheet("color: #9aa3ad;")
        top = QHBoxLayout()
        top.addWidget(QLabel("Reader", self))
        top.addWidget(self.reader_edit, 1)
        layout.addLayout(top)
        layout.addWidget(self.file_label)

        verdict_box = QGroupBox("Verdict on the AI", self)
        row = QHBoxLayout(verdict_box)
        self.verdict_buttons: dict[str, QToolButton] = {}
        for name, verdict in VERDICT_ACTIONS.items():
            b = QToolButton(verdict_box)
            actions[name].setIconText(
                f"{verdict.capitalize()} ({actions[name].shortcut().toString()})"
            )
            b.setDefaultAction(actions[name])
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            row.addWidget(b)
            self.verdict_buttons[verdict] = b
        layout.addWidget(verdict_box)

        self.note_edit = QPlainTextEdit(self)
        self.note_edit.setPlaceholderText("Note on this image (saved as you type)")
        self.note_edit.setMaximumHeight(70)
        self.note_edit.textChanged.connect(self._note_changed)
        layout.addWidget(self.note_edit)

        tools = QGroupBox("Reader's mask", self)
        grid = QGridLayout(tools)
        self.tool_buttons: dict[str, QToolButton] = {}
        for i, (name, tool) in enumerate(TOOL_ACTIONS.items()):
            b = QToolButton(tools)
            actions[name].setIconText(
                f"{tool.capitalize()} ({actions[name].shortcut().toString()})"
            )
            b.setDefaultAction(actions[name])
            grid.addWidget(b, 0, i)
            self.tool_buttons[tool] = b
        self.size_spin = QSpinBox(tools)
        self.size_spin.setRange(1, 200)
        self.size_spin.setValue(controller.brush_radius)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Brush and eraser radius in image pixels ([ and ])")
        self.size_spin.valueChanged.connect(controller.set_brush_radius)
        grid.addWidget(QLabel("Size", tools), 1, 0)
        grid.addWidget(self.size_spin, 1, 1, 1, 2)
        self.edit_buttons: dict[str, QPushButton] = {}
        for i, (name, text) in enumerate(
            (
                ("mask_undo", "Undo"),
                ("mask_redo", "Redo"),
                ("mask_clear", "Clear"),
                ("mask_reset", "Reset to AI"),
            )
        ):
            b = QPushButton(text, tools)
            b.setToolTip(actions[name].toolTip())
            b.clicked.connect(actions[name].trigger)
            grid.addWidget(b, 2 + i // 2, i % 2)
            self.edit_buttons[name] = b
        layout.addWidget(tools)

        self.dice_label = QLabel("", self)
        self.dice_label.setObjectName("readerDice")
        layout.addWidget(self.dice_label)
        layout.addStretch(1)

        controller.mask_changed.connect(self.refresh)
        controller.saved.connect(lambda *_: self.refresh())
        controller.reading_opened.connect(lambda *_: self.refresh())
        self.refresh()

    def _note_changed(self) -> None:
        if not self._loading:
            self.c.note_edited(self.note_edit.toPlainText())

    _loading = False

    def refresh(self) -> None:
        """Show the file, the verdict, the note, the tool and the Dice of the image on screen."""
        c = self.c
        self.setEnabled(c.saving)
        self.file_label.setText(
            f"Saved in {c.file.path.name}"
            if c.file is not None
            else "Readings are not saved: " + (c.problem or "no folder open")
        )
        self.file_label.setToolTip(str(c.file.path) if c.file is not None else c.problem)
        reading = c.reading()
        verdict = None if reading is None or reading.verdict is None else str(reading.verdict)
        for v, b in self.verdict_buttons.items():
            b.defaultAction().setChecked(v == verdict)
        note = "" if reading is None else (reading.note or "")
        pending = c._pending_note
        if pending is None and note != self.note_edit.toPlainText():
            self._loading = True
            self.note_edit.setPlainText(note)
            self._loading = False
        for tool, b in self.tool_buttons.items():
            b.defaultAction().setChecked(c.tool == tool)
        vs_ai, vs_truth = c.dice()
        text = f"Dice reader vs AI: {_fmt(vs_ai)}"
        if vs_truth is not None:
            text += f"   vs ground truth: {_fmt(vs_truth)}"
        self.dice_label.setText(text)
