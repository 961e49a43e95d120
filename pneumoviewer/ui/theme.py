"""Dark theme for reading radiographs: Fusion style, dark palette, compact stylesheet."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

#: Accent used for focus, selection and progress (a calm blue that does not compete with
#: the overlay colours purple / yellow).
ACCENT = "#3d8ee6"
DEMO_RED = "#c62828"

STYLESHEET = f"""
QMainWindow::separator {{ background: #1b1d21; width: 3px; height: 3px; }}
QDockWidget {{ titlebar-close-icon: none; font-weight: 600; }}
QDockWidget::title {{ background: #23262b; padding: 5px 8px; text-align: left; }}
QGroupBox {{ border: 1px solid #33373e; border-radius: 6px; margin-top: 14px;
             padding: 8px 6px 6px 6px; font-weight: 600; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: #aab2bd; }}
QToolBar {{ background: #202327; border: none; spacing: 4px; padding: 3px; }}
QToolButton {{ padding: 4px 8px; border-radius: 4px; }}
QToolButton:checked {{ background: #2f4f75; }}
QToolButton:hover {{ background: #343a42; }}
QWidget#controls QToolButton {{ background: #2c3036; border: 1px solid #3b4048; }}
QWidget#controls QToolButton:hover {{ background: #363b42; }}
QWidget#controls QToolButton:checked {{ background: #2f4f75; border-color: {ACCENT}; }}
QPushButton {{ padding: 4px 10px; border-radius: 4px; background: #2c3036;
               border: 1px solid #3b4048; }}
QPushButton:hover {{ background: #363b42; }}
QPushButton:checked {{ background: #2f4f75; border-color: {ACCENT}; }}
QPushButton:disabled {{ color: #6b7078; }}
QTableView {{ gridline-color: #2a2d32; selection-background-color: #2f4f75;
              alternate-background-color: #1e2125; }}
QHeaderView::section {{ background: #24272c; padding: 4px 4px; border: none;
                        border-right: 1px solid #2f3338; font-weight: 600; }}
QStatusBar {{ background: #1b1d21; color: #b8bec7; }}
QStatusBar QLabel {{ padding: 0 6px; }}
QProgressBar {{ border: 1px solid #3b4048; border-radius: 4px; text-align: center;
                background: #202327; max-height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}
QLabel#demoBanner {{ background: {DEMO_RED}; color: white; font-weight: 700;
                      padding: 6px; border-radius: 4px; }}
QLabel#sectionValue {{ color: #e8ebef; }}
QLabel#bigNumber {{ font-size: 18px; font-weight: 700; }}
QLabel#canvasLegend {{ background: rgba(10, 12, 14, 190); color: #f0f0f0; padding: 6px 9px;
                        border-radius: 5px; font-size: 12px; }}
QLabel#canvasInfo {{ background: rgba(10, 12, 14, 170); color: #e0e0e0; padding: 4px 8px;
                      border-radius: 5px; font-size: 11px; }}
QTabWidget::pane {{ border: 1px solid #33373e; border-radius: 4px; }}
QTabBar::tab {{ padding: 5px 12px; background: #23262b; }}
QTabBar::tab:selected {{ background: #2f3338; }}
"""


def dark_palette() -> QPalette:
    """Return a neutral dark palette (dark grey chrome, near-white text, blue accent).

    Returns
    -------
    QPalette
        The palette for :meth:`QApplication.setPalette`.

    """
    p = QPalette()
    window, base, text = QColor(30, 32, 36), QColor(22, 24, 27), QColor(224, 227, 231)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor(30, 33, 37),
        QPalette.ColorRole.ToolTipBase: QColor(40, 44, 50),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor(40, 43, 48),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 80, 80),
        QPalette.ColorRole.Link: QColor(ACCENT),
        QPalette.ColorRole.Highlight: QColor(47, 79, 117),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.PlaceholderText: QColor(120, 126, 134),
    }
    for role, color in roles.items():
        p.setColor(role, color)
    grey = QColor(110, 115, 122)
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, grey)
    return p


def apply_dark_theme(app: QApplication) -> None:
    """Apply Fusion style, the dark palette, a readable UI font and the stylesheet.

    Parameters
    ----------
    app : QApplication
        The running application.

    """
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    font = QFont(app.font())
    font.setPointSizeF(max(9.5, font.pointSizeF()))
    app.setFont(font)
    app.setStyleSheet(STYLESHEET)
