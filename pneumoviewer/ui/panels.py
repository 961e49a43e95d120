"""Information panels: image metadata, model card, folder summary, problems."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


def _value_label(parent: QWidget) -> QLabel:
    label = QLabel("—", parent)
    label.setObjectName("sectionValue")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    # Long values must not widen the dock: UIDs and paths get break opportunities
    # (see _breakable) and the label may shrink below its one-line width.
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(40)
    return label


def _breakable(text: str) -> str:
    """Allow line breaks after '.', '/' and '_' (zero-width spaces) in long identifiers."""
    for ch in "./_\\":
        text = text.replace(ch, ch + "\u200b")
    return text


class _FormPanel(QWidget):
    """A form of labelled values addressed by key."""

    FIELDS: tuple[tuple[str, str], ...] = ()
    BREAKABLE: frozenset[str] = frozenset()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(8, 8, 8, 8)
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.values: dict[str, QLabel] = {}
        for key, label in self.FIELDS:
            self.values[key] = _value_label(self)
            self.form.addRow(label, self.values[key])
        self.layout_.addLayout(self.form)
        self.layout_.addStretch(1)

    def set_values(self, values: dict[str, str]) -> None:
        """Set the given fields; the others show a dash."""
        for key, label in self.values.items():
            text = values.get(key)
            if text in (None, ""):
                label.setText("—")
                label.setToolTip("")
                continue
            label.setToolTip(str(text))
            label.setText(_breakable(str(text)) if key in self.BREAKABLE else str(text))


class MetadataPanel(_FormPanel):
    """Age, sex, view, modality, date, size, pixel spacing, file path of the current image."""

    FIELDS = (
        ("image_id", "Image"),
        ("age", "Age"),
        ("sex", "Sex"),
        ("view", "View"),
        ("modality", "Modality"),
        ("date", "Study date"),
        ("size", "Size"),
        ("spacing", "Pixel spacing"),
        ("path", "File"),
    )
    BREAKABLE = frozenset({"image_id", "path"})

    def show_metadata(self, image_id: str, path: Path | None, md: Any) -> None:
        """Show one image's metadata (``md`` is an ``XrayMetadata`` or None)."""
        from pneumoviewer.core.dicom_header import format_age

        g = lambda name: getattr(md, name, None)  # noqa: E731
        spacing = g("pixel_spacing")
        rows, cols = g("rows"), g("columns")
        self.set_values(
            {
                "image_id": image_id,
                "age": format_age(g("patient_age")),
                "sex": g("patient_sex"),
                "view": g("view_position"),
                "modality": g("modality"),
                "date": g("study_date"),
                "size": f"{cols} × {rows}" if rows and cols else None,
                "spacing": f"{spacing[0]:.3f} × {spacing[1]:.3f} mm" if spacing else None,
                "path": str(path) if path else None,
            }
        )


