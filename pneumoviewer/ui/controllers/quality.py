"""The input-quality gate in the viewer (#10): per image, a list column, a banner, overrides.

Each image gets the core gate's answer (:func:`pneumoviewer.core.quality.assess`) as
soon as its inputs exist:

- header rules at scan time (microseconds per row, against the loaded model's intended
  use, the defaults before a model loads);
- pixel rules when the image is loaded for the screen (cached per image), or in the
  inference worker for the images of Analyse all;
- the out-of-distribution rule after analysis (the worker checks the pooled features
  against the model's statistics: ``InferenceOutput.quality``).

The answer lives on the list row (``StudyRow.quality``): the list shows it (Quality column
and filter), a refused row's AI call reads "not assessed: REASON" and its numbers are
hidden, :meth:`AnalysisController.decision` withholds the decision (no call, no mask), the
Summary leaves the image out and counts it, and the PNG export writes "AI: not assessed:
REASON" (:func:`export_quality`).

The reader can override a refusal for one image (the banner's button or Analysis → Assess
anyway): the AI answer comes back, the Quality column and the banner say "override", the
export says "refused ..., assessed at the reader's request". Overrides are recorded in
memory for the session (:attr:`QualityController.overrides`, with the time and the
reasons overridden) -- neither the results store nor the reading file has a field for them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from pneumoviewer.core.quality import (
    Quality,
    QualityResult,
    Reason,
    assess,
    check_header,
    check_pixels,
    combine,
    withhold,
)

log = logging.getLogger(__name__)

#: Banner styles per level (amber warn, red refused, blue override).
BANNER_STYLES = {
    "warn": "background: rgba(120, 85, 0, 215); color: #ffe082;",
    "refused": "background: rgba(150, 20, 20, 225); color: #ffffff;",
    "override": "background: rgba(20, 70, 130, 215); color: #e3f2fd;",
}


def overridden(quality: QualityResult) -> QualityResult:
    """Return what an overridden refusal reads as: a warning that names the refusal."""
    reason = Reason(
        Quality.WARN,
        "override",
        f"refused ({quality.text}), assessed at the reader's request",
    )
    return QualityResult.of(
        [reason, *(r for r in quality.reasons if r.level is not Quality.REFUSED)]
    )


#: A restored result the gate had refused for its pixels or OOD score (reason re-checked
#: when the image is shown; OOD only by analysing it again).
RESTORED_REFUSAL = QualityResult.of(
    [Reason(Quality.REFUSED, "restored", "refused when last analysed (show it for the reason)")]
)


@dataclass(frozen=True, slots=True)
class QualityExport:
    """What the PNG export needs of the gate for one image (``ExportJob.extras``)."""

    known: QualityResult | None  # header + pixel + OOD rules known on screen
    override: bool = False
    intended: Any = None  # IntendedUse of the loaded model (None: the defaults)


def export_quality(info: QualityExport, image: Any, decision: Any) -> tuple[QualityResult, Any]:
    """Return ``(quality for the annotation, decision to draw)`` for the export worker.

    The header and pixel rules run on the decoded image (an image never shown has not had
    its pixel rules yet); the OOD answer comes from what the screen knew. A refused image's
    decision is withheld unless the reader overrode it.
    """
    quality = combine(
        assess(image.metadata, image.pixels, padding=image.padding, intended=info.intended),
        info.known,
    )
    if quality.refused:
        if info.override:
            return overridden(quality), decision
        return quality, withhold(decision)
    return quality, decision


@dataclass(frozen=True, slots=True)
class Override:
    """One recorded override: when, and the reasons of the refusal it overrode."""

    image_id: str
    time: str
    reasons: str


class QualityBanner(QFrame):
    """The strip over the image: the gate's reason and, when refused, the override button."""

    def __init__(self, host, *, avoid=()) -> None:
        super().__init__(host)
        self.avoid = tuple(avoid)  # widgets on the host it must not cover (the legend)
        self.setObjectName("qualityBanner")
        self.label = QLabel(self)
        self.label.setObjectName("qualityBannerText")
        self.label.setWordWrap(True)
        self.button = QPushButton("Assess anyway", self)
        self.button.setObjectName("qualityBannerButton")
        self.button.setToolTip("Show the AI answer for this image despite the quality gate")
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 4, 6, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.button)
        self.level = ""
        self.hide()
        host.installEventFilter(self)
        for widget in self.avoid:
            widget.installEventFilter(self)

    def show_quality(self, quality: QualityResult | None, override: bool) -> None:
        """Show nothing (ok), amber (warn), red (refused) or blue (overridden)."""
        if quality is None or quality.level is Quality.OK:
            self.level = "ok" if quality is not None else ""
            self.hide()
            return
        if quality.refused and override:
            self.level = "override"
            text = f"Quality refused: {quality.text} - AI shown at the reader's request"
            self.button.setText("Withdraw override")
        elif quality.refused:
            self.level = "refused"
            text = f"Not assessed: {quality.text}"
            self.button.setText("Assess anyway")
        else:
            self.level = "warn"
            text = f"Quality warning: {quality.text}"
        self.button.setVisible(quality.refused)
        self.label.setText(text)
        self.setStyleSheet(
            f"#qualityBanner {{ {BANNER_STYLES[self.level]} border-radius: 4px; }}"
            f" QLabel {{ {BANNER_STYLES[self.level]} background: transparent; }}"
        )
        self.show()
        self.place()
        self.raise_()

    def place(self) -> None:
        """Put the banner at the top, between the legend and the patient corner.

        Under the top orientation letter, at most 760 px wide; under the legend when the
        room beside it is narrower than 240 px. Its height follows the wrapped text.
        """
        host = self.parentWidget()
        left, top = 10, 34
        right = host.width() - 110  # the patient corner (sex, age, view, date)
        shown = [w.geometry() for w in self.avoid if w.isVisible()]
        beside = max([left, *(g.right() + 10 for g in shown)])
        if right - beside >= 240:
            left = beside
        elif shown:  # no room beside the legend: below it
            top = max(top, *(g.bottom() + 8 for g in shown))
        width = max(160, min(right - left, 760))
        self.setFixedWidth(width)
        height = self.heightForWidth(width)
        self.setFixedHeight(height if height > 0 else self.sizeHint().height())
        self.move(left + max(0, (right - left - width) // 2), top)

    def eventFilter(self, obj, event) -> bool:  # noqa: D102, N802
        kinds = (QEvent.Type.Resize, QEvent.Type.Show, QEvent.Type.Hide, QEvent.Type.Move)
        if event.type() in kinds and self.isVisible() and obj is not self:
            self.place()
        return False


def header_quality(metadata: Any, intended: Any = None) -> QualityResult | None:
    """Return the header rules' answer (None when ``metadata`` is not an image header)."""
    try:
        return check_header(metadata, intended)
    except (AttributeError, TypeError, ValueError):  # e.g. a stand-in row in a tool or test
        log.debug("no header quality for %r", metadata, exc_info=True)
        return None


class QualityController(QObject):
    """Quality per image: header rules at scan, pixel rules on load, OOD after analysis.

    Parameters
    ----------
    vm : ViewModel
        ``vm.image`` is read (the image on screen).
    study_list : StudyListPanel
        Rows carry ``quality`` and ``quality_override``.
    analysis : AnalysisController
        Its worker's results (OOD), the loaded model (intended use), ``update_row`` and
        the summary.
    render : RenderController
        Redrawn when the image on screen changes level.
    canvas : ImageCanvas
        Hosts the banner.
    actions : dict
        ``quality_override`` (checkable) is bound here.
    status : StatusController
        Messages.
    exporter : ExportController or None
        ``extra_sources["quality"]`` is registered there.
    parent : QObject
        Owner.

    Signals
    -------
    quality_changed(str) : an image's quality or override changed (image id).

    """

    quality_changed = Signal(str)

    def __init__(
        self,
        vm,
        *,
        study_list,
        analysis,
        render,
        canvas,
        actions: dict,
        status,
        exporter=None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.vm = vm
        self.study_list = study_list
        self.model = study_list.model
        self.analysis = analysis
        self.render = render
        self.status = status
        self.pixel_results: dict[str, QualityResult] = {}  # pixel rules per image
        self.model_results: dict[str, QualityResult] = {}  # worker: OOD (+ pixels in a batch)
        self.restored_refusals: dict[str, QualityResult] = {}  # "not assessed" from the store
        #: Overrides of this session, by image id (in memory: no store has a field for it).
        self.overrides: dict[str, Override] = {}
        legend = getattr(canvas, "legend", None)
        self.banner = QualityBanner(canvas.graphics, avoid=() if legend is None else (legend,))
        self.banner.button.clicked.connect(self.toggle_override)
        self.action = actions.get("quality_override")
        if self.action is not None:
            self.action.setEnabled(False)
            self.action.triggered.connect(lambda checked: self.set_override(checked))
        self.model.rowsInserted.connect(self._on_rows_inserted)
        self.model.modelReset.connect(self._on_reset)
        vm.image.events.image_id.connect(lambda *_: self.show_current())
        vm.image.events.loaded.connect(self._on_loaded)
        analysis.inference.result.connect(self._on_output)
        analysis.model_ready.connect(self._on_model_ready)
        if exporter is not None:
            exporter.extra_sources["quality"] = self.export_info

    # --- the rules ---------------------------------------------------------------------------
    def intended(self):
        """Return the loaded model's intended use (None: the defaults)."""
        info = self.analysis.model_info
        return None if info is None else info.manifest.effective_intended_use

    def quality_of(self, image_id: str) -> QualityResult | None:
        """Return the gate's answer known for ``image_id`` (None: not listed)."""
        row = self.model.get(image_id)
        return None if row is None else row.quality

    def _compute(self, row) -> QualityResult | None:
        header = header_quality(row.metadata, self.intended())
        if header is None:
            return None
        pixels = self.pixel_results.get(row.image_id)
        earlier = self.restored_refusals.get(row.image_id)
        if row.image_id in self.model_results or (pixels is not None and pixels.refused):
            earlier = None  # analysed again, or the pixels say why once more
        return combine(header, pixels, self.model_results.get(row.image_id), earlier)

    def _note_restored(self, row, header: QualityResult | None) -> None:
        """Keep a refusal the results store remembers ("not assessed" restored, #12).

        Restored results carry no pixel or OOD verdict; an image the gate refused for its
        pixels or its OOD score when analysed stays refused until it is checked again.
        """
        if (
            row.analysed
            and row.state == "not assessed"
            and header is not None
            and not header.refused
            and row.image_id not in self.pixel_results
            and row.image_id not in self.model_results
        ):
            self.restored_refusals[row.image_id] = RESTORED_REFUSAL

    def _set(self, image_id: str, *, notify: bool = True) -> None:
        """Recompute one row; update what depends on it when its verdict changed."""
        row = self.model.get(image_id)
        if row is None or row.metadata is None:
            return
        before = (row.quality, row.withheld)
        row.quality = self._compute(row)
        if (row.quality, row.withheld) == before:
            return
        if notify:
            self._changed(image_id, withheld_changed=before[1] != row.withheld)

    def _changed(self, image_id: str, *, withheld_changed: bool) -> None:
        if withheld_changed and image_id in self.analysis.store.scalars:
            if image_id == self.vm.image.image_id and self.vm.image.loaded is not None:
                self.render.refresh()  # decision, overlay, read-out and the row
            else:
                self.analysis.update_row(image_id)
            self.analysis.schedule_summary()
        self.model.update(image_id)
        if image_id == self.vm.image.image_id:
            self.show_current()
        self.quality_changed.emit(image_id)

    def _on_rows_inserted(self, _parent, first: int, last: int) -> None:
        intended = self.intended()
        withheld_rows = []
        for row in self.model.rows[first : last + 1]:
            if row.metadata is None:
                continue
            row.quality = header = header_quality(row.metadata, intended)  # ~7 us a row
            self._note_restored(row, header)
            if row.image_id in self.restored_refusals:
                row.quality = self._compute(row)
            if row.withheld and row.analysed:
                withheld_rows.append(row.image_id)
        right = self.model.columnCount() - 1
        self.model.dataChanged.emit(self.model.index(first, 0), self.model.index(last, right))
        if withheld_rows:  # results restored from the store before the gate knew: summary
            self.analysis.schedule_summary()

    def _on_reset(self) -> None:
        self.restored_refusals.clear()
        self.pixel_results.clear()
        self.model_results.clear()
        self.overrides.clear()
        self.show_current()

    def _on_loaded(self, li, *_old) -> None:
        if li is None:
            self.show_current()
            return
        if li.image_id not in self.pixel_results:  # ~5-20 ms, once per image
            self.pixel_results[li.image_id] = check_pixels(
                li.image.pixels, padding=li.image.padding
            )
        self._set(li.image_id)
        self.show_current()

    def _on_output(self, out) -> None:
        quality = getattr(out, "quality", None)
        if quality is None:
            return
        self.model_results[out.image_id] = quality
        self._set(out.image_id)

    def _on_model_ready(self, _info) -> None:
        """Re-check every row: a model's intended use and OOD answers replace the old ones."""
        self.model_results.clear()
        changed = []
        for row in self.model.rows:
            if row.metadata is None:
                continue
            before = (row.quality, row.withheld)
            self._note_restored(row, header_quality(row.metadata, self.intended()))
            row.quality = self._compute(row)
            if (row.quality, row.withheld) != before:
                changed.append((row.image_id, before[1] != row.withheld))
        for image_id, withheld_changed in changed:
            self._changed(image_id, withheld_changed=withheld_changed)

    # --- override ----------------------------------------------------------------------------
    def set_override(self, on: bool, image_id: str | None = None) -> bool:
        """Override (or withdraw the override of) the refusal of ``image_id`` (default: on screen).

        Returns
        -------
        bool
            Whether anything changed (False when the image is not refused).
        """
        image_id = image_id or self.vm.image.image_id
        row = None if image_id is None else self.model.get(image_id)
        if row is None or row.quality is None or not row.quality.refused:
            self.show_current()
            return False
        if bool(on) == row.quality_override:
            return False
        row.quality_override = bool(on)
        if on:
            self.overrides[image_id] = Override(
                image_id, time.strftime("%Y-%m-%d %H:%M:%S"), row.quality.text
            )
            log.info("quality override: %s (%s)", image_id, row.quality.text)
            self.status.message(f"{image_id}: AI shown despite the quality gate (override)", 6000)
        else:
            self.overrides.pop(image_id, None)
            self.status.message(f"{image_id}: override withdrawn, not assessed", 6000)
        self._changed(image_id, withheld_changed=True)
        return True

    def toggle_override(self) -> None:
        """Override, or withdraw the override, for the image on screen (banner button)."""
        row = self.model.get(self.vm.image.image_id or "")
        if row is not None:
            self.set_override(not row.quality_override)

    # --- the image on screen -------------------------------------------------------------------
    def show_current(self) -> None:
        """Update the banner and the override action for the image on screen."""
        image_id = self.vm.image.image_id
        row = None if image_id is None else self.model.get(image_id)
        quality = None if row is None else row.quality
        if self.vm.image.loaded is None and (row is None or quality is None):
            self.banner.show_quality(None, False)
        else:
            self.banner.show_quality(quality, bool(row and row.quality_override))
        if self.action is not None:
            refused = quality is not None and quality.refused
            self.action.setEnabled(refused)
            self.action.blockSignals(True)
            self.action.setChecked(bool(refused and row.quality_override))
            self.action.blockSignals(False)

    # --- export ---------------------------------------------------------------------------------
    def export_info(self, image_id: str) -> QualityExport:
        """Return the export's ``extras["quality"]`` for ``image_id`` (GUI thread)."""
        row = self.model.get(image_id)
        return QualityExport(
            known=None if row is None else row.quality,
            override=bool(row is not None and row.quality_override),
            intended=self.intended(),
        )
