"""Right-dock controls, bound to the view model: AI, decision, overlays, display, layers.

The "AI" box comes first, so "Analyse by itself" and the read-out are never below the
fold. Every control is a two-way binding (:mod:`pneumoviewer.ui.bind`): the panel keeps no
state of its own.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
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

from pneumoviewer.ui.bind import bind, bind_checkable, bind_value
from pneumoviewer.ui.view_model import MIN_THRESHOLD, Readout, clamp_threshold

#: Colours of the decision states in the read-out (and the list).
STATE_COLOURS = {
    "positive": "#ffd54f",
    "positive, not localised": "#ff8a65",
    "localised, below threshold": "#ce93d8",
    "negative": "#81c784",
}


def _tool(action: QAction, parent: QWidget) -> QToolButton:
    button = QToolButton(parent)
    button.setDefaultAction(action)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return button


class _ThresholdKeys(QObject):
    """Arrow and page keys on the threshold slider step the view model's threshold.

    superqt's float slider ignores them when it has the focus; going through the model also
    moves the handle and the live label together.
    """

    STEPS = {
        Qt.Key.Key_Right: 0.01,
        Qt.Key.Key_Up: 0.01,
        Qt.Key.Key_Left: -0.01,
        Qt.Key.Key_Down: -0.01,
        Qt.Key.Key_PageUp: 0.05,
        Qt.Key.Key_PageDown: -0.05,
    }

    def __init__(self, decision, parent: QObject) -> None:
        super().__init__(parent)
        self.decision = decision

    def eventFilter(self, obj, event) -> bool:  # noqa: D102, N802
        if event.type() == QEvent.Type.KeyPress and event.key() in self.STEPS:
            self.decision.nudge(self.STEPS[event.key()])
            return True
        return False


def _swatch(color: tuple[int, int, int]) -> str:
    return f'<span style="color: rgb{tuple(color)}; font-size: 14px;">■</span>'


class ControlsPanel(QWidget):
    """Controls bound to ``vm``; buttons are the window's actions.

    Parameters
    ----------
    vm : ViewModel
        The state the controls show and change.
    actions : dict of str to QAction
        From :func:`pneumoviewer.ui.actions.build_actions`.
    parent : QWidget or None
        Owner.

    """

    def __init__(self, vm, actions: dict[str, QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.setObjectName("controls")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        self._unbind = []
        groups = (
            self._ai_box(actions),
            self._decision_box(),
            self._overlay_box(actions),
            self._display_box(actions),
        )
        for group in groups:
            layout.addWidget(group)
        self.layers_box = QGroupBox("Layers", self)
        self.layers_layout = QVBoxLayout(self.layers_box)
        self.layers_box.hide()  # shown when a layer adds controls
        layout.addWidget(self.layers_box)
        layout.addStretch(1)
        vm.analysis.events.readout.connect(lambda r, *_: self.show_readout(r))
        vm.overlay.events.truth_color.connect(lambda *_: self._legend_tips())
        vm.overlay.events.pred_color.connect(lambda *_: self._legend_tips())
        self._legend_tips()
        self.show_readout(vm.analysis.readout)

    # --- boxes ---------------------------------------------------------------------------
    def _ai_box(self, actions) -> QGroupBox:
        box = QGroupBox("AI", self)
        form = QFormLayout(box)
        self.auto_check = QCheckBox("Analyse by itself", box)
        self.auto_check.setToolTip(
            "Analyse the image on screen as soon as it is shown (no key press)"
        )
        self._unbind.append(bind_checkable(self.vm.analysis, "auto", self.auto_check))
        buttons = QHBoxLayout()
        for name in ("analyse", "analyse_all", "cancel"):
            buttons.addWidget(_tool(actions[name], box))
        form.addRow(self.auto_check)
        form.addRow(buttons)
        self.prob_label = QLabel("—", box)
        self.prob_label.setObjectName("bigNumber")
        self.decision_label = QLabel("—", box)
        self.decision_label.setWordWrap(True)
        self.area_label = QLabel("—", box)
        self.dice_label = QLabel("—", box)
        for label, widest in ((self.area_label, "16,777,216 px"), (self.dice_label, "0.000")):
            # Fixed size: a new number on every slider step must not re-lay out the panel.
            label.ensurePolished()  # the stylesheet's font
            width = label.fontMetrics().horizontalAdvance(widest) + 8
            label.setFixedSize(width, label.sizeHint().height())
        self.device_label = QLabel("—", box)
        self.device_label.setWordWrap(True)
        form.addRow("AI probability", self.prob_label)
        form.addRow("Decision", self.decision_label)
        form.addRow("Predicted area", self.area_label)
        form.addRow("Dice vs truth", self.dice_label)
        form.addRow("Run", self.device_label)
        return box

    def _decision_box(self) -> QGroupBox:
        d = self.vm.decision
        box = QGroupBox("Segmentation decision", self)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.threshold_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal, box)
        self.threshold_slider.setRange(MIN_THRESHOLD, 1.0)
        self.threshold_slider.setSingleStep(0.01)
        self.threshold_slider.setPageStep(0.05)
        self.threshold_slider.setDecimals(2)
        self.threshold_slider.setToolTip(
            "Pixels at or above this probability are in the mask (bottom threshold; +/-)"
        )
        self._threshold_keys = _ThresholdKeys(d, self)
        for target in (self.threshold_slider, *self.threshold_slider.findChildren(QWidget)):
            if not isinstance(target, QDoubleSpinBox):  # the value box keeps its own keys
                target.installEventFilter(self._threshold_keys)
        self.threshold_title = QLabel("Mask threshold", box)
        self._unbind.append(
            bind_value(
                d,
                "bottom_threshold",
                self.threshold_slider,
                to_model=lambda v: clamp_threshold(float(v)),
                after=lambda v: self.threshold_title.setText(f"Mask threshold {v:.2f}"),
            )
        )
        self.top_spin = QDoubleSpinBox(box)
        self.top_spin.setRange(MIN_THRESHOLD, 1.0)
        self.top_spin.setSingleStep(0.05)
        self.top_spin.setDecimals(2)
        self.top_spin.setToolTip("Triplet: the confident pixels that must reach min area")
        self._unbind.append(
            bind_value(d, "top_threshold", self.top_spin, to_model=clamp_threshold)
        )
        self.top_spin.setEnabled(d.scheme == "triplet")
        self.scheme_combo = QComboBox(box)
        self.scheme_combo.addItem("Triplet (SIIM)", "triplet")
        self.scheme_combo.addItem("Components", "components")
        self.scheme_combo.setToolTip(
            "Triplet: empty unless min area pixels reach the top threshold.\n"
            "Components: drop connected pieces smaller than min area."
        )
        self._unbind.append(
            bind(
                d,
                "scheme",
                widget=self.scheme_combo,
                changed=self.scheme_combo.currentIndexChanged,
                set_widget=lambda v: self.scheme_combo.setCurrentIndex(
                    max(0, self.scheme_combo.findData(v))
                ),
                to_model=lambda _i: self.scheme_combo.currentData(),
                after=lambda v: self.top_spin.setEnabled(v == "triplet"),
            )
        )
        self.min_area_spin = QSpinBox(box)
        self.min_area_spin.setRange(0, 1_000_000)
        self.min_area_spin.setSingleStep(100)
        self.min_area_spin.setSuffix(" px")
        self._unbind.append(bind_value(d, "min_area", self.min_area_spin, to_model=int))
        self.gate_check = QCheckBox("Classification gate", box)
        self.gate_check.setToolTip("Empty the mask when the classifier says negative")
        self._unbind.append(bind_checkable(d, "gate_enabled", self.gate_check))
        self.gate_spin = QDoubleSpinBox(box)
        self.gate_spin.setRange(0.0, 1.0)
        self.gate_spin.setSingleStep(0.05)
        self.gate_spin.setDecimals(2)
        self.gate_spin.setToolTip("Gate threshold (the decision threshold unless changed)")
        self._unbind.append(
            bind_value(
                d,
                "gate_threshold",
                self.gate_spin,
                to_model=float,
                to_widget=lambda v: self._decision_threshold() if v is None else v,
            )
        )
        gate_row = QHBoxLayout()
        gate_row.addWidget(self.gate_check)
        gate_row.addWidget(self.gate_spin)
        form.addRow(self.threshold_title, self.threshold_slider)
        form.addRow("Scheme", self.scheme_combo)
        form.addRow("Top threshold", self.top_spin)
        form.addRow("Minimum area", self.min_area_spin)
        form.addRow(gate_row)
        return box

    def _overlay_box(self, actions) -> QGroupBox:
        o = self.vm.overlay
        box = QGroupBox("Overlays", self)
        grid = QGridLayout(box)
        self.truth_button = _tool(actions["show_truth"], box)
        self.pred_button = _tool(actions["show_prediction"], box)
        grid.addWidget(self.truth_button, 0, 0)
        grid.addWidget(self.pred_button, 0, 1)
        grid.addWidget(_tool(actions["difference"], box), 0, 2)
        self.outline_combo = QComboBox(box)
        self.outline_combo.addItems(["Fill", "Outline"])
        self._unbind.append(
            bind(
                o,
                "outline",
                widget=self.outline_combo,
                changed=self.outline_combo.currentIndexChanged,
                set_widget=lambda v: self.outline_combo.setCurrentIndex(1 if v else 0),
                to_model=lambda i: i == 1,
            )
        )
        self.opacity_slider = QLabeledSlider(Qt.Orientation.Horizontal, box)
        self.opacity_slider.setRange(0, 100)
        self._unbind.append(
            bind_value(
                o,
                "opacity",
                self.opacity_slider,
                to_model=lambda v: int(v) / 100.0,
                to_widget=lambda v: round(v * 100),
            )
        )
        grid.addWidget(self.outline_combo, 1, 0)
        grid.addWidget(QLabel("Opacity %"), 1, 1, alignment=Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.opacity_slider, 2, 0, 1, 3)
        return box

    def _display_box(self, actions) -> QGroupBox:
        box = QGroupBox("Display", self)
        grid = QGridLayout(box)
        grid.addWidget(_tool(actions["contrast"], box), 0, 0)
        grid.addWidget(_tool(actions["fit"], box), 0, 1)
        grid.addWidget(_tool(actions["one_to_one"], box), 0, 2)
        self.levels_slider = QLabeledRangeSlider(Qt.Orientation.Horizontal, box)
        self.levels_slider.setRange(0, 255)
        self.levels_slider.setValue((0, 255))
        self.levels_slider.setHandleLabelPosition(QLabeledRangeSlider.LabelPosition.NoLabel)
        self.levels_slider.setEdgeLabelMode(QLabeledRangeSlider.EdgeLabelMode.LabelIsValue)
        self.levels_slider.setToolTip("Window/level (also: right-drag on the image)")
        grid.addWidget(QLabel("W/L"), 1, 0)
        grid.addWidget(self.levels_slider, 1, 1, 1, 1)
        grid.addWidget(_tool(actions["reset_levels"], box), 1, 2)
        grid.addWidget(_tool(actions["invert"], box), 2, 0)
        grid.addWidget(_tool(actions["lock_view"], box), 2, 1, 1, 2)
        self.display_grid = grid  # H2: presets go here
        return box

    def add_layer_controls(self, widget: QWidget) -> None:
        """Put a layer's controls (from ``Layer.make_controls``) in the Layers box."""
        self.layers_layout.addWidget(widget)
        self.layers_box.show()

    # --- values ------------------------------------------------------------------------------
    def _decision_threshold(self) -> float:
        r = self.vm.analysis.readout
        return 0.5 if r.decision_threshold is None else r.decision_threshold

    @property
    def threshold(self) -> float:
        """Mask (bottom) threshold in [MIN_THRESHOLD, 1]."""
        return self.vm.decision.bottom_threshold

    def set_threshold(self, value: float) -> None:
        """Set the mask threshold (clamped to [MIN_THRESHOLD, 1])."""
        self.vm.decision.set_bottom(value)

    @property
    def outline(self) -> bool:
        """True when overlays are drawn as outlines."""
        return self.vm.overlay.outline

    @property
    def opacity(self) -> float:
        """Overlay opacity in [0, 1]."""
        return self.vm.overlay.opacity

    def show_levels(self, lo: float, hi: float) -> None:
        """Mirror the canvas window/level in the slider without feedback."""
        with signals_blocked(self.levels_slider):
            self.levels_slider.setValue((int(max(0, lo)), int(min(255, hi))))

    def _legend_tips(self) -> None:
        o = self.vm.overlay
        self.truth_button.setToolTip(f"Ground truth overlay (G) {_swatch(o.truth_color)}")
        self.pred_button.setToolTip(f"Prediction overlay (P) {_swatch(o.pred_color)}")

    def show_readout(self, r: Readout) -> None:
        """Fill the AI read-out (dashes for what is unknown)."""
        self.prob_label.setText("—" if r.probability is None else f"{r.probability:.3f}")
        if r.state == "not analysed" and r.probability is None:
            pending = self.vm.analysis.pending
            self.decision_label.setText("analysing…" if pending else "—")
        else:
            refused = r.state.startswith("not assessed")  # #10: the quality gate's red
            colour = STATE_COLOURS.get(r.state, "#ef5350" if refused else "#b0b6be")
            rule = ""
            if r.probability is not None and r.decision_threshold is not None:
                rule = f" (threshold {r.decision_threshold:.2f})"
            self.decision_label.setText(
                f'<span style="color:{colour}; font-weight:700">{r.state}</span>{rule}'
            )
        self.area_label.setText("—" if r.area is None else f"{r.area:,} px")
        self.dice_label.setText("—" if r.dice is None else f"{r.dice:.3f}")
        self.device_label.setText(r.run or "—")
        if r.decision_threshold is not None and self.vm.decision.gate_threshold is None:
            with signals_blocked(self.gate_spin):
                self.gate_spin.setValue(r.decision_threshold)
