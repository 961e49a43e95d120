"""AI by itself (#8 §2) and the small defects of the controls, with the tiny random model."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tests.ui.conftest import load_model_and_wait, open_and_wait, show_row_and_wait


def test_image_on_screen_is_analysed_without_a_key_press(
    qtbot, window, samples_dir, tiny_model_dir
):
    assert window.vm.analysis.auto and window.controls.auto_check.isChecked()  # on by default
    open_and_wait(qtbot, window, samples_dir)
    first = window.current_id
    with qtbot.waitSignal(
        window.result_arrived, timeout=60000, check_params_cb=lambda i: i == first
    ):
        assert window.load_model(tiny_model_dir)
    assert window.vm.analysis.readout.probability is not None
    assert window.controls.prob_label.text() == f"{window.vm.analysis.readout.probability:.3f}"
    other = window.study_list.proxy.image_ids()[3]
    with qtbot.waitSignal(
        window.result_arrived, timeout=30000, check_params_cb=lambda i: i == other
    ):
        assert window.study_list.select_id(other)  # a new image: analysed by itself too
    assert window.inference.predictions_run == 2


def test_request_while_the_model_loads_is_queued_not_dropped(
    qtbot, window, samples_dir, tiny_model_dir
):
    window.vm.analysis.auto = False
    open_and_wait(qtbot, window, samples_dir)
    first = window.current_id
    with qtbot.waitSignal(
        window.result_arrived, timeout=60000, check_params_cb=lambda i: i == first
    ):
        assert window.load_model(tiny_model_dir)
        assert window.vm.analysis.model == "loading"
        window.actions["analyse"].trigger()  # A while loading
        assert window.vm.analysis.pending == first
    assert window.store.has_map(first) and window.vm.analysis.pending is None


def test_image_on_screen_jumps_to_the_front_of_a_batch(qtbot, window, samples_dir, tiny_model_dir):
    window.vm.analysis.auto = False
    open_and_wait(qtbot, window, samples_dir)
    load_model_and_wait(qtbot, window, tiny_model_dir)
    ids = window.study_list.proxy.image_ids()
    order: list[str] = []
    window.result_arrived.connect(order.append)
    last = ids[-1]
    with qtbot.waitSignal(window.batch_done, timeout=120000) as done:
        window.analysis.analyse_all(ids)  # the last listed image is queued last
        window.vm.analysis.auto = True
        show_row_and_wait(qtbot, window, last)  # ... but it is on screen now
    assert done.args == [len(ids), len(ids), False]
    assert order.index(last) <= 2  # analysed next, not tenth
    assert sorted(order) == sorted(ids)  # and not twice
    assert window.inference.predictions_run == len(ids)


def test_threshold_label_is_live_and_never_zero(qtbot, window):
    slider = window.controls.threshold_slider
    window.controls.set_threshold(0.30)
    assert window.controls.threshold_title.text() == "Mask threshold 0.30"
    inner = slider._slider  # the slider itself (the label box is a spin box)
    inner.setFocus()
    for _ in range(3):
        qtbot.keyClick(inner, Qt.Key.Key_Right)
    assert window.vm.decision.bottom_threshold == pytest.approx(0.33)
    assert window.controls.threshold_title.text() == "Mask threshold 0.33"
    for _ in range(50):
        window.actions["threshold_down"].trigger()
    assert window.controls.threshold == 0.01
    assert slider.value() == pytest.approx(0.01)
    assert window.controls.threshold_title.text() == "Mask threshold 0.01"
    window.controls.set_threshold(0.0)
    assert window.vm.decision.bottom_threshold == 0.01


def test_disagreement_state_is_shown_in_list_and_read_out(qapp, window):
    from types import SimpleNamespace

    from pneumoviewer.ui.study_model import COL_AGE, COL_CALL, StudyRow
    from pneumoviewer.ui.view_model import Readout

    model = window.study_list.model
    md = SimpleNamespace(patient_age="041Y", patient_sex="M", view_position="PA")
    model.append_rows(
        [StudyRow("x", Path("/x.dcm"), md, analysed=True, probability=0.9, area=0,
                  predicted=True, state="positive, not localised")]
    )  # fmt: skip
    assert model.data(model.index(0, COL_CALL)) == "positive, not localised"
    assert model.data(model.index(0, COL_AGE)) == "41 y"
    window.vm.analysis.readout = Readout(
        state="positive, not localised", probability=0.9, decision_threshold=0.5, area=0
    )
    assert "positive, not localised" in window.controls.decision_label.text()
