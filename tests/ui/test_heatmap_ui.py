"""The heat-map layer (#10): H computes Grad-CAM on the worker, colour map, opacity, export."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from pneumoviewer.ui.actions import shortcut_rows
from pneumoviewer.ui.layers.heatmap import COLORMAPS, LEGEND_NAME, quantise_heatmap
from tests.ui.conftest import load_model_and_wait, open_and_wait, show_row_and_wait

NEGATIVE = "1.2.276.0.7230010.3.1.4.8323329.1000.1517875165.878027"  # ground truth empty
OTHER = "1.2.276.0.7230010.3.1.4.8323329.4904.1517875185.355709"


@pytest.fixture
def one_thread():
    """One torch thread (a fast, deterministic tiny model on a shared CPU)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cam_model_dir(tmp_path_factory) -> Path:
    """A tiny model whose Grad-CAM is not empty on the samples (seed 0's is all zero)."""
    from tests.tiny_models import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny_cam_model"), seed=1)


@pytest.fixture
def ready(qtbot, window, samples_dir, cam_model_dir, one_thread):
    """The samples open on a ground-truth-negative image, the tiny model loaded, no masks."""
    window.vm.analysis.auto = False
    window.vm.overlay.show_prediction = False
    open_and_wait(qtbot, window, samples_dir)
    load_model_and_wait(qtbot, window, cam_model_dir)
    show_row_and_wait(qtbot, window, NEGATIVE)
    return window


def _show_heatmap(qtbot, window, image_id: str):
    with qtbot.waitSignal(
        window.heatmaps.heatmap_ready, timeout=60000, check_params_cb=lambda i: i == image_id
    ):
        if not window.actions["heatmap"].isChecked():
            window.actions["heatmap"].trigger()  # H
    return window.heatmaps.cache.get(image_id)


def test_h_computes_the_heatmap_on_the_worker_and_shows_it(
    qtbot, ready, cam_model_dir, monkeypatch
):
    window = ready
    assert ("H", "Heat-map (Grad-CAM) — " + window.actions["heatmap"].statusTip()) in (
        shortcut_rows()
    )  # Help lists it
    threads = []
    engine = window.inference.engine
    real = engine.heatmap

    def spy(pixels, *, padding=None):
        threads.append(threading.current_thread())
        return real(pixels, padding=padding)

    monkeypatch.setattr(engine, "heatmap", spy)
    assert not (window.canvas.overlay[..., 3] > 0).any()  # nothing drawn before
    cam = _show_heatmap(qtbot, window, NEGATIVE)
    assert threads and threads[0] is not threading.main_thread()  # not on the GUI thread
    assert window.heatmaps.layer.state.visible

    from pneumoviewer.core.inference.engine import InferenceEngine

    image = window.current.image
    reference = InferenceEngine(cam_model_dir, device="cpu").heatmap(
        image.pixels, padding=image.padding
    )
    assert cam.shape == image.pixels.shape == (1024, 1024)
    assert np.abs(cam.astype(int) - quantise_heatmap(reference).astype(int)).max() <= 1
    overlay = window.canvas.overlay
    hot = np.unravel_index(int(np.argmax(cam)), cam.shape)
    alpha = np.round(np.arange(256) * 0.5).astype(np.uint8)
    assert overlay[hot][3] == alpha[cam[hot]] > 0  # opacity 0.5 of the hottest pixel
    np.testing.assert_array_equal(overlay[..., 3], alpha[cam])
    np.testing.assert_array_equal(overlay[hot][:3], COLORMAPS["jet"][cam[hot]])
    assert LEGEND_NAME in window.canvas.legend.text()

    window.heatmaps.state.colormap = "inferno"  # the controls' combo box is bound to it
    assert window.findChild(type(window.device_combo), "heatmapColormap").currentText() == (
        "inferno"
    )
    np.testing.assert_array_equal(window.canvas.overlay[hot][:3], COLORMAPS["inferno"][cam[hot]])
    from PySide6.QtWidgets import QSlider

    slider = window.findChild(QSlider, "heatmapOpacity")
    slider.setValue(100)
    assert window.heatmaps.state.opacity == 1.0
    assert window.canvas.overlay[hot][3] == cam[hot]
    window.actions["heatmap"].trigger()  # H again: hidden
    assert not window.heatmaps.state.visible
    assert not (window.canvas.overlay[..., 3] > 0).any()
    assert len(threads) == 1  # shown again from the cache, not recomputed
    window.actions["heatmap"].trigger()
    assert (window.canvas.overlay[..., 3] > 0).any() and len(threads) == 1


