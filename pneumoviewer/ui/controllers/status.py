"""The status bar: one place for messages, notices, the permanent labels and progress."""

from __future__ import annotations

import logging
import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton

log = logging.getLogger(__name__)

LABEL_WIDTH = 340  # px: a permanent label never pushes the message area off the bar


_UID = re.compile(r"\b\d+(?:\.\d+){5,}\b")


def _short_uids(text: str) -> str:
    """Replace each long dotted UID by "…" and its last two components."""
    return _UID.sub(lambda m: "…" + ".".join(m.group(0).split(".")[-2:]), text)


class StatusController:
    """Own the status bar's widgets.

    Parameters
    ----------
    bar : QStatusBar
        The window's status bar.
    cancel_action : QAction
        Shown as a button next to the progress bar.

    """

    def __init__(self, bar: QStatusBar, cancel_action) -> None:
        self.bar = bar
        parent = bar.parentWidget()
        self.notice_label = QLabel("", parent)
        self.notice_label.setStyleSheet("color: #ffb74d;")
        self.notice_label.hide()
        self.gt_label = QLabel("No ground truth", parent)
        self.model_label = QLabel("Model: none", parent)
        self.device_label = QLabel("Device: —", parent)
        self.progress_label = QLabel("", parent)
        self.progress_label.hide()
        self.progress_bar = QProgressBar(parent)
        self.progress_bar.setFixedWidth(140)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        cancel = QToolButton(parent)
        cancel.setDefaultAction(cancel_action)
        # The message area takes what the permanent labels leave; long labels elide by
        # tooltip instead of pushing the message off screen.
        for w in (
            self.notice_label,
            self.gt_label,
            self.model_label,
            self.device_label,
            self.progress_label,
            self.progress_bar,
            cancel,
        ):
            bar.addPermanentWidget(w)

    def message(self, text: str, ms: int = 8000) -> None:
        """Show a transient message (its full text also in the tooltip and the log).

        Long DICOM UIDs are shortened to their distinctive end ("…1517875167.222290") so
        the sentence itself fits next to the permanent labels.
        """
        log.info("%s", text)
        self.bar.showMessage(_short_uids(text), ms)
        self.bar.setToolTip(text)

    def current_message(self) -> str:
        """Return the transient message shown."""
        return self.bar.currentMessage()

    def notice(self, text: str) -> None:
        """Show a lasting warning (e.g. CUDA fell back to the CPU)."""
        log.warning(text)
        self.message(text, 15000)
        self.notice_label.setText("⚠ " + (text if len(text) <= 60 else text[:59] + "…"))
        self.notice_label.setToolTip(text)
        self.notice_label.show()

    def set_label(self, label: QLabel, text: str, *, style: str = "") -> None:
        """Set a permanent label, elided in the middle past its width (full text in the tooltip)."""
        label.setStyleSheet(style)
        metrics = label.fontMetrics()
        shown = metrics.elidedText(text, Qt.TextElideMode.ElideMiddle, LABEL_WIDTH)
        label.setText(shown)
        label.setToolTip(text)

    def progress(self, verb: str, done: int, total: int, suffix: str = "") -> None:
        """Show ``verb done/total`` with the bar."""
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(done)
        self.progress_label.setText(f"{verb} {done}/{total}{suffix}")
        self.progress_bar.show()
        self.progress_label.show()

    def progress_done(self) -> None:
        """Hide the progress bar."""
        self.progress_bar.hide()
        self.progress_label.hide()
