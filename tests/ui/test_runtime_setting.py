"""The viewer's CPU-runtime setting (#11 §1): toolbar combo, reload, settings, environment.

Only ``torch`` and ``torch-bf16`` are loaded here: ONNX Runtime / OpenVINO in this process
crash the training tests later (they run under the ``isolated`` marker elsewhere).
"""

from __future__ import annotations

import importlib.util

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from pneumoviewer.ui import runtime_setting
from pneumoviewer.ui.runtime_setting import (
    INSTALL_HINT,
    describe_runtimes,
    initial_runtime,
    runtime_unavailable,
)
from pneumoviewer.ui.toolbar import EngineChoice
from tests.ui.conftest import load_model_and_wait

NATIVE_BF16 = {"fpu", "avx2", "avx512_bf16"}


@pytest.fixture
def native_bf16(monkeypatch):
    """Pretend the CPU computes bfloat16 natively (viewer's check and the core's)."""
    from pneumoviewer.core.inference import runtimes

    monkeypatch.setattr(runtime_setting, "_cpu_flags", lambda: set(NATIVE_BF16))
    monkeypatch.setattr(runtimes, "bf16_supported", lambda: True)


def _without(monkeypatch, *modules: str) -> None:
    """Make ``modules`` look not installed to the viewer's availability check."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in modules else real(name, *a)
    )


def _entry(combo, value: str) -> tuple[bool, str]:
    i = combo.findData(value)
    assert i >= 0, value
    return combo.model().item(i).isEnabled(), combo.itemData(i, Qt.ItemDataRole.ToolTipRole)


def test_the_choices_are_the_cores():
    from pneumoviewer.core.inference.runtimes import RUNTIME_CHOICES, unavailable_reason

    assert runtime_setting.RUNTIME_CHOICES == RUNTIME_CHOICES
    for name in ("torch", "torch-bf16"):  # the optional ones would be imported by the core
        assert (runtime_unavailable(name) is None) == (unavailable_reason(name) is None), name


def test_unavailable_runtimes_are_listed_disabled_with_how_to_install(make_window, monkeypatch):
    _without(monkeypatch, "openvino")
    monkeypatch.setattr(runtime_setting, "_cpu_flags", lambda: {"fpu", "avx2"})
    window = make_window()
    combo = window.runtime_combo
    assert [combo.itemData(i) for i in range(combo.count())] == list(
        runtime_setting.RUNTIME_CHOICES
    )
    enabled, tip = _entry(combo, "openvino")
    assert not enabled and INSTALL_HINT in tip and "openvino" in tip
    enabled, tip = _entry(combo, "torch-bf16")
    assert not enabled and "bfloat16" in tip
    for name in ("auto", "torch"):
        assert _entry(combo, name)[0], name
    assert window.view_toolbar.widgetForAction(window.view_toolbar.actions()[-1]) is combo


def test_native_bf16_enables_the_bf16_entry(monkeypatch):
    monkeypatch.setattr(runtime_setting, "_cpu_flags", lambda: set(NATIVE_BF16))
    assert runtime_unavailable("torch-bf16") is None
    monkeypatch.setattr(runtime_setting, "_cpu_flags", lambda: {"avx2"})
    assert "bfloat16" in runtime_unavailable("torch-bf16")


def test_start_value_is_the_setting_then_the_environment_then_auto(monkeypatch):
    _without(monkeypatch, "openvino")
    monkeypatch.setenv("PNEUMOVIEWER_RUNTIME", "torch")
    assert initial_runtime(None) == "torch"  # what tests/conftest.py sets
    assert initial_runtime("auto") == "auto"  # the setting wins
    assert initial_runtime("openvino") == "torch"  # no longer installed: the environment's
    assert initial_runtime("no-such-runtime") == "torch"
    monkeypatch.delenv("PNEUMOVIEWER_RUNTIME")
    assert initial_runtime(None) == "auto"


def test_choosing_a_runtime_reloads_the_model_on_it_and_is_remembered(
    qtbot, make_window, tiny_model_dir, native_bf16
):
    window = make_window()
    assert window.runtime_combo.currentData() == "torch"  # $PNEUMOVIEWER_RUNTIME (conftest)
    load_model_and_wait(qtbot, window, tiny_model_dir)
    assert dict(window.model_info.runtimes) == {"classifier": "torch", "segmenter": "torch"}
    assert window.device_label.toolTip() == "Device: cpu · PyTorch"
    with qtbot.waitSignal(window.model_ready, timeout=60000) as ready:
        window.runtime_combo.setCurrentIndex(window.runtime_combo.findData("torch-bf16"))
    info = ready.args[0]
    assert info.runtime_choice == "torch-bf16"
    assert dict(info.runtimes) == {"classifier": "torch-bf16", "segmenter": "torch-bf16"}
    assert window.model_info is info and window.inference.engine.runtime == "torch-bf16"
    assert window.device_label.toolTip() == "Device: cpu · PyTorch bf16"
    assert window.model_panel.values["device"].text() == "cpu · PyTorch bf16"
    assert window.settings.value("runtime") == "torch-bf16"
    # Results of another runtime are kept apart: the store's model key changed.
    assert "torch-bf16" in info.runtime
    owner = QWidget()
    later = EngineChoice(window.settings, owner)  # the next session starts with it
    later.restore("auto")
    assert later.runtime() == "torch-bf16"


def test_a_runtime_chosen_while_the_model_loads_is_the_one_it_ends_on(
    qtbot, make_window, tiny_model_dir, native_bf16
):
    window = make_window()
    with qtbot.waitSignal(
        window.model_ready,
        timeout=60000,
        check_params_cb=lambda info: info.runtime_choice == "torch-bf16",
    ):
        assert window.load_model(tiny_model_dir)
        assert window.vm.analysis.model == "loading"
        window.runtime_combo.setCurrentIndex(window.runtime_combo.findData("torch-bf16"))
    assert window.inference.engine.runtime == "torch-bf16"


def test_a_runtime_that_cannot_run_here_falls_back_with_a_notice(qtbot, tiny_model_dir):
    from pneumoviewer.ui.inference_worker import InferenceWorker

    worker = InferenceWorker()
    notices: list[str] = []
    worker.notice.connect(notices.append)
    worker.start()
    try:
        with qtbot.waitSignal(worker.model_loaded, timeout=60000) as loaded:
            worker.load_model(tiny_model_dir, "cpu", "no-such-runtime")
    finally:
        worker.stop()
    assert loaded.args[0].runtime_choice == "torch"  # $PNEUMOVIEWER_RUNTIME
    assert "Runtime no-such-runtime cannot run here; using torch." in notices


def test_describe_runtimes_names_each_network_when_they_differ():
    assert describe_runtimes("cpu", {}) == "cpu"
    both = {"classifier": "openvino", "segmenter": "openvino"}
    assert describe_runtimes("cpu", both, "auto") == "cpu · OpenVINO (auto)"
    mixed = {"classifier": "openvino", "segmenter": "onnxruntime"}
    assert describe_runtimes("cpu", mixed, "auto") == (
        "cpu · classifier OpenVINO, segmenter ONNX Runtime (auto)"
    )
    assert describe_runtimes("cpu", mixed, "auto", short=True) == (
        "cpu · cls OpenVINO, seg ORT (auto)"
    )
    assert describe_runtimes("cuda", {"classifier": "torch"}, "torch") == "cuda · PyTorch"