def test_next_image_with_the_layer_on_gets_its_own_map(qtbot, ready):
    window = ready
    first = _show_heatmap(qtbot, window, NEGATIVE)
    with qtbot.waitSignal(
        window.heatmaps.heatmap_ready, timeout=60000, check_params_cb=lambda i: i == OTHER
    ):
        show_row_and_wait(qtbot, window, OTHER)
    second = window.heatmaps.cache.get(OTHER)
    assert first.shape == second.shape == (1024, 1024) and second.max() == 255
    assert window.heatmaps.seconds and all(s > 0 for s in window.heatmaps.seconds)


def test_heatmaps_for_all_listed(qtbot, ready):
    window = ready
    ids = window.study_list.proxy.image_ids()
    arrived: set[str] = set()
    window.heatmaps.heatmap_ready.connect(arrived.add)
    assert window.heatmaps.request_all() == len(ids)
    qtbot.waitUntil(lambda: arrived == set(ids), timeout=120000)
    assert all(window.heatmaps.cache.get(i).shape == (1024, 1024) for i in ids)
    assert window.heatmaps.request_all() == 0  # nothing twice


def test_png_export_carries_the_heatmap_when_asked(qtbot, ready, tmp_path, monkeypatch):
    import pneumoviewer.core.export as core_export

    window = ready
    _show_heatmap(qtbot, window, NEGATIVE)
    legends = []
    real = core_export.export_annotated_png

    def spy(target, base, *, paints, annotation, overwrite=False):
        legends.append([name for name, _ in annotation.legend])
        return real(target, base, paints=paints, annotation=annotation, overwrite=overwrite)

    monkeypatch.setattr(core_export, "export_annotated_png", spy)
    window.heatmaps.state.colormap = "hot"
    for in_export, target in ((True, tmp_path / "with.png"), (False, tmp_path / "without.png")):
        window.heatmaps.state.in_export = in_export
        monkeypatch.setattr(window.exporter, "ask_save_path", lambda s, t=target: t)
        with qtbot.waitSignal(window.export_done, timeout=30000) as done:
            window.exporter.export_current()
        assert done.args == [1, 1, False] and target.exists()
    assert LEGEND_NAME in legends[0] and LEGEND_NAME not in legends[1]
    from PIL import Image

    with_map = np.asarray(Image.open(tmp_path / "with.png").convert("RGB")).astype(int)
    without = np.asarray(Image.open(tmp_path / "without.png").convert("RGB")).astype(int)
    assert with_map.shape == without.shape
    assert (np.abs(with_map - without).sum(axis=2) > 0).sum() > 1000  # the map is drawn


def test_heatmap_without_a_model_says_so(qtbot, window, samples_dir):
    open_and_wait(qtbot, window, samples_dir)
    window.actions["heatmap"].trigger()
    assert window.heatmaps.state.visible and len(window.heatmaps.cache) == 0
    assert window.status.bar.toolTip() == "Heat-map: no model loaded (Model → Load…)"


def test_export_frame_is_none_when_hidden(qtbot, ready, samples_dir):
    window = ready
    _show_heatmap(qtbot, window, NEGATIVE)
    frame = window.heatmaps.export_frame(NEGATIVE)
    assert frame.colormap == "jet" and frame.opacity == 0.5 and frame.cam.dtype == np.uint8
    window.heatmaps.state.visible = False
    assert window.heatmaps.export_frame(NEGATIVE) is None
    assert window.heatmaps.export_frame("unknown") is None
    open_and_wait(qtbot, window, samples_dir)  # a folder (re)opened: the maps are forgotten
    assert len(window.heatmaps.cache) == 0 and not window.heatmaps.requested
