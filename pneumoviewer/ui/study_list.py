"""The study list dock: filter box, state filter, triage button and the sortable table."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QItemSelectionModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyledItemDelegate,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from pneumoviewer.ui.study_model import (
    COL_AGE,
    COL_AREA,
    COL_CALL,
    COL_DICE,
    COL_ID,
    COL_PROB,
    COL_QUALITY,
    COL_READ,
    COL_SEX,
    COL_TRUTH,
    COL_VIEW,
    ID_ROLE,
    STATE_FILTERS,
    StudyFilterProxy,
    StudyTableModel,
)

#: The widest usual text of each column: a column is at least as wide as it and its title.
#: Ids elide on the left (their distinct end stays visible); longer quality reasons and
#: decision states elide too, with the full text in the tooltip or the read-out.
COLUMN_SAMPLES = {
    COL_ID: "…75165.878027",
    COL_VIEW: "PA",
    COL_SEX: "M",
    COL_AGE: "100 y",
    COL_TRUTH: "negative",
    COL_PROB: "0.000",
    COL_CALL: "negative",
    COL_AREA: "1,048,576",
    COL_DICE: "0.000",
    COL_READ: "disagree",
    COL_QUALITY: "refused: lateral",  # the level and the reason's first word
}
CELL_PADDING = 14  # px: the cell's margins around its text
TITLE_PADDING = 24  # px: the title's margins and the sort arrow


class _ElideLeftDelegate(QStyledItemDelegate):
    """Elide on the left: SIIM UIDs share their start and differ at the end."""

    def initStyleOption(self, option, index) -> None:  # noqa: D102, N802
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideLeft


class StudyListPanel(QWidget):
    """Table of studies with filters; emits :attr:`current_changed` with the image id.

    Parameters
    ----------
    parent : QWidget or None
        Owner.

    """

    current_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = StudyTableModel(self)
        self.proxy = StudyFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter by id, view, sex…")
        self.filter_edit.setClearButtonEnabled(True)
        self.state_combo = QComboBox(self)
        for label, key in STATE_FILTERS:
            self.state_combo.addItem(label, key)
        self.triage_button = QPushButton("Triage ▼", self)
        self.triage_button.setToolTip("Sort by AI probability, most suspicious first")
        self.count_label = QLabel("", self)
        self.count_label.setStyleSheet("color: #9aa3ad;")

        self.view = QTableView(self)
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        # Scan order until the user sorts: a sorted proxy costs O(log n) Python data() calls
        # per inserted row, which a 3,000-image scan would pay on the GUI thread.
        self.view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.proxy.sort(-1)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(22)
        # Every column fits its title and usual text; ImageId takes the room the others
        # leave (never less than its sample); when the dock is narrower than the columns,
        # the table scrolls sideways instead of squeezing Read and Quality (#10) away.
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(30)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.column_widths = self._column_widths()
        for col, width in self.column_widths.items():
            header.resizeSection(col, width)
        header.sectionResized.connect(self._on_section_resized)
        self.view.viewport().installEventFilter(self)
        self.view.setItemDelegateForColumn(
            0, _ElideLeftDelegate(self.view)
        )  # ids differ at the end

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.state_combo)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.count_label, 1)
        bottom.addWidget(self.triage_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(5)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addLayout(bottom)

        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.state_combo.currentIndexChanged.connect(
            lambda _i: self.proxy.set_state(self.state_combo.currentData())
        )
        self.triage_button.clicked.connect(self.triage)
        self.view.selectionModel().currentRowChanged.connect(self._on_current)
        # After a sort (header click, Ctrl+T) or a filter, the selected row stays in view.
        self.proxy.layoutChanged.connect(self.keep_current_in_view)
        self.view.horizontalHeader().sortIndicatorChanged.connect(self.keep_current_in_view)
        for sig in (
            self.proxy.rowsInserted,
            self.proxy.rowsRemoved,
            self.proxy.modelReset,
            self.proxy.layoutChanged,
        ):
            sig.connect(self._update_count)

    def _column_widths(self) -> dict[int, int]:
        """Return each column's width: its sample text or its title, whichever is wider."""
        cells, titles = self.view.fontMetrics(), self.view.horizontalHeader().fontMetrics()
        widths = {}
        for col, sample in COLUMN_SAMPLES.items():
            title = self.model.headerData(col, Qt.Orientation.Horizontal)
            widths[col] = max(
                cells.horizontalAdvance(sample) + CELL_PADDING,
                titles.horizontalAdvance(title) + TITLE_PADDING,
            )
        return widths

    def fit_id_column(self) -> None:
        """Give ImageId the width the other columns leave (at least its own width)."""
        header = self.view.horizontalHeader()
        others = sum(
            header.sectionSize(c)
            for c in range(header.count())
            if c != COL_ID and not header.isSectionHidden(c)
        )
        room = self.view.viewport().width() - others
        width = max(self.column_widths[COL_ID], room)
        if header.sectionSize(COL_ID) != width:
            header.resizeSection(COL_ID, width)

    def _on_section_resized(self, col: int, _old: int, _new: int) -> None:
        if col != COL_ID:
            self.fit_id_column()

    def eventFilter(self, obj, event) -> bool:  # noqa: D102, N802
        if event.type() == QEvent.Type.Resize and obj is self.view.viewport():
            self.fit_id_column()
        return False

    def _update_count(self, *args) -> None:
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        text = f"{total} images" if shown == total else f"{shown} of {total} images"
        self.count_label.setText(text)

    def _on_current(self, current, _previous) -> None:
        if current.isValid():
            self.current_changed.emit(self.proxy.data(current, ID_ROLE))

    # --- navigation ---------------------------------------------------------------------
    def triage(self) -> None:
        """Sort by AI probability, descending (most suspicious first)."""
        self.view.sortByColumn(COL_PROB, Qt.SortOrder.DescendingOrder)
        self.keep_current_in_view()

    def keep_current_in_view(self, *_args) -> None:
        """Scroll so the selected row is visible (after a sort, a filter or a layout change)."""
        index = self.view.currentIndex()
        if index.isValid():
            self.view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def current_id(self) -> str | None:
        """Return the selected image id (None when nothing is selected)."""
        index = self.view.currentIndex()
        return self.proxy.data(index, ID_ROLE) if index.isValid() else None

    def select_row(self, proxy_row: int) -> None:
        """Select the visible row ``proxy_row`` (clamped to the table)."""
        n = self.proxy.rowCount()
        if n == 0:
            return
        proxy_row = max(0, min(n - 1, proxy_row))
        index = self.proxy.index(proxy_row, 0)
        flags = (
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows
        )
        self.view.selectionModel().setCurrentIndex(index, flags)
        self.view.scrollTo(index)

    def select_id(self, image_id: str) -> bool:
        """Select ``image_id`` when it is visible; return whether it was."""
        row = self.model.row_of(image_id)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            return False
        self.select_row(index.row())
        return True

    def move(self, delta: int) -> None:
        """Move the selection by ``delta`` visible rows."""
        index = self.view.currentIndex()
        start = index.row() if index.isValid() else (-1 if delta > 0 else 0)
        self.select_row(start + delta)
