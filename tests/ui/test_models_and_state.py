"""Pure parts of the UI: table model sorting/filtering, caches, analysis numbers, shortcuts."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import Qt

from pneumoviewer.core.postprocessing import PostprocessParams
from pneumoviewer.ui.analysis import (
    ResultStore,
    image_stats,
    prediction_mask,
    summary_panel_numbers,
)
from pneumoviewer.ui.cache import (
    AnalysisResult,
    LRUCache,
    dequantise_probability,
    quantise_probability,
)
from pneumoviewer.ui.study_model import (
    COL_AGE,
    COL_PROB,
    ID_ROLE,
    StudyFilterProxy,
    StudyRow,
    StudyTableModel,
)


def _row(i: str, *, age: str | None = None, prob=None, truth=None, predicted=None, view="PA"):
    md = SimpleNamespace(patient_age=age, patient_sex="F", view_position=view)
    return StudyRow(
        i,
        Path(f"/x/{i}.dcm"),
        md,
        truth=truth,
        probability=prob,
        analysed=prob is not None,
        predicted=predicted,
    )


def _ids(proxy) -> list[str]:
    return [proxy.data(proxy.index(r, 0), ID_ROLE) for r in range(proxy.rowCount())]


def test_numbers_sort_as_numbers(qapp):
    model, proxy = StudyTableModel(), StudyFilterProxy()
    proxy.setSourceModel(model)
    model.append_rows(
        [
            _row("a", age="9", prob=0.15),
            _row("b", age="100", prob=0.9),
            _row("c", age="10", prob=None),
            _row("d", age="054", prob=0.5),
        ]
    )
    proxy.sort(COL_AGE, Qt.SortOrder.AscendingOrder)
    assert _ids(proxy) == ["a", "c", "d", "b"]  # 9 < 10 < 54 < 100 (text order would differ)
    proxy.sort(COL_PROB, Qt.SortOrder.DescendingOrder)  # triage: most suspicious first
    assert _ids(proxy) == ["b", "d", "a", "c"]  # not analysed last


def test_state_and_text_filters(qapp):
    model, proxy = StudyTableModel(), StudyFilterProxy()
    proxy.setSourceModel(model)
    model.append_rows(
        [
            _row("tp", prob=0.9, truth=True, predicted=True),
            _row("fn", prob=0.1, truth=True, predicted=False),
            _row("fp", prob=0.8, truth=False, predicted=True, view="AP"),
            _row("tn", prob=0.2, truth=False, predicted=False),
            _row("new", truth=None),
        ]
    )
    expected = {
        "all": {"tp", "fn", "fp", "tn", "new"},
        "gt_positive": {"tp", "fn"},
        "pred_positive": {"tp", "fp"},
        "false_negative": {"fn"},
        "false_positive": {"fp"},
        "not_analysed": {"new"},
    }
    for state, ids in expected.items():
        proxy.set_state(state)
        assert set(_ids(proxy)) == ids, state
    proxy.set_state("all")
    proxy.set_text("ap")
    assert _ids(proxy) == ["fp"]
    model.update("tn", predicted=True)  # a row changes state -> the filter follows
    proxy.set_text("")
    proxy.set_state("false_positive")
    assert set(_ids(proxy)) == {"fp", "tn"}


def test_lru_evicts_by_bytes_and_count():
    cache = LRUCache(max_bytes=3000)
    for k in "abcd":
        cache.put(k, np.zeros(1000, np.uint8))
    assert cache.keys() == ["b", "c", "d"] and cache.nbytes == 3000
    cache.get("b")
    cache.put("e", np.zeros(1000, np.uint8))
    assert "c" not in cache and cache.keys() == ["d", "b", "e"]
    small = LRUCache(max_items=2)
    for k in "xyz":
        small.put(k, k)
    assert small.keys() == ["y", "z"]


def test_quantisation_error_below_half_a_step():
    p = np.linspace(0, 1, 10001, dtype=np.float32).reshape(1, -1)
    back = dequantise_probability(quantise_probability(p))
    assert back.dtype == np.float32
    assert np.abs(back - p).max() <= 1 / 510 + 1e-6


def test_result_store_keeps_scalars_after_map_eviction():
    store = ResultStore(max_map_bytes=2 * 16)
    for i in range(3):
        store.add(AnalysisResult(f"i{i}", 0.1 * i, np.full((4, 4), 200, np.uint8)))
    assert not store.has_map("i0") and store.has_map("i2")
    assert "i0" in store and store.get("i0").class_probability == 0.0
    mask = prediction_mask(
        store,
        "i2",
        PostprocessParams(scheme="components", bottom_threshold=0.5, gate_enabled=False),
    )
    assert mask.all()  # 200/255 = 0.78 >= 0.5


def test_image_stats_and_summary_panel_numbers():
    truth = np.zeros((4, 4), bool)
    truth[:2, :2] = True
    pred = np.zeros((4, 4), bool)
    pred[:2, :1] = True
    s = image_stats(pred, truth, class_probability=0.7, decision_threshold=0.5)
    assert s.area == 2 and s.predicted_positive and s.dice == pytest.approx(2 * 2 / (2 + 4))
    empty = image_stats(
        np.zeros((4, 4), bool),
        np.zeros((4, 4), bool),
        class_probability=None,
        decision_threshold=0.5,
    )
    assert empty.dice == 1.0 and not empty.predicted_positive
    records = [
        {"truth": True, "score": 0.9, "positive": True, "dice": 0.6},
        {"truth": True, "score": 0.3, "positive": False, "dice": 0.0},
        {"truth": False, "score": 0.2, "positive": False, "dice": 1.0},
        {"truth": False, "score": 0.4, "positive": True, "dice": 0.0},
        {"truth": None, "score": 0.5, "positive": True, "dice": None},
    ]
    summary = summary_panel_numbers(records)
    assert summary["n_analysed"] == 5 and summary["n_evaluated"] == 4
    assert (summary["tp"], summary["fp"], summary["tn"], summary["fn"]) == (1, 1, 1, 1)
    assert summary["accuracy"] == 0.5 and summary["sensitivity"] == 0.5
    assert summary["auc"] == pytest.approx(0.75)  # pairs (0.9>0.2, 0.9>0.4, 0.3>0.2, 0.3<0.4)
    assert summary["dice_positive"] == pytest.approx(0.3)
    assert summary["kaggle_mean_dice"] == pytest.approx(1.6 / 4)
    unknown = [{"truth": None, "score": 1, "positive": True, "dice": None}]
    assert summary_panel_numbers(unknown) is None
    assert summary_panel_numbers(records[:1])["auc"] is None  # one class: undefined, as in JSON
    # The call is the core decision's: p >= threshold, even with an empty mask.
    s = image_stats(np.zeros((4, 4), bool), truth, class_probability=0.9, decision_threshold=0.5)
    assert s.predicted_positive and s.area == 0 and s.state == "positive, not localised"


def test_shortcut_help_comes_from_the_action_table(qapp):
    from PySide6.QtWidgets import QWidget

    from pneumoviewer.ui.actions import ACTIONS, ShortcutsDialog, build_actions

    parent = QWidget()
    actions = build_actions(parent)
    dialog = ShortcutsDialog(parent)
    listed = {dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())}
    for spec in ACTIONS:
        keys = [a.toString() for a in actions[spec.name].shortcuts()]
        assert len(keys) == len(spec.shortcuts)
        if spec.shortcuts:
            assert " / ".join(spec.shortcuts) in listed
    required = {
        "Up",
        "Down",
        "PgUp",
        "PgDown",
        "A",
        "Shift+A",
        "Esc",
        "C",
        "G",
        "P",
        "D",
        "F",
        "+",
        "-",
        "Ctrl+O",
        "Ctrl+E",
    }
    all_keys = {k for s in ACTIONS for k in s.shortcuts}
    assert required <= all_keys
    parent.deleteLater()


def test_thread_guard_sees_a_running_worker(qapp):
    import threading

    from pneumoviewer.ui.workers import LoaderWorker
    from tests.ui.conftest import leaked_thread_problems

    before = set(threading.enumerate())
    worker = LoaderWorker()
    worker.start()
    try:
        assert any("worker threads still running" in p for p in leaked_thread_problems(before))
    finally:
        worker.stop()
    assert leaked_thread_problems(before) == []
    release = threading.Event()
    stray = threading.Thread(target=release.wait)
    stray.start()
    assert any("Python threads" in p for p in leaked_thread_problems(before))
    release.set()
    stray.join()


def test_training_card_splits_data_and_metrics():
    from pneumoviewer.ui.panels import split_training

    data, metrics = split_training(
        {
            "data": "10 samples",
            "images": 10,
            "classifier_train_accuracy": 1.0,
            "classifier": {"best_epoch": 15, "test": {"accuracy": 0.9, "auc": 0.95, "tp": 5}},
            "segmenter": {"postprocess": {"kaggle_dice": 0.87, "min_area": 0}},
        }
    )
    assert data == ["data: 10 samples", "images: 10"]
    assert metrics == [
        "classifier_train_accuracy: 1.000",
        "classifier test accuracy: 0.900",
        "classifier test auc: 0.950",
        "segmenter postprocess kaggle_dice: 0.870",
    ]
