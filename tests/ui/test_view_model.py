"""The view model and the layers, driven with no widget at all."""

from __future__ import annotations

import numpy as np
import pytest

from pneumoviewer.core.overlay import DIFFERENCE_COLORS, compose_overlay
from pneumoviewer.ui.layers import LAYER_TYPES, LayerStack, Scene
from pneumoviewer.ui.view_model import MIN_THRESHOLD, ViewModel, params_to_values


def events(section) -> list[tuple[str, tuple]]:
    """Record (field, (new, old)) of every change of ``section``."""
    seen: list[tuple[str, tuple]] = []
    section.events.connect(lambda info: seen.append((info.signal.name, info.args)))
    return seen


def test_fields_emit_only_on_change():
    vm = ViewModel()
    seen = events(vm.overlay)
    vm.overlay.opacity = 0.6
    vm.overlay.opacity = 0.6
    vm.overlay.show_truth = False
    assert seen == [("opacity", (0.6, 0.45)), ("show_truth", (False, True))]


def test_threshold_is_clamped_above_zero_and_nudged():
    vm = ViewModel()
    assert vm.decision.set_bottom(0.0) == MIN_THRESHOLD
    assert vm.decision.nudge(-0.05) == MIN_THRESHOLD
    assert vm.decision.nudge(0.05) == pytest.approx(0.06)
    assert vm.decision.set_bottom(7) == 1.0
    vm.decision.update(bottom_threshold=-1.0, min_area=12, unknown=3)
    assert (vm.decision.bottom_threshold, vm.decision.min_area) == (MIN_THRESHOLD, 12)


def test_params_are_the_core_triplet():
    vm = ViewModel()
    vm.decision.update(bottom_threshold=0.4, top_threshold=0.75, min_area=20)
    params = vm.decision.params()
    from pneumoviewer.core.postprocessing import postprocess

    prob = np.zeros((32, 32), np.float32)
    prob[:3, :3] = 0.9  # a confident 9 px blob
    prob[10:20, 10:20] = 0.5  # a faint 100 px blob
    assert not postprocess(prob, params).any()  # fewer than 20 px above the top threshold
    vm.decision.min_area = 5
    assert int(postprocess(prob, vm.decision.params()).sum()) == 109
    assert params_to_values(vm.decision.params())["min_area"] == 5


def test_new_image_resets_window_and_zoom_unless_locked():
    vm = ViewModel()
    vm.show("a")
    vm.display.window_center, vm.display.window_width, vm.display.zoom = 200.0, 100.0, 2.0
    vm.show("b")
    assert (vm.display.window_center, vm.display.window_width, vm.display.zoom) == (
        None,
        None,
        None,
    )
    vm.display.lock = True
    vm.display.window_center, vm.display.zoom = 150.0, 3.0
    vm.show("c")
    assert (vm.display.window_center, vm.display.zoom) == (150.0, 3.0)
    assert vm.image.image_id == "c"


def test_auto_analysis_on_by_default_and_queued_while_loading():
    vm = ViewModel()
    vm.show("a")
    assert vm.analysis.auto
    assert not vm.auto_analyse_wanted(analysed=False)  # no model
    vm.analysis.model = "loading"
    assert not vm.auto_analyse_wanted(analysed=False)  # asked again once ready
    assert vm.analysis.can_queue  # an explicit request (A) is queued behind the load
    vm.analysis.model = "ready"
    assert not vm.auto_analyse_wanted(analysed=True)
    vm.analysis.auto = False
    assert not vm.auto_analyse_wanted(analysed=False)


def test_snapshot_is_independent():
    vm = ViewModel()
    vm.overlay.opacity = 0.3
    copy = vm.snapshot()
    vm.overlay.opacity = 0.9
    assert copy.overlay.opacity == 0.3


def _scene() -> Scene:
    truth = np.zeros((8, 8), bool)
    truth[:4] = True
    pred = np.zeros((8, 8), bool)
    pred[2:6] = True
    return Scene((8, 8), truth=truth, prediction=pred)


