"""The status bar: one place for messages, notices, the permanent labels and progress.

The permanent labels share the bar's width by priority (:meth:`StatusController.fit`): the
notice and the model keep their text longest, the readings label gives way first. A lower
priority label is hidden before a higher one would have to show less than its comfortable
text (its short form, else its full text up to :data:`MAX_COMFORT_WIDTH`); past that a label
shows its short form, else an elided text, with the full text in its tooltip. Hidden labels
come back when the bar is wider again. The transient message keeps :func:`message_room`
pixels on the left and is elided (not clipped) to the room it has.
"""

from __future__ import annotations

import logging
import re
import time

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtGui import QFontMetrics, QPainter
from PySide6.QtWidgets import (
    QLabel,
    QProgressBar,
    QStatusBar,
    QStyle,
    QStyleOption,
    QToolButton,
    QWidget,
)

log = logging.getLogger(__name__)

#: px: a label that cannot get this much is hidden (lower priorities first).
MIN_LABEL_WIDTH = 110
#: px: a short form up to this wide is shown whole before a lower-priority label is.
MAX_SHORT_WIDTH = 260
#: px: a full text without a short form up to this wide is shown whole before a
#: lower-priority label is.
MAX_COMFORT_WIDTH = 400
#: px between two permanent widgets plus the bar's own margins (QStatusBar's layout).
SPACING = 8
SLACK = 28  # size grip and rounding

#: Priorities: higher keeps its room longer.
PRIORITY_NOTICE = 50
PRIORITY_MODEL = 40
PRIORITY_DEVICE = 30
PRIORITY_GT = 20
PRIORITY_READINGS = 10

_UID = re.compile(r"\b\d+(?:\.\d+){5,}\b")
_SEP = " · "


def _short_uids(text: str) -> str:
    """Replace each long dotted UID by "…" and its last two components."""
    return _UID.sub(lambda m: "…" + ".".join(m.group(0).split(".")[-2:]), text)


def message_room(bar_width: int) -> int:
    """Return the pixels kept for the transient message on a bar ``bar_width`` wide."""
    return max(240, bar_width // 5)


def fit_text(text: str, metrics: QFontMetrics, width: int) -> str:
    """Return ``text`` if it fits ``width`` pixels, else an elided form of it.

    Text made of `` · ``-separated parts ("Model: name · DEMO, not for clinical use") keeps
    every part but its longest, which is elided at its end; a part that would keep fewer
    than 6 characters makes the whole text elide at its end instead.
    """
    if metrics.horizontalAdvance(text) <= width:
        return text
    parts = text.split(_SEP)
    if len(parts) > 1:
        i = max(range(len(parts)), key=lambda k: len(parts[k]))
        rest = _SEP.join(parts[:i] + ["…"] + parts[i + 1 :])
        room = width - metrics.horizontalAdvance(rest) + metrics.horizontalAdvance("…")
        part = metrics.elidedText(parts[i], Qt.TextElideMode.ElideRight, room)
        if len(part) >= 7:  # 6 characters and the ellipsis
            candidate = _SEP.join(parts[:i] + [part] + parts[i + 1 :])
            if metrics.horizontalAdvance(candidate) <= width:
                return candidate
    return metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)


