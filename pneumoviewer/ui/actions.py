"""One table of actions and shortcuts: it creates the QActions and the help dialog's list.

Why not app-model (pyapp-kit): it would add a registry of commands, menus and keybindings
with contexts ("when" expressions) -- worth it for plugins and many contexts. Here one
window owns ~25 commands; a frozen table of :class:`ActionSpec` rows gives the QActions,
the menus, the toolbar and the help dialog from one place, with no global registry and no
string command ids to keep in sync. Checkable actions bind to view-model fields
(:mod:`pneumoviewer.ui.bind`), so state still lives in the view model, not in QActions.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """A user command: name (attribute key), menu text, shortcuts, what it does."""

    name: str
    text: str
    shortcuts: tuple[str, ...] = ()
    help: str = ""
    checkable: bool = False
    menu: str = ""


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_folder", "&Open folder…", ("Ctrl+O",), "Open a folder of DICOMs", menu="File"),
    ActionSpec(
        "export_png", "&Export annotated PNG…", ("Ctrl+E",), "Export the current image", menu="File"
    ),
    ActionSpec(
        "export_all", "Export &all…", (), "Export every listed image (background)", menu="File"
    ),
    ActionSpec("quit", "&Quit", ("Ctrl+Q",), "Quit", menu="File"),
    ActionSpec("next_image", "Next image", ("Down",), "Next row of the list", menu="Go"),
    ActionSpec("prev_image", "Previous image", ("Up",), "Previous row of the list", menu="Go"),
    ActionSpec("page_down", "Page down", ("PgDown",), "Ten rows down", menu="Go"),
    ActionSpec("page_up", "Page up", ("PgUp",), "Ten rows up", menu="Go"),
    ActionSpec(
        "triage",
        "&Triage (sort by AI probability)",
        ("Ctrl+T",),
        "Most suspicious first",
        menu="Go",
    ),
    ActionSpec("analyse", "&Analyse image", ("A",), "Run the model on this image", menu="Analysis"),
    ActionSpec(
        "analyse_all",
        "Analyse a&ll",
        ("Shift+A",),
        "Run the model on all listed (filtered) images",
        menu="Analysis",
    ),
    ActionSpec("cancel", "&Cancel", ("Esc",), "Cancel the running batch", menu="Analysis"),
    ActionSpec(
        "threshold_up", "Threshold +0.05", ("+", "="), "Raise the mask threshold", menu="Analysis"
    ),
    ActionSpec(
        "threshold_down", "Threshold −0.05", ("-",), "Lower the mask threshold", menu="Analysis"
    ),
    ActionSpec("contrast", "CLAHE &contrast", ("C",), "Toggle raw / CLAHE", True, "View"),
    ActionSpec(
        "show_truth", "&Ground truth", ("G",), "Toggle the ground-truth overlay", True, "View"
    ),
    ActionSpec(
        "show_prediction", "&Prediction", ("P",), "Toggle the prediction overlay", True, "View"
    ),
    ActionSpec(
        "difference", "&Difference (TP/FP/FN)", ("D",), "Toggle difference mode", True, "View"
    ),
    ActionSpec("invert", "&Invert", ("I",), "Invert the display (white air)", True, "View"),
    ActionSpec(
        "lock_view",
        "&Lock window/level and zoom",
        ("L",),
        "Keep window/level and zoom when the image changes",
        True,
        "View",
    ),
    ActionSpec("fit", "&Fit to window", ("F",), "Fit the image to the canvas", menu="View"),
    ActionSpec(
        "one_to_one", "&1:1 pixels", ("1",), "One image pixel per screen pixel", menu="View"
    ),
    ActionSpec(
        "reset_levels",
        "&Reset window/level",
        ("R",),
        "Back to the image's own window (else its full range)",
        menu="View",
    ),
    ActionSpec(
        "ruler",
        "&Ruler",
        ("M",),
        "Measure a distance (mm from the pixel spacing); M again or right-click removes it",
        True,
        "View",
    ),
    ActionSpec(
        "heatmap",
        "&Heat-map (Grad-CAM)",
        ("H",),
        "Show where the classifier looked (computed on demand for the image on screen)",
        True,
        "View",
    ),
    ActionSpec(
        "heatmap_all",
        "Heat-maps for all listed",
        (),
        "Compute the heat-map of every listed image (background)",
        menu="Analysis",
    ),
    ActionSpec(
        "quality_override",
        "Assess anyway (override the quality gate)",
        (),
        "Show the AI answer of this image although the input-quality gate refused it",
        True,
        "Analysis",
    ),
    ActionSpec("show_orientation", "Orientation labels", (), "Edge letters", True, "View"),
    ActionSpec("show_patient", "Age, sex, view, date", (), "Patient corner", True, "View"),
    ActionSpec("show_zoom", "Zoom %", (), "Zoom in the status corner", True, "View"),
    ActionSpec(
        "show_pixel_value", "Value under the cursor", (), "Stored value and position", True, "View"
    ),
    # Reading (#9): verdicts, note, the reader's mask tools (ui/controllers/reading.py).
    ActionSpec("verdict_agree", "&Agree with the AI", ("Y",), "Verdict: agree", True, "Reading"),
    ActionSpec(
        "verdict_disagree", "&Disagree with the AI", ("N",), "Verdict: disagree", True, "Reading"
    ),
    ActionSpec("verdict_unsure", "&Unsure", ("U",), "Verdict: unsure", True, "Reading"),
    ActionSpec("edit_note", "&Note…", ("Ctrl+N",), "Type a note on this image", menu="Reading"),
    ActionSpec(
        "tool_brush", "&Brush", ("B",), "Paint the reader's mask (B again: pan)", True, "Reading"
    ),
    ActionSpec(
        "tool_eraser", "&Eraser", ("E",), "Erase the reader's mask (E again: pan)", True, "Reading"
    ),
    ActionSpec(
        "tool_polygon",
        "P&olygon fill",
        ("O",),
        "Click the corners, double-click to fill (O again: pan)",
        True,
        "Reading",
    ),
    ActionSpec("brush_bigger", "Bigger brush", ("]",), "Brush size +2 px", menu="Reading"),
    ActionSpec("brush_smaller", "Smaller brush", ("[",), "Brush size −2 px", menu="Reading"),
    ActionSpec(
        "mask_clear", "&Clear mask", ("Shift+Del",), "Empty the reader's mask", menu="Reading"
    ),
    ActionSpec(
        "mask_reset", "&Reset mask to the AI's", (), "Start again from the AI", menu="Reading"
    ),
    ActionSpec("mask_undo", "U&ndo mask edit", ("Ctrl+Z",), "Undo the last edit", menu="Reading"),
    ActionSpec(
        "mask_redo",
        "&Redo mask edit",
        ("Ctrl+Shift+Z", "Ctrl+Y"),
        "Redo the last undone edit",
        menu="Reading",
    ),
    ActionSpec(
        "choose_reading_file",
        "Reading &file…",
        (),
        "Save the readings in another file (new, or an existing one of this study)",
        menu="File",
    ),
    ActionSpec(
        "export_readings",
        "Export &readings…",
        (),
        "readings.csv, reader labels (RLE) and DICOM SEG/SR/GSPS/SC (background)",
        menu="File",
    ),
    ActionSpec("load_model", "&Load model…", (), "Pick a model directory", menu="Model"),
    ActionSpec("shortcuts", "&Keyboard shortcuts", ("F1",), "This list", menu="Help"),
    ActionSpec("about", "&About", (), "About pneumoviewer", menu="Help"),
)

#: Short texts for toolbar buttons.
SHORT_TEXT = {
    "open_folder": "Open",
    "export_png": "Export PNG",
    "triage": "Triage",
    "analyse": "Analyse",
    "analyse_all": "Analyse all",
    "contrast": "CLAHE",
    "show_truth": "Truth",
    "show_prediction": "Prediction",
    "difference": "Difference",
    "fit": "Fit",
    "one_to_one": "1:1",
    "reset_levels": "Reset W/L",
    "invert": "Invert",
    "lock_view": "Lock W/L + zoom",
    "ruler": "Ruler",
    "heatmap": "Heat-map",
}

#: Mouse gestures listed with the shortcuts (not actions).
MOUSE_HELP: tuple[tuple[str, str], ...] = (
    ("Wheel", "Zoom"),
    ("Left drag", "Pan"),
    ("Right drag", "Window (left/right) and level (up/down)"),
    ("Drop a folder", "Open it"),
    ("Left drag (brush/eraser)", "Paint or erase the reader's mask"),
    ("Click, double-click (polygon)", "Corners, then fill"),
)


def build_actions(parent: QWidget) -> dict[str, QAction]:
    """Create one QAction per :data:`ACTIONS` entry, parented to ``parent``.

    Parameters
    ----------
    parent : QWidget
        The main window (window-wide shortcuts).

    Returns
    -------
    dict of str to QAction
        Keyed by :attr:`ActionSpec.name`.

    """
    actions = {}
    for spec in ACTIONS:
        action = QAction(spec.text, parent)
        action.setObjectName(spec.name)
        action.setShortcuts([QKeySequence(s) for s in spec.shortcuts])
        action.setCheckable(spec.checkable)
        if spec.name in SHORT_TEXT:
            action.setIconText(SHORT_TEXT[spec.name])
        tip = spec.help + (f" ({', '.join(spec.shortcuts)})" if spec.shortcuts else "")
        action.setToolTip(tip)
        action.setStatusTip(spec.help)
        parent.addAction(action)
        actions[spec.name] = action
    return actions


def shortcut_rows() -> list[tuple[str, str]]:
    """Return ``(keys, what)`` rows for the help dialog, from the same table as the actions."""
    rows = [
        (" / ".join(s.shortcuts), f"{s.text.replace('&', '')} — {s.help}")
        for s in ACTIONS
        if s.shortcuts
    ]
    return rows + list(MOUSE_HELP)


class ShortcutsDialog(QDialog):
    """Help → Keyboard shortcuts: a two-column table built from :data:`ACTIONS`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows()
        self.table = QTableWidget(len(rows), 2, self)
        self.table.setHorizontalHeaderLabels(["Keys", "Action"])
        for i, (keys, what) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(keys))
            self.table.setItem(i, 1, QTableWidgetItem(what))
        self.table.verticalHeader().hide()
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        self.resize(560, 560)
