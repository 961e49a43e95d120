"""The main toolbar: the action buttons, and the device and CPU-runtime choices (#11).

:class:`EngineChoice` owns the two combo boxes. Each is remembered in the settings
(``device``, ``runtime``) and a change made by the user emits :attr:`EngineChoice.changed`,
on which the window reloads the model (results of another device or runtime are kept
apart by the results store's key). Runtimes that cannot run here stay listed, disabled,
with a tooltip that says why and how to install them.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QComboBox, QLabel, QToolBar, QWidget

from pneumoviewer.ui.runtime_setting import (
    RUNTIME_CHOICES,
    RUNTIME_HINTS,
    RUNTIME_LABELS,
    SETTINGS_KEY,
    initial_runtime,
    runtime_unavailable,
)
from pneumoviewer.ui.settings import read_value

#: The toolbar's actions in order (None: a separator).
TOOLBAR_ACTIONS = (
    "open_folder",
    None,
    "analyse",
    "analyse_all",
    "cancel",
    None,
    "triage",
    None,
    "contrast",
    "show_truth",
    "show_prediction",
    "difference",
    "heatmap",
    None,
    "export_png",
)
DEVICES = (("Auto", "auto"), ("CPU", "cpu"), ("CUDA", "cuda"))


def make_runtime_combo(parent: QWidget | None = None) -> QComboBox:
    """Return the runtime combo: every runtime listed, the unavailable ones disabled.

    Each entry's data is the runtime's name; its tooltip says what it is, or why it
    cannot be chosen here and how to install it.
    """
    combo = QComboBox(parent)
    combo.setObjectName("runtimeCombo")
    combo.setToolTip(
        "CPU runtime of the networks (on CUDA they run in PyTorch); Auto picks the fastest "
        "one that gives the same results"
    )
    model = combo.model()
    for i, name in enumerate(RUNTIME_CHOICES):
        combo.addItem(RUNTIME_LABELS[name], name)
        reason = runtime_unavailable(name)
        if reason is None:
            combo.setItemData(i, RUNTIME_HINTS[name], Qt.ItemDataRole.ToolTipRole)
        else:
            model.item(i).setEnabled(False)
            tip = f"{RUNTIME_LABELS[name]} is not available: {reason}"
            combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
    return combo


def _select(combo: QComboBox, value: str) -> None:
    """Show the entry whose data is ``value`` (the first one when absent), no signal."""
    combo.blockSignals(True)
    combo.setCurrentIndex(max(0, combo.findData(value)))
    combo.blockSignals(False)


class EngineChoice(QObject):
    """The device and runtime combo boxes, remembered in ``settings``.

    Parameters
    ----------
    settings : QSettings
        Keys ``device`` and ``runtime``.
    parent : QWidget
        Owner of the combo boxes (the window).

    Signals
    -------
    changed() : the user chose another device or runtime (the window reloads the model).
    """

    changed = Signal()

    def __init__(self, settings, parent: QWidget) -> None:
        super().__init__(parent)
        self.settings = settings
        self.device_combo = QComboBox(parent)
        self.device_combo.setObjectName("deviceCombo")
        for label, key in DEVICES:
            self.device_combo.addItem(label, key)
        self.device_combo.setToolTip("Device for the model (CUDA falls back to the CPU)")
        self.runtime_combo = make_runtime_combo(parent)
        self.device_combo.currentIndexChanged.connect(self._on_device)
        self.runtime_combo.currentIndexChanged.connect(self._on_runtime)

    def device(self) -> str:
        """Return the chosen device ("auto", "cpu" or "cuda")."""
        return self.device_combo.currentData()

    def runtime(self) -> str:
        """Return the chosen runtime ("auto", "torch", "torch-bf16", ...)."""
        return self.runtime_combo.currentData()

    def restore(self, device: str) -> None:
        """Show ``device`` and the remembered runtime (else ``$PNEUMOVIEWER_RUNTIME``, auto)."""
        _select(self.device_combo, device)
        _select(self.runtime_combo, initial_runtime(self.stored_runtime()))

    def stored_runtime(self) -> str | None:
        """Return the runtime remembered in the settings (None when never chosen)."""
        return read_value(self.settings, SETTINGS_KEY, None, str)

    def add_to(self, toolbar: QToolBar) -> None:
        """Append the labelled combo boxes to ``toolbar``."""
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Device ", toolbar))
        toolbar.addWidget(self.device_combo)
        toolbar.addWidget(QLabel("  Runtime ", toolbar))
        toolbar.addWidget(self.runtime_combo)

    def _on_device(self, _index: int) -> None:
        self.settings.setValue("device", self.device())
        self.changed.emit()

    def _on_runtime(self, _index: int) -> None:
        self.settings.setValue(SETTINGS_KEY, self.runtime())
        self.changed.emit()


def build_toolbar(window, actions: dict, engine: EngineChoice) -> QToolBar:
    """Add the main toolbar to ``window``: :data:`TOOLBAR_ACTIONS`, then the engine choices."""
    tb = window.addToolBar("Main")
    tb.setObjectName("main_toolbar")
    tb.setMovable(False)
    for name in TOOLBAR_ACTIONS:
        if name is None:
            tb.addSeparator()
        else:
            tb.addAction(actions[name])
    engine.add_to(tb)
    return tb