class StatusLabel(QLabel):
    """A permanent status-bar label that elides instead of clipping or widening the bar.

    ``text()`` is the full text; :meth:`shown_text` is what is painted at the current width
    (the full text, else the short form, else :func:`fit_text`). The tooltip holds the full
    text (and ``tip``, when given).
    """

    def __init__(self, text: str, parent: QWidget | None = None, *, priority: int = 0) -> None:
        super().__init__(text, parent)
        self.priority = priority
        self.short = ""
        self.wanted = True  # shown when the bar has room (hide() of the fit is not this)
        self.setToolTip(text)

    def set_full_text(self, text: str, *, short: str = "", tip: str = "") -> None:
        """Set the full text, its optional short form and extra tooltip lines."""
        self.short = short
        self.setText(text)
        self.setToolTip(text if not tip or tip == text else f"{text}\n{tip}")
        self.updateGeometry()
        self.update()

    def text_width(self, text: str) -> int:
        """Return the pixels ``text`` needs, margins and padding included."""
        m = self.contentsMargins()
        return self.fontMetrics().horizontalAdvance(text) + m.left() + m.right() + 2

    def natural_width(self) -> int:
        """Return the width of the full text."""
        return self.text_width(self.text())

    def least_width(self) -> int:
        """Return the narrowest useful width.

        The short form's (at most :data:`MAX_SHORT_WIDTH`), else :data:`MIN_LABEL_WIDTH`;
        never more than the full text's.
        """
        if self.short:
            least = min(self.text_width(self.short), MAX_SHORT_WIDTH)
        else:
            least = MIN_LABEL_WIDTH
        return min(least, self.natural_width())

    def comfort_width(self) -> int:
        """Return the width shown before a lower-priority label is (short form or full text)."""
        if self.short:
            return max(self.least_width(), min(self.text_width(self.short), self.natural_width()))
        return max(self.least_width(), min(self.natural_width(), MAX_COMFORT_WIDTH))

    def shown_text(self) -> str:
        """Return the text painted at the label's current width."""
        inner = self.contentsRect().width()
        metrics = self.fontMetrics()
        full = self.text()
        if metrics.horizontalAdvance(full) <= inner:
            return full
        if self.short and metrics.horizontalAdvance(self.short) <= inner:
            return self.short
        return fit_text(self.short or full, metrics, max(0, inner))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """Let the layout shrink the label (it elides)."""
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), MIN_LABEL_WIDTH), hint.height())

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt override
        """Paint the background from the style sheet and the text that fits."""
        painter = QPainter(self)
        opt = QStyleOption()
        opt.initFrom(self)
        self.style().drawPrimitive(QStyle.PrimitiveElement.PE_Widget, opt, painter, self)
        self.style().drawItemText(
            painter,
            self.contentsRect(),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            self.palette(),
            self.isEnabled(),
            self.shown_text(),
            self.foregroundRole(),
        )
        painter.end()


