"""Build the window's controllers from its panels, each with its dependencies explicit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pneumoviewer.ui.controllers.analysis import AnalysisController
from pneumoviewer.ui.controllers.data import DataController
from pneumoviewer.ui.controllers.export import ExportController
from pneumoviewer.ui.controllers.render import RenderController
from pneumoviewer.ui.controllers.settings import SettingsController
from pneumoviewer.ui.docks import Docks, Panels


@dataclass(frozen=True, slots=True)
class Controllers:
    """The controllers :class:`~pneumoviewer.ui.main_window.MainWindow` composes."""

    data: DataController
    analysis: AnalysisController
    render: RenderController
    exporter: ExportController
    quality: Any  # QualityController (#10)
    heatmaps: Any  # HeatmapController (#10)
    prefs: SettingsController


def build_controllers(
    window,
    vm,
    *,
    panels: Panels,
    docks: Docks,
    actions: dict,
    status,
    settings,
    engine,
    recent_menu,
    open_folder: Callable[[Path], None],
    gt_csv: Path | None,
) -> Controllers:
    """Make the controllers (the order matters: each gets the ones made before it).

    Parameters
    ----------
    window : QMainWindow
        Parent of the controllers; its geometry and layout (settings), dialogs (export).
    vm : ViewModel
        The state every controller reads and writes.
    panels, docks : Panels, Docks
        :func:`pneumoviewer.ui.docks.build_panels` / ``build_docks``.
    actions : dict of str to QAction
        The window's actions.
    status : StatusController
        The status bar.
    settings : QSettings
        Preferences, remembered thresholds, the results store's place.
    engine : EngineChoice
        The toolbar's device and runtime choices (#11).
    recent_menu : QMenu
        File → Open recent.
    open_folder : callable
        ``Path -> None`` (the recent menu).
    gt_csv : Path or None
        Ground-truth CSV given on the command line.
    """
    from pneumoviewer.core.preprocessing import ClaheParams
    from pneumoviewer.ui.controllers.heatmap import HeatmapController
    from pneumoviewer.ui.controllers.quality import QualityController

    p = panels
    analysis: AnalysisController | None = None

    def clahe_params():
        info = None if analysis is None else analysis.model_info
        return (info.manifest.clahe if info is not None else None) or ClaheParams()

    data = DataController(
        vm,
        study_list=p.study_list,
        problems=p.problems,
        problems_dock=docks.problems,
        status=status,
        metadata_panel=p.metadata_panel,
        clahe_params=clahe_params,
        gt_csv=gt_csv,
        parent=window,
    )

    def truth_rows(image_id: str) -> list[str] | None:
        """Run-length strings of ``image_id`` in the ground truth (None: not listed)."""
        gt = data.ground_truth
        return gt.rows(image_id) if gt is not None and image_id in gt else None

    analysis = AnalysisController(
        vm,
        study_list=p.study_list,
        status=status,
        model_panel=p.model_panel,
        summary_panel=p.summary_panel,
        truth_mask=data.truth_mask,
        report_problem=data.report_problem,
        settings=settings,
        device_choice=engine.device,
        runtime_choice=engine.runtime,
        on_model_changed=lambda: data.reload_current(clahe_params()),
        truth_rows=truth_rows,
        parent=window,
    )
    render = RenderController(vm, canvas=p.canvas, analysis=analysis, parent=window)
    for layer in render.layers:  # each layer's own controls (recipe: ui/layers)
        widget = layer.make_controls(p.controls, actions)
        if widget is not None:
            p.controls.add_layer_controls(widget)
    exporter = ExportController(
        vm,
        window=window,
        study_list=p.study_list,
        analysis=analysis,
        data=data,
        status=status,
        clahe_params=clahe_params,
        parent=window,
    )
    # #10: the input-quality gate per image and the heat-map layer's requests.
    common = {"study_list": p.study_list, "analysis": analysis}
    common |= {"render": render, "exporter": exporter, "status": status}
    quality = QualityController(vm, canvas=p.canvas, actions=actions, parent=window, **common)
    heatmaps = HeatmapController(vm, actions=actions, parent=window, **common)
    prefs = SettingsController(
        vm, settings=settings, window=window, recent_menu=recent_menu, open_folder=open_folder
    )
    return Controllers(data, analysis, render, exporter, quality, heatmaps, prefs)
