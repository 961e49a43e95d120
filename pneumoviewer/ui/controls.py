"""Right-dock controls: display, overlays, decision thresholds, classifier read-out, analysis."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledRangeSlider, QLabeledSlider
from superqt.utils import signals_blocked


def _tool(action: QAction, parent: QWidget) -> QToolButton:
    button = QToolButton(parent)
    button.setDefaultAction(action)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return button


def _swatch(color: tuple[int, int, int]) -> str:
    return f'<span style="color: rgb{tuple(color)}; font-size: 14px;">■</span>'


class ControlsPanel(QWidget):
    """Compact controls bound to the window's actions and the post-processing parameters.

    Parameters
    ----------
    actions : dict of str to QAction
        From :func:`pneumoviewer.ui.actions.build_actions`.
    parent : QWidget or None
        Owner.

    """

    params_changed = Signal()  # threshold, min area, gate
    style_changed = Signal()  # fill/outline, opacity
    levels_changed = Signal(float, float)

    def __init__(self, actions: dict[str, QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("controls")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)

        # Display
        display = QGroupBox("Display", self)
        grid = QGridLayout(display)
        grid.addWidget(_tool(actions["contrast"], display), 0, 0)
        grid.addWidget(_tool(actions["fit"], display), 0, 1)
        grid.addWidget(_tool(actions["one_to_one"], display), 0, 2)
        self.levels_slider = QLabeledRangeSlider(Qt.Orientation.Horizontal, display)
        self.levels_slider.setRange(0, 255)
        self.levels_slider.setValue((0, 255))
        self.levels_slider.setHandleLabelPosition(QLabeledRangeSlider.LabelPosition.NoLabel)
        self.levels_slider.setEdgeLabelMode(QLabeledRangeSlider.EdgeLabelMode.LabelIsValue)
        self.levels_slider.setToolTip("Window/level (also: right-drag on the image)")
        grid.addWidget(QLabel("W/L"), 1, 0)
        grid.addWidget(self.levels_slider, 1, 1, 1, 1)
        grid.addWidget(_tool(actions["reset_levels"], display), 1, 2)

        # Overlays
        overlays = QGroupBox("Overlays", self)
        grid = QGridLayout(overlays)
        self.truth_button = _tool(actions["show_truth"], overlays)
        self.pred_button = _tool(actions["show_prediction"], overlays)
        grid.addWidget(self.truth_button, 0, 0)
        grid.addWidget(self.pred_button, 0, 1)
        grid.addWidget(_tool(actions["difference"], overlays), 0, 2)
        self.outline_combo = QComboBox(overlays)
        self.outline_combo.addItems(["Fill", "Outline"])
        self.opacity_slider = QLabeledSlider(Qt.Orientation.Horizontal, overlays)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(45)
        grid.addWidget(self.outline_combo, 1, 0)
        grid.addWidget(QLabel("Opacity %"), 1, 1, alignment=Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.opacity_slider, 2, 0, 1, 3)

        # Decision
        decision = QGroupBox("Segmentation decision", self)
        form = QFormLayout(decision)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.threshold_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal, decision)
        self.threshold_slider.setRange(0.0, 1.0)
        self.threshold_slider.setSingleStep(0.01)
        self.threshold_slider.setDecimals(2)
        self.threshold_slider.setValue(0.5)
        self.min_area_spin = QSpinBox(decision)
        self.min_area_spin.setRange(0, 1_000_000)
        self.min_area_spin.setSingleStep(100)
        self.min_area_spin.setSuffix(" px")
        self.gate_check = QCheckBox("Classification gate", decision)
        self.gate_check.setToolTip("Empty the mask when the classifier says negative")
        self.gate_spin = QDoubleSpinBox(decision)
        self.gate_spin.setRange(0.0, 1.0)
        self.gate_spin.setSingleStep(0.05)
        self.gate_spin.setDecimals(2)
        self.gate_spin.setValue(0.5)
        gate_row = QHBoxLayout()
        gate_row.addWidget(self.gate_check)
        gate_row.addWidget(self.gate_spin)
        form.addRow("Mask threshold", self.threshold_slider)
        form.addRow("Minimum area", self.min_area_spin)
        form.addRow(gate_row)

        # Result read-out
        result = QGroupBox("AI result", self)
        form = QFormLayout(result)
        self.prob_label = QLabel("—", result)
        self.prob_label.setObjectName("bigNumber")
        self.decision_label = QLabel("—", result)
        self.decision_label.setWordWrap(True)
        self.area_label = QLabel("—", result)
        self.dice_label = QLabel("—", result)
        self.device_label = QLabel("—", result)
        form.addRow("AI probability", self.prob_label)
        form.addRow("Classifier", self.decision_label)
        form.addRow("Predicted area", self.area_label)
        form.addRow("Dice vs truth", self.dice_label)
        form.addRow("Run", self.device_label)

        # Analysis
        analysis = QGroupBox("Analysis", self)
        grid = QGridLayout(analysis)
        grid.addWidget(_tool(actions["analyse"], analysis), 0, 0)
        grid.addWidget(_tool(actions["analyse_all"], analysis), 0, 1)
        grid.addWidget(_tool(actions["cancel"], analysis), 0, 2)
        self.auto_check = QCheckBox("Analyse on selection", analysis)
        grid.addWidget(self.auto_check, 1, 0, 1, 3)
        for group in (result, decision, overlays, display, analysis):
            layout.addWidget(group)
        layout.addStretch(1)

        self.threshold_slider.valueChanged.connect(lambda _v: self.params_changed.emit())
        self.min_area_spin.valueChanged.connect(lambda _v: self.params_changed.emit())
        self.gate_check.toggled.connect(lambda _v: self.params_changed.emit())
        self.gate_spin.valueChanged.connect(lambda _v: self.params_changed.emit())
        self.outline_combo.currentIndexChanged.connect(lambda _i: self.style_changed.emit())
        self.opacity_slider.valueChanged.connect(lambda _v: self.style_changed.emit())
        self.levels_slider.valueChanged.connect(
            lambda v: self.levels_changed.emit(float(v[0]), float(v[1]))
        )

    # --- values -------------------------------------------------------------------------
    @property
    def threshold(self) -> float:
        """Mask threshold in [0, 1]."""
        return round(float(self.threshold_slider.value()), 4)

    def set_threshold(self, value: float) -> None:
        """Set the mask threshold (clamped to [0, 1]); emits :attr:`params_changed`."""
        self.threshold_slider.setValue(min(1.0, max(0.0, round(value, 4))))

    @property
    def outline(self) -> bool:
        """True when overlays are drawn as outlines."""
        return self.outline_combo.currentIndex() == 1

    @property
    def opacity(self) -> float:
        """Overlay opacity in [0, 1]."""
        return self.opacity_slider.value() / 100.0

    def show_levels(self, lo: float, hi: float) -> None:
        """Mirror the canvas window/level in the slider without feedback."""
        with signals_blocked(self.levels_slider):
            self.levels_slider.setValue((int(max(0, lo)), int(min(255, hi))))

    def set_legend_colors(self, truth: tuple[int, int, int], pred: tuple[int, int, int]) -> None:
        """Put colour swatches in the overlay button tooltips."""
        self.truth_button.setToolTip(f"Ground truth overlay (G) {_swatch(truth)}")
        self.pred_button.setToolTip(f"Prediction overlay (P) {_swatch(pred)}")

    def show_result(
        self,
        *,
        probability: float | None,
        decision_threshold: float | None,
        area: int | None,
        dice: float | None,
        run: str = "",
    ) -> None:
        """Fill the AI read-out (dashes for what is unknown)."""
        if probability is None:
            self.prob_label.setText("—")
            self.decision_label.setText("—")
        else:
            self.prob_label.setText(f"{probability:.3f}")
            t = 0.5 if decision_threshold is None else decision_threshold
            positive = probability >= t
            colour = "#ffd54f" if positive else "#81c784"
            word = "POSITIVE" if positive else "negative"
            self.decision_label.setText(
                f'<span style="color:{colour}; font-weight:700">{word}</span> (≥ {t:.2f})'
            )
        self.area_label.setText("—" if area is None else f"{area:,} px")
        self.dice_label.setText("—" if dice is None else f"{dice:.3f}")
        self.device_label.setText(run or "—")
