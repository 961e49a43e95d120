"""The study table: a QAbstractTableModel of rows plus a sort/filter proxy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ID_ROLE = Qt.ItemDataRole.UserRole + 2

COLUMNS = (
    "ImageId", "View", "Sex", "Age", "Truth", "AI prob", "AI call", "Area", "Dice", "Read",
    "Quality",
)  # fmt: skip
COL_ID, COL_VIEW, COL_SEX, COL_AGE, COL_TRUTH, COL_PROB, COL_CALL, COL_AREA, COL_DICE = range(9)
COL_READ = 9  # the reader's verdict (#9); empty: unread
COL_QUALITY = 10  # the input-quality gate (#10): ok / warn / refused, override marked

#: Colours of the quality levels (list column; the banner on the image uses the same).
QUALITY_COLOURS = {
    "warn": QColor(255, 193, 7),
    "refused": QColor(239, 83, 80),
    "override": QColor(144, 202, 249),
}

#: Colours of the decision states (the read-out uses the same).
STATE_COLOURS = {
    "positive": QColor(255, 213, 79),
    "positive, not localised": QColor(255, 138, 101),
    "localised, below threshold": QColor(206, 147, 216),
    "negative": QColor(129, 199, 132),
}
#: Sort order of the decision states (most suspicious first when descending).
STATE_RANK = {
    "positive": 4.0,
    "positive, not localised": 3.0,
    "localised, below threshold": 2.0,
    "negative": 1.0,
}

#: State filters offered in the list (label, key).
STATE_FILTERS = (
    ("All", "all"),
    ("Ground truth positive", "gt_positive"),
    ("Predicted positive", "pred_positive"),
    ("False negative", "false_negative"),
    ("False positive", "false_positive"),
    ("Not analysed", "not_analysed"),
    ("Quality: warn or refused", "quality_flagged"),
    ("Quality: refused", "quality_refused"),
    ("Unread", "unread"),
    ("Read", "read"),
)


@dataclass(slots=True)
class StudyRow:
    """One image in the list: header data, truth, and the latest analysis numbers."""

    image_id: str
    path: Path
    metadata: Any = None
    truth: bool | None = None
    probability: float | None = None
    area: int | None = None
    dice: float | None = None
    analysed: bool = False
    error: str | None = None
    predicted: bool | None = None
    state: str | None = None  # the core decision state's text ("positive, not localised")
    read: str | None = None  # the reader's verdict (#9); None: unread
    quality: Any = None  # #10: core QualityResult (header, + pixels once loaded, + OOD)
    quality_override: bool = False  # #10: the reader asked for the AI answer anyway

    @property
    def withheld(self) -> bool:
        """The AI answer is withheld: refused by the quality gate and not overridden (#10)."""
        return self.quality is not None and self.quality.refused and not self.quality_override

    def quality_text(self) -> str:
        """Return the Quality column's text: "ok", "warn: REASON", "refused: REASON"..."""
        if self.quality is None:
            return ""
        if self.quality.refused and self.quality_override:
            return f"override (refused: {self.quality.text})"
        return str(self.quality)

    @property
    def predicted_positive(self) -> bool | None:
        """Post-processed mask non-empty (classifier label without a map); None before."""
        if not self.analysed or self.withheld:
            return None
        if self.predicted is not None:
            return self.predicted
        return self.probability is not None and self.probability >= 0.5


def _age(metadata: Any) -> float | None:
    """Age in years for sorting (``age_years`` of the header, else the digits of the text)."""
    years = getattr(metadata, "age_years", None)
    if years is not None:
        return float(years)
    text = getattr(metadata, "patient_age", None)
    if not text:
        return None
    digits = "".join(ch for ch in str(text) if ch.isdigit())
    return float(digits) if digits else None


def age_text(metadata: Any) -> str:
    """Return the age in the one format of the interface (``format_age``: "41 y")."""
    from pneumoviewer.core.dicom_header import format_age

    return format_age(getattr(metadata, "patient_age", None)) or ""


class StudyTableModel(QAbstractTableModel):
    """Rows of :class:`StudyRow`; numbers sort as numbers through :data:`SORT_ROLE`."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[StudyRow] = []
        self._index: dict[str, int] = {}

    # --- Qt model API -----------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, D102
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, D102
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: D102
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):  # noqa: D102
        if not index.isValid():
            return None
        row, col = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == SORT_ROLE:
            return self._sort_key(row, col)
        if role == ID_ROLE:
            return row.image_id
        if role == Qt.ItemDataRole.ForegroundRole:
            if row.error:
                return QColor(230, 90, 90)
            if col == COL_TRUTH and row.truth:
                return QColor(200, 150, 255)
            if col == COL_PROB and row.predicted_positive:
                return QColor(255, 215, 0)
            if col in (COL_CALL, COL_QUALITY) and row.withheld:
                return QUALITY_COLOURS["refused"]
            if col == COL_CALL and row.state in STATE_COLOURS:
                return STATE_COLOURS[row.state]
            if col == COL_QUALITY and row.quality is not None:
                key = "override" if row.quality_override else str(row.quality.level)
                return QUALITY_COLOURS.get(key)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col in (COL_CALL, COL_QUALITY) and row.quality is not None and not row.error:
                return row.quality_text() or str(row.path)
            return row.error or str(row.path)
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= COL_AGE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(row: StudyRow, col: int) -> str:
        md = row.metadata
        if col == COL_ID:
            return ("⚠ " if row.error else "") + row.image_id
        if col == COL_VIEW:
            return getattr(md, "view_position", None) or ""
        if col == COL_SEX:
            return getattr(md, "patient_sex", None) or ""
        if col == COL_AGE:
            return age_text(md)
        if col == COL_CALL:
            if row.analysed and row.withheld:  # #10: never a call for a refused image
                return f"not assessed: {row.quality.text}"
            return row.state if row.analysed and row.state else ""
        if col == COL_QUALITY:
            return row.quality_text()
        if col == COL_TRUTH:
            return {True: "positive", False: "negative", None: "unknown"}[row.truth]
        if col == COL_PROB:
            if row.probability is None or row.withheld:
                return ""
            return f"{row.probability:.3f}"
        if col == COL_AREA:
            return "" if row.area is None else f"{row.area:,}"
        if col == COL_DICE:
            return "" if row.dice is None or math.isnan(row.dice) else f"{row.dice:.3f}"
        if col == COL_READ:
            return row.read or ""
        return ""

    @staticmethod
    def _sort_key(row: StudyRow, col: int):
        missing = -1.0  # unknown numbers sort below every real value
        if col == COL_ID:
            return row.image_id
        if col in (COL_VIEW, COL_SEX):
            return StudyTableModel._display(row, col).lower()
        if col == COL_AGE:
            age = _age(row.metadata)
            return missing if age is None else age
        if col == COL_TRUTH:
            return {True: 1.0, False: 0.0, None: missing}[row.truth]
        if col == COL_PROB:
            if row.probability is None or row.withheld:
                return missing
            return float(row.probability)
        if col == COL_QUALITY:  # descending: refused first
            return missing if row.quality is None else float(row.quality.level.rank)
        if col == COL_CALL:
            return STATE_RANK.get(row.state or "", missing) if row.analysed else missing
        if col == COL_AREA:
            return missing if row.area is None else float(row.area)
        if col == COL_DICE:
            return missing if row.dice is None or math.isnan(row.dice) else float(row.dice)
        if col == COL_READ:  # ascending: unread first
            return 0.0 if row.read is None else 1.0
        return None

    # --- editing -----------------------------------------------------------------------
    def clear(self) -> None:
        """Remove every row."""
        self.beginResetModel()
        self.rows.clear()
        self._index.clear()
        self.endResetModel()

    def append_rows(self, rows: list[StudyRow]) -> None:
        """Append a batch of rows (one insert notification for the batch)."""
        rows = [r for r in rows if r.image_id not in self._index]
        if not rows:
            return
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        for offset, r in enumerate(rows):
            self._index[r.image_id] = first + offset
            self.rows.append(r)
        self.endInsertRows()

    def row_of(self, image_id: str) -> int | None:
        """Return the source row of ``image_id`` (None when absent)."""
        return self._index.get(image_id)

    def get(self, image_id: str) -> StudyRow | None:
        """Return the row object of ``image_id``."""
        i = self._index.get(image_id)
        return None if i is None else self.rows[i]

    def update(self, image_id: str, **fields: Any) -> None:
        """Set fields of one row and notify views."""
        i = self._index.get(image_id)
        if i is None:
            return
        for key, value in fields.items():
            setattr(self.rows[i], key, value)
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))

    def notify_all(self) -> None:
        """Tell views every row may have changed (after a bulk update of the row objects)."""
        if self.rows:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self.rows) - 1, len(COLUMNS) - 1)
            )


class StudyFilterProxy(QSortFilterProxyModel):
    """Filter by text (ImageId, view, sex, path) and by state; sort by :data:`SORT_ROLE`."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)
        self._text = ""
        self._state = "all"

    def set_text(self, text: str) -> None:
        """Keep rows whose id, view, sex or path contains ``text`` (case-insensitive)."""
        self._begin_filter_change()
        self._text = text.strip().lower()
        self._end_filter_change()

    def set_state(self, state: str) -> None:
        """Keep rows in ``state`` (a key of :data:`STATE_FILTERS`)."""
        self._begin_filter_change()
        self._state = state
        self._end_filter_change()

    def _begin_filter_change(self) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9 (invalidateFilter is deprecated)
            self.beginFilterChange()

    def _end_filter_change(self) -> None:
        if hasattr(self, "endFilterChange"):
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:  # noqa: D102
        model = self.sourceModel()
        row: StudyRow = model.rows[source_row]
        if self._text:
            md = row.metadata
            hay = " ".join(
                [
                    row.image_id,
                    str(row.path.name),
                    getattr(md, "view_position", None) or "",
                    getattr(md, "patient_sex", None) or "",
                ]
            ).lower()
            if self._text not in hay:
                return False
        return state_matches(row, self._state)

    def image_ids(self) -> list[str]:
        """Return the image ids of the visible rows, in display order."""
        ids = []
        for r in range(self.rowCount()):
            ids.append(self.data(self.index(r, 0), ID_ROLE))
        return ids


def state_matches(row: StudyRow, state: str) -> bool:
    """Return whether ``row`` belongs to the state filter ``state``."""
    pred = row.predicted_positive
    if state == "gt_positive":
        return row.truth is True
    if state == "pred_positive":
        return pred is True
    if state == "false_negative":
        return row.truth is True and pred is False
    if state == "false_positive":
        return row.truth is False and pred is True
    if state == "not_analysed":
        return not row.analysed
    if state == "quality_flagged":
        return row.quality is not None and row.quality.level.rank > 0
    if state == "quality_refused":
        return row.quality is not None and row.quality.refused
    if state == "unread":
        return row.read is None
    if state == "read":
        return row.read is not None
    return True
