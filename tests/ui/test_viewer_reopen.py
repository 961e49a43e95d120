"""Reopening an analysed folder: every AI column at once, nothing analysed again (#12)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.ui.conftest import load_model_and_wait, open_and_wait


def _columns(window) -> dict[str, tuple]:
    return {
        r.image_id: (r.analysed, r.probability, r.area, r.dice, r.predicted, r.state)
        for r in window.study_list.model.rows
    }


@pytest.fixture
def folder(tmp_path, samples_dir):
    """A copy of the sample study (its files' identity is then this test's own)."""
    target = tmp_path / "study"
    shutil.copytree(samples_dir, target)
    return target


def _analyse_all(qtbot, window) -> None:
    with qtbot.waitSignal(window.batch_done, timeout=120000):
        window.analyse_all()
    qtbot.waitUntil(lambda: not window.bulk_timer.isActive(), timeout=10000)
    window.analysis.update_summary()


def test_reopen_fills_columns_and_summary_without_analysing(
    qtbot, make_window, folder, tiny_model_dir
):
    first = make_window()
    load_model_and_wait(qtbot, first, tiny_model_dir)
    open_and_wait(qtbot, first, folder)
    _analyse_all(qtbot, first)
    before = _columns(first)
    assert all(v[0] for v in before.values()) and len(before) == 10
    summary = dict(first.summary)
    first.close()
    first.shutdown()

    second = make_window()
    load_model_and_wait(qtbot, second, tiny_model_dir)
    open_and_wait(qtbot, second, folder)
    assert _columns(second) == before  # every column at once, same numbers
    assert second.inference.predictions_run == 0
    assert second.store.disk_reads <= 2  # maps are read only for the image on screen
    second.analysis.update_summary()
    assert second.summary == summary
    # the triage order follows the restored probabilities
    from PySide6.QtCore import Qt

    from pneumoviewer.ui.study_model import COL_PROB

    second.study_list.proxy.sort(COL_PROB, Qt.SortOrder.DescendingOrder)
    probs = [
        second.study_list.model.get(i).probability for i in second.study_list.proxy.image_ids()
    ]
    assert probs == sorted(probs, reverse=True)


def test_other_model_shows_no_stale_results(qtbot, make_window, folder, tiny_model_dir, tmp_path):
    first = make_window()
    load_model_and_wait(qtbot, first, tiny_model_dir)
    open_and_wait(qtbot, first, folder)
    _analyse_all(qtbot, first)
    first.close()
    first.shutdown()

    other = tmp_path / "other_model"
    shutil.copytree(tiny_model_dir, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["description"] = "same weights, other manifest (e.g. new Platt scaling)"
    (other / "manifest.json").write_text(json.dumps(manifest))
    second = make_window()
    second.vm.analysis.auto = False  # so that nothing is analysed behind our back
    load_model_and_wait(qtbot, second, other)
    open_and_wait(qtbot, second, folder)
    assert not any(v[0] for v in _columns(second).values())
    assert len(second.store) == 0


def test_model_loaded_after_the_folder_fills_the_columns(
    qtbot, make_window, folder, tiny_model_dir
):
    first = make_window()
    load_model_and_wait(qtbot, first, tiny_model_dir)
    open_and_wait(qtbot, first, folder)
    _analyse_all(qtbot, first)
    before = _columns(first)
    first.close()
    first.shutdown()

    second = make_window()
    open_and_wait(qtbot, second, folder)
    assert not any(v[0] for v in _columns(second).values())
    load_model_and_wait(qtbot, second, tiny_model_dir)
    assert _columns(second) == before
    assert second.inference.predictions_run == 0
    # the image on screen before its result came back from disk shows that result too
    shown = second.study_list.model.get(second.vm.image.image_id)
    qtbot.waitUntil(lambda: second.vm.analysis.readout.probability is not None, timeout=10000)
    readout = second.vm.analysis.readout
    assert readout.state == shown.state and readout.area == shown.area
    assert readout.probability == pytest.approx(shown.probability)


def test_a_changed_threshold_recomputes_restored_numbers(
    qtbot, make_window, folder, tiny_model_dir
):
    first = make_window()
    load_model_and_wait(qtbot, first, tiny_model_dir)
    open_and_wait(qtbot, first, folder)
    _analyse_all(qtbot, first)
    first.vm.decision.update(scheme="components", min_area=0, gate_enabled=False)
    first.vm.decision.update(bottom_threshold=0.45)
    qtbot.waitUntil(lambda: not first.bulk_timer.isActive(), timeout=10000)
    at_045 = _columns(first)
    first.vm.decision.update(bottom_threshold=0.55)
    qtbot.waitUntil(lambda: not first.bulk_timer.isActive(), timeout=10000)
    first.close()
    first.shutdown()  # the stored numbers are those at 0.55

    second = make_window()
    load_model_and_wait(qtbot, second, tiny_model_dir)
    second.vm.decision.update(scheme="components", min_area=0, gate_enabled=False)
    second.vm.decision.update(bottom_threshold=0.45)
    open_and_wait(qtbot, second, folder)
    qtbot.waitUntil(lambda: not second.bulk_timer.isActive(), timeout=10000)
    assert _columns(second) == at_045  # recomputed from the stored maps, not the 0.55 ones
    assert second.inference.predictions_run == 0


def test_store_location_setting_and_damaged_store_message(make_window, tmp_path):
    from pneumoviewer.ui.settings import make_settings

    settings = make_settings()
    settings.setValue("results/dir", str(tmp_path / "chosen"))
    settings.sync()
    w = make_window()
    assert w.store.disk.path == tmp_path / "chosen" / "results.sqlite"
    w.close()
    w.shutdown()

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.sqlite").write_bytes(b"not a database" * 100)
    settings.setValue("results/dir", str(broken))
    settings.sync()
    w2 = make_window()  # no crash: set aside, rebuilt, said
    assert w2.store.disk is not None and len(w2.store.disk) == 0
    assert "moved to" in w2.notice_label.toolTip()
    assert any(p.name.startswith("results.sqlite.damaged-") for p in broken.iterdir())