class _ResizeWatch(QObject):
    """Call ``fit`` when the bar is resized or shown."""

    def __init__(self, fit, parent: QObject) -> None:
        super().__init__(parent)
        self._fit = fit

    def eventFilter(self, _obj, event) -> bool:  # noqa: N802 - Qt override
        if event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self._fit()
        return False


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
        self.labels: list[StatusLabel] = []
        self._message = ("", 0, 0.0)  # full text, timeout ms, time shown
        self.notice_label = self._make("", PRIORITY_NOTICE, parent)
        self.notice_label.setStyleSheet("color: #ffb74d;")
        self.notice_label.wanted = False
        self.gt_label = self._make("No ground truth", PRIORITY_GT, parent)
        self.model_label = self._make("Model: none", PRIORITY_MODEL, parent)
        self.device_label = self._make("Device: —", PRIORITY_DEVICE, parent)
        self.progress_label = QLabel("", parent)
        self.progress_label.hide()
        self.progress_bar = QProgressBar(parent)
        self.progress_bar.setFixedWidth(140)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        self.cancel_button = QToolButton(parent)
        self.cancel_button.setDefaultAction(cancel_action)
        self.fixed = [self.progress_label, self.progress_bar, self.cancel_button]
        for w in [*self.labels, *self.fixed]:
            bar.addPermanentWidget(w)
        self._watch = _ResizeWatch(self.fit, bar)
        bar.installEventFilter(self._watch)
        bar.messageChanged.connect(self._on_message_changed)
        self.fit()

    def _make(self, text: str, priority: int, parent) -> StatusLabel:
        label = StatusLabel(text, parent, priority=priority)
        self.labels.append(label)
        return label

    def add_label(
        self, text: str, *, priority: int = PRIORITY_READINGS, name: str = ""
    ) -> StatusLabel:
        """Add a permanent label before the progress widgets, fitted with the others.

        Parameters
        ----------
        text : str
            Its first text.
        priority : int
            Lower gives way first (``PRIORITY_*``).
        name : str
            Object name (style sheets, tests).

        Returns
        -------
        StatusLabel
            Set its text with :meth:`set_label`.

        """
        label = StatusLabel(text, self.bar.parentWidget(), priority=priority)
        if name:
            label.setObjectName(name)
        self.bar.insertPermanentWidget(len(self.labels), label)
        self.labels.append(label)
        self.fit()
        return label

    # --- fitting ------------------------------------------------------------------------------
    def fit(self) -> None:
        """Share the bar's width between the labels by priority; re-elide the message.

        The message keeps :func:`message_room`; the lowest priorities are hidden until the
        others fit at their comfortable widths; then each label, highest priority first,
        gets up to its full width while the labels after it keep their least width.
        """
        width = self.bar.width()
        fixed = sum(w.sizeHint().width() + SPACING for w in self.fixed if not w.isHidden())
        budget = width - fixed - message_room(width) - SLACK
        wanted = sorted(
            (lb for lb in self.labels if lb.wanted), key=lambda lb: lb.priority, reverse=True
        )
        while wanted and sum(lb.least_width() + SPACING for lb in wanted) > budget:
            wanted.pop()  # the lowest priority gives way
        while len(wanted) > 1 and sum(lb.comfort_width() + SPACING for lb in wanted) > budget:
            wanted.pop()  # ... before a higher one is squeezed below its comfortable text
        keep = sum(lb.least_width() + SPACING for lb in wanted)
        for lb in wanted:
            keep -= lb.least_width() + SPACING
            give = max(lb.least_width(), min(lb.natural_width(), budget - keep - SPACING))
            lb.setMaximumWidth(give)
            budget -= give + SPACING
        for lb in self.labels:
            lb.setVisible(lb in wanted)
        self._show_message()

    def room_for_message(self) -> int:
        """Return the pixels the message has (left of the first visible permanent widget)."""
        layout = self.bar.layout()
        if layout is not None:
            layout.activate()
        right = self.bar.width() - 12
        for w in [*self.labels, *self.fixed]:
            if not w.isHidden() and w.isVisibleTo(self.bar) and w.x() > 0:
                right = min(right, w.x() - 2)
        return max(0, right - 6)

    # --- messages -----------------------------------------------------------------------------
    def message(self, text: str, ms: int = 8000) -> None:
        """Show a transient message (its full text also in the tooltip and the log).

        Long DICOM UIDs are shortened to their distinctive end ("…1517875167.222290") and
        the sentence is elided to the room the permanent labels leave.
        """
        log.info("%s", text)
        self._message = (text, ms, time.monotonic())
        self.bar.setToolTip(text)
        self._show_message()

    def _show_message(self) -> None:
        text, ms, t0 = self._message
        if not text:
            return
        left = 0
        if ms > 0:
            left = int(ms - (time.monotonic() - t0) * 1000)
            if left <= 0:
                return
        shown = _short_uids(text)
        if self.bar.isVisible():
            metrics = self.bar.fontMetrics()
            shown = metrics.elidedText(shown, Qt.TextElideMode.ElideRight, self.room_for_message())
        if shown != self.bar.currentMessage() or ms > 0:
            self._showing = True
            try:
                self.bar.showMessage(shown, left)
            finally:
                self._showing = False

    def _on_message_changed(self, text: str) -> None:
        if not text and not getattr(self, "_showing", False):
            self._message = ("", 0, 0.0)  # timed out or cleared: do not show it again

    def current_message(self) -> str:
        """Return the transient message shown."""
        return self.bar.currentMessage()

    def notice(self, text: str) -> None:
        """Show a lasting warning (e.g. CUDA fell back to the CPU)."""
        log.warning(text)
        self.message(text, 15000)
        self.notice_label.set_full_text("⚠ " + text, short="⚠ warning")
        self.notice_label.wanted = True
        self.fit()

    def set_label(
        self, label: StatusLabel, text: str, *, style: str = "", short: str = "", tip: str = ""
    ) -> None:
        """Set a permanent label: elided past the width it gets, full text in the tooltip.

        Parameters
        ----------
        label : StatusLabel
            One of this bar's labels.
        text : str
            Full text.
        style : str
            Style sheet (e.g. a colour).
        short : str
            Shown instead of an elided ``text`` when it fits.
        tip : str
            Extra tooltip line (e.g. a full path).

        """
        label.setStyleSheet(style)
        label.set_full_text(text, short=short, tip=tip)
        self.fit()

    def progress(self, verb: str, done: int, total: int, suffix: str = "") -> None:
        """Show ``verb done/total`` with the bar."""
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(done)
        self.progress_label.setText(f"{verb} {done}/{total}{suffix}")
        if self.progress_bar.isHidden():
            self.progress_bar.show()
            self.progress_label.show()
            self.fit()

    def progress_done(self) -> None:
        """Hide the progress bar."""
        self.progress_bar.hide()
        self.progress_label.hide()
        self.fit()