class ModelPanel(_FormPanel):
    """The model card from manifest.json, with a red banner for demo models."""

    FIELDS = (
        ("name", "Model"),
        ("tasks", "Tasks"),
        ("input", "Input size"),
        ("thresholds", "Thresholds"),
        ("device", "Device"),
        ("training", "Training data"),
        ("metrics", "Metrics"),
        ("description", "About"),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.banner = QLabel("DEMO — not for clinical use", self)
        self.banner.setObjectName("demoBanner")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.hide()
        self.layout_.insertWidget(0, self.banner)
        self.show_manifest(None)

    def show_manifest(self, manifest: Any, *, device: str = "", note: str = "") -> None:
        """Show a ``ModelManifest`` (None: "no model")."""
        if manifest is None:
            self.banner.hide()
            self.set_values({"name": note or "No model loaded", "device": device})
            return
        self.banner.setVisible(bool(getattr(manifest, "demo", False)))
        cls, seg = manifest.classifier, manifest.segmenter
        tasks, inputs, thresholds = [], [], []
        if cls is not None:
            tasks.append(f"classification ({cls.architecture}, {cls.head})")
            inputs.append(f"{cls.input_size}² (classifier)")
            thresholds.append(f"decision {cls.decision_threshold:.2f}")
        if seg is not None:
            tasks.append(f"segmentation ({seg.architecture}/{seg.encoder})")
            inputs.append(f"{seg.input_size}² (segmenter)")
            thresholds.append(f"mask {seg.mask_threshold:.2f}, min area {seg.min_area}")
        data_lines, metric_lines = split_training(dict(getattr(manifest, "training", {}) or {}))
        self.set_values(
            {
                "name": manifest.name,
                "tasks": "; ".join(tasks),
                "input": ", ".join(inputs),
                "thresholds": "; ".join(thresholds),
                "device": device,
                "training": "\n".join(data_lines),
                "metrics": "\n".join(metric_lines),
                "description": (manifest.description or "") + (f"\n{note}" if note else ""),
            }
        )


_METRIC_WORDS = ("accuracy", "sensitivity", "specificity", "auc", "dice")
_SECTIONS = ("test", "val", "validation", "postprocess", "metrics")


def _is_metric(key: str, value) -> bool:
    return isinstance(value, int | float) and any(w in key.lower() for w in _METRIC_WORDS)


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def split_training(training: dict) -> tuple[list[str], list[str]]:
    """Split a manifest's free-form ``training`` dict into data lines and metric lines.

    Parameters
    ----------
    training : dict
        ``ModelManifest.training`` (scalars, and per-model dicts with ``test`` /
        ``val`` / ``postprocess`` / ``metrics`` sections).

    Returns
    -------
    tuple of (list of str, list of str)
        ``"key: value"`` lines about the data and training run, and metric lines
        (accuracy, sensitivity, specificity, AUC, Dice) named by their section.
    """
    data, metrics = [], []
    for key, value in training.items():
        if isinstance(value, dict):
            scalars = {k: v for k, v in value.items() if not isinstance(v, dict)}
            for k, v in scalars.items():
                if _is_metric(k, v):
                    metrics.append(f"{key} {k}: {_fmt(v)}")
            for section in _SECTIONS:
                sub = value.get(section)
                if isinstance(sub, dict):
                    for k, v in sub.items():
                        if _is_metric(k, v):
                            prefix = key if key == section else f"{key} {section}"
                            metrics.append(f"{prefix} {k}: {_fmt(v)}")
        elif _is_metric(key, value):
            metrics.append(f"{key}: {_fmt(value)}")
        else:
            data.append(f"{key}: {_fmt(value)}")
    return data, metrics


class SummaryPanel(_FormPanel):
    """Folder summary against ground truth (updates as thresholds change)."""

    FIELDS = (
        ("counts", "Images"),
        ("accuracy", "Accuracy"),
        ("sensitivity", "Sensitivity"),
        ("specificity", "Specificity"),
        ("auc", "AUC"),
        ("confusion", "TP / FP / TN / FN"),
        ("dice_pos", "Dice (positive images)"),
        ("kaggle", "Kaggle mean Dice"),
    )

    def show_summary(self, summary: dict[str, Any] | None) -> None:
        """Show a summary dict from :func:`pneumoviewer.ui.analysis.summary_panel_numbers`."""
        if not summary:
            self.set_values({"counts": "Analyse images with ground truth to see metrics"})
            return
        f = lambda v: "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"  # noqa: E731
        self.set_values(
            {
                "counts": (
                    f"{summary['n_evaluated']} evaluated of {summary['n_analysed']} analysed "
                    f"({summary['n_truth_positive']} positive)"
                    + (  # #10: refused by the quality gate, left out of the metrics
                        f"; {summary['n_refused']} not assessed (quality)"
                        if summary.get("n_refused")
                        else ""
                    )
                ),
                "accuracy": f(summary.get("accuracy")),
                "sensitivity": f(summary.get("sensitivity")),
                "specificity": f(summary.get("specificity")),
                "auc": f(summary.get("auc")),
                "confusion": "{tp} / {fp} / {tn} / {fn}".format(**summary),
                "dice_pos": f(summary.get("dice_positive")),
                "kaggle": f(summary.get("kaggle_mean_dice")),
            }
        )


class ProblemsPanel(QWidget):
    """Files that could not be scanned or loaded, with the reason."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 2, self)
        self.table.setHorizontalHeaderLabels(["File", "Problem"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().resizeSection(0, 260)
        self.table.horizontalHeader().setStretchLastSection(True)
        # Long messages wrap onto more lines instead of being cut at the column's edge.
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setMinimumHeight(150)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table)
        self._seen: set[tuple[str, str]] = set()

    def clear(self) -> None:
        """Remove every problem."""
        self.table.setRowCount(0)
        self._seen.clear()

    def add_problem(self, path: Path | str, message: str) -> bool:
        """Add one problem (ignored when the same one is listed); return whether added."""
        key = (str(path), message)
        if key in self._seen:
            return False
        self._seen.add(key)
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(Path(path).name))
        self.table.item(row, 0).setToolTip(str(path))
        item = QTableWidgetItem(message)
        item.setToolTip(f"{path}\n{message}")
        self.table.setItem(row, 1, item)
        return True

    def count(self) -> int:
        """Return the number of problems listed."""
        return self.table.rowCount()