def test_layers_draw_what_compose_overlay_draws():
    vm = ViewModel()
    stack = LayerStack([cls(vm) for cls in LAYER_TYPES])
    scene = _scene()
    rgba, entries = stack.render(scene)
    expected = compose_overlay(
        scene.shape, ground_truth=scene.truth, prediction=scene.prediction, style=vm.overlay.style()
    )
    np.testing.assert_array_equal(rgba, expected)
    labels = [label for label, _c in entries]
    assert labels == ["Ground truth", "Prediction", "Overlap (Ground truth + Prediction)"]
    overlap = entries[2][1]
    assert tuple(rgba[2, 0, :3]) == overlap
    assert overlap != DIFFERENCE_COLORS["fp"]


def test_difference_layer_replaces_the_masks():
    vm = ViewModel()
    stack = LayerStack([cls(vm) for cls in LAYER_TYPES])
    vm.overlay.difference = True
    rgba, entries = stack.render(_scene())
    assert [label for label, _ in entries] == ["True positive", "False positive", "False negative"]
    assert tuple(rgba[0, 0, :3]) == DIFFERENCE_COLORS["fn"]  # truth only
    assert tuple(rgba[3, 0, :3]) == DIFFERENCE_COLORS["tp"]
    assert tuple(rgba[5, 0, :3]) == DIFFERENCE_COLORS["fp"]
    assert rgba[7, 0, 3] == 0
    vm.overlay.show_truth = False  # the difference needs both layers shown
    _rgba, entries = stack.render(_scene())
    assert [label for label, _ in entries] == ["Prediction"]


def test_hidden_and_outlined_layers():
    vm = ViewModel()
    stack = LayerStack([cls(vm) for cls in LAYER_TYPES])
    vm.overlay.show_prediction = False
    rgba, entries = stack.render(_scene())
    assert [label for label, _ in entries] == ["Ground truth"]
    assert rgba[5, 0, 3] == 0
    vm.overlay.outline = True
    vm.overlay.show_prediction = True
    rgba, _ = stack.render(_scene())
    assert rgba[:, :, 3].astype(bool).sum() < 64  # outlines, not fills


def test_a_new_layer_is_one_class():
    """The recipe of ui/layers: a heat-map-like layer with its own evented state."""
    from dataclasses import dataclass

    from psygnal import evented

    from pneumoviewer.core.overlay import RGBAPaint
    from pneumoviewer.ui.layers import Layer

    @evented
    @dataclass
    class HeatState:
        visible: bool = True

    class HeatLayer(Layer):
        key, title, order = "heat", "Heat-map", 40

        def __init__(self, vm):
            super().__init__(vm)
            self.state = HeatState()

        def paints(self, scene):
            heat = scene.extras.get(self.key)
            if heat is None or not self.state.visible:
                return []
            rgba = np.zeros((*scene.shape, 4), np.uint8)
            rgba[..., 0], rgba[..., 3] = 255, heat
            return [RGBAPaint(rgba, (("Heat-map", (255, 0, 0)),))]

    vm = ViewModel()
    heat_layer = HeatLayer(vm)
    stack = LayerStack([*(cls(vm) for cls in LAYER_TYPES), heat_layer])
    scene = _scene()
    heat = np.zeros((8, 8), np.uint8)
    heat[7, 7] = 255
    repaint = []
    for signal in heat_layer.watched():
        signal.connect(lambda *_: repaint.append(1))
    rgba, entries = stack.render(
        Scene(scene.shape, scene.truth, scene.prediction, extras={"heat": heat})
    )
    assert tuple(rgba[7, 7]) == (255, 0, 0, 255)
    assert entries[-1] == ("Heat-map", (255, 0, 0)) or ("Heat-map", (255, 0, 0)) in entries
    heat_layer.state.visible = False
    assert repaint == [1]
    rgba, entries = stack.render(
        Scene(scene.shape, scene.truth, scene.prediction, extras={"heat": heat})
    )
    assert rgba[7, 7, 3] == 0 and ("Heat-map", (255, 0, 0)) not in entries
