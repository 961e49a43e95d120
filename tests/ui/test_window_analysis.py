"""Analysis with the tiny random model: results, cache, thresholds, stale drops, cancel, export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.ui.conftest import load_model_and_wait, open_and_wait, show_row_and_wait

POSITIVE = "1.2.276.0.7230010.3.1.4.8323329.1314.1517875167.222290"
OTHER = "1.2.276.0.7230010.3.1.4.8323329.1000.1517875165.878027"


@pytest.fixture
def ready(qtbot, window, samples_dir, tiny_model_dir):
    """A window with the sample folder open and the tiny model loaded."""
    open_and_wait(qtbot, window, samples_dir)
    load_model_and_wait(qtbot, window, tiny_model_dir)
    return window


def analyse(qtbot, window, image_id: str) -> None:
    show_row_and_wait(qtbot, window, image_id)
    with qtbot.waitSignal(
        window.result_arrived, timeout=30000, check_params_cb=lambda i: i == image_id
    ):
        window.actions["analyse"].trigger()


def test_model_card_and_demo_banner(ready):
    panel = ready.model_panel
    assert panel.values["name"].text() == ready.model_info.manifest.name
    assert not panel.banner.isHidden() == bool(ready.model_info.manifest.demo)
    assert "Model:" in ready.model_label.text()


def test_analyse_caches_result_and_fills_columns(qtbot, ready, sample_csv):
    analyse(qtbot, ready, POSITIVE)
    result = ready.store.get(POSITIVE)
    assert result.prob_u8.dtype == np.uint8
    full = ready.store.float_map(POSITIVE)
    assert full.shape == (1024, 1024)
    row = ready.study_list.model.get(POSITIVE)
    assert row.analysed and row.probability == pytest.approx(result.class_probability)
    from pneumoviewer.core.decision import decide

    expected = decide(
        class_probability=result.class_probability,
        prob_map=full,
        params=ready.vm.decision.params(),
        decision_threshold=ready.analysis.decision_threshold,
    )
    assert row.area == expected.area and row.state == str(expected.state)
    ready.vm.decision.update(gate_enabled=False, scheme="components", min_area=0)
    assert row.area == int((full >= ready.controls.threshold).sum()) > 0
    from pneumoviewer.core.ground_truth import read_rle_csv
    from pneumoviewer.core.metrics import dice

    truth = read_rle_csv(sample_csv).mask(POSITIVE, full.shape)
    assert row.dice == pytest.approx(dice(full >= ready.controls.threshold, truth))
    assert ready.controls.prob_label.text() == f"{result.class_probability:.3f}"
    n = ready.results_received
    show_row_and_wait(qtbot, ready, OTHER)
    show_row_and_wait(qtbot, ready, POSITIVE)  # back: shown from the cache, no new run
    assert ready.results_received == n
    assert ready.controls.prob_label.text() == f"{result.class_probability:.3f}"
    ready.actions["show_truth"].setChecked(False)
    drawn = (ready.canvas.overlay[..., 3] > 0).sum()
    assert drawn == row.area


def test_threshold_slider_changes_area_monotonically(qtbot, ready):
    analyse(qtbot, ready, POSITIVE)
    ready.actions["show_truth"].setChecked(False)
    ready.vm.decision.update(gate_enabled=False, scheme="components", min_area=0)
    areas = []
    for t in np.linspace(0.05, 0.95, 10):
        ready.controls.set_threshold(float(t))
        row = ready.study_list.model.get(POSITIVE)
        assert (ready.canvas.overlay[..., 3] > 0).sum() == row.area
        areas.append(row.area)
    assert all(a >= b for a, b in zip(areas, areas[1:], strict=False))
    assert areas[0] > areas[-1]
    before = ready.study_list.model.get(POSITIVE).area
    ready.controls.min_area_spin.setValue(1_000_000)  # removes every component
    assert ready.study_list.model.get(POSITIVE).area == 0 < before or before == 0


def test_navigating_fast_drops_stale_requests(qtbot, ready):
    ready.controls.auto_check.setChecked(True)
    ids = ready.study_list.proxy.image_ids()
    ready.pixel_cache.clear()
    served_before = ready.loader.served
    for _ in ids[1:]:
        ready.actions["next_image"].trigger()  # like holding the down arrow
    last = ids[-1]
    assert ready.current_id == last
    qtbot.waitUntil(
        lambda: (
            ready.current is not None
            and ready.current.image_id == last
            and ready.store.has_map(last)
        ),
        timeout=30000,
    )
    assert ready.inference.predictions_run <= 5, "a backlog of analyses was run"
    assert ready.loader.served - served_before <= 5
    result = ready.store.get(last)
    assert ready.controls.prob_label.text() == f"{result.class_probability:.3f}"
    assert ready.current.image_id == ready.current_id == last


def test_analyse_all_then_cancel(qtbot, ready):
    with qtbot.waitSignal(ready.batch_done, timeout=60000) as done:
        ready.actions["analyse_all"].trigger()
        qtbot.waitUntil(lambda: ready.results_received >= 1, timeout=30000)
        ready.actions["cancel"].trigger()
    finished, total, cancelled = done.args
    assert cancelled and total == 10 and finished < total
    assert len(ready.store) < 10
    assert not ready.inference.busy()


def test_analyse_all_fills_summary_that_follows_threshold(qtbot, ready):
    with qtbot.waitSignal(ready.batch_done, timeout=90000):
        ready.actions["analyse_all"].trigger()
    assert len(ready.store) == 10
    qtbot.waitUntil(
        lambda: ready.summary is not None and ready.summary["n_evaluated"] == 10, timeout=5000
    )
    first = dict(ready.summary)
    with qtbot.waitSignal(ready.summary_updated, timeout=5000):
        ready.controls.set_threshold(0.999)
    qtbot.waitUntil(lambda: not ready.bulk_timer.isActive(), timeout=5000)
    with qtbot.waitSignal(ready.summary_updated, timeout=5000):
        ready.schedule_summary()
    areas = [r.area for r in ready.study_list.model.rows]
    assert all(a is not None for a in areas)
    assert ready.summary != first or sum(areas) == 0
    ready.study_list.triage()
    probs = [ready.study_list.model.get(i).probability for i in ready.study_list.proxy.image_ids()]
    assert probs == sorted(probs, reverse=True)


def test_export_png_with_overlay_colours_and_provenance(qtbot, ready, tmp_path, monkeypatch):
    analyse(qtbot, ready, POSITIVE)
    target = tmp_path / "out.png"
    monkeypatch.setattr(ready.exporter, "ask_save_path", lambda suggested: target)
    asked = []
    monkeypatch.setattr(
        ready.exporter, "confirm_overwrite", lambda paths: asked.append(paths) or None
    )
    with qtbot.waitSignal(ready.export_done, timeout=30000) as done:
        ready.actions["export_png"].trigger()
    assert done.args[0] == 1 and target.is_file()
    img = Image.open(target)
    assert img.size == (1024, 1024) or img.size[0] >= 1024
    text = img.text
    # the chunk keys of core.annotation (the same in predict's PNGs)
    assert text["ImageId"] == POSITIVE
    post = json.loads(text["Post-processing"])
    assert post["bottom_threshold"] == pytest.approx(ready.controls.threshold)
    assert text["Decision"] == ready.vm.analysis.readout.state
    assert text["Model"] == ready.model_info.manifest.name
    rgb = np.asarray(img.convert("RGB")).reshape(-1, 3)
    colours = {tuple(c) for c in np.unique(rgb, axis=0)}
    assert ready.truth_color in colours and ready.pred_color in colours
    stamp = target.stat().st_mtime_ns
    ready.actions["export_png"].trigger()  # exists: asked, cancelled, untouched
    assert asked and asked[0] == [target]
    assert target.stat().st_mtime_ns == stamp and ready.export_worker is None


def test_bad_model_dir_is_a_message_naming_it(qtbot, window, tmp_path):
    bad = tmp_path / "not_a_model"
    bad.mkdir()
    assert not window.load_model(bad)
    assert window.errors and str(bad) in window.errors[0]
    assert window.model_info is None


def test_export_all_skips_existing_files_when_told(qtbot, ready, tmp_path, monkeypatch):
    out = tmp_path / "all"
    out.mkdir()
    ids = ready.study_list.proxy.image_ids()
    existing = out / f"{ids[0]}.png"
    existing.write_bytes(b"keep me")
    monkeypatch.setattr(ready.exporter, "ask_export_folder", lambda: out)
    monkeypatch.setattr(ready.exporter, "confirm_overwrite", lambda paths: False)  # "No": skip them
    ready.study_list.state_combo.setCurrentIndex(1)  # ground truth positive: 5 rows
    assert len(ready.study_list.proxy.image_ids()) == 5
    with qtbot.waitSignal(ready.export_done, timeout=60000) as done:
        ready.actions["export_all"].trigger()
    written, total, cancelled = done.args
    listed = set(ready.study_list.proxy.image_ids())
    expected = {f"{i}.png" for i in listed} - {existing.name}
    assert not cancelled and written == total == len(expected)
    assert {p.name for p in out.glob("*.png")} == expected | {existing.name}
    assert existing.read_bytes() == b"keep me"


def test_cuda_request_without_cuda_falls_back_with_a_visible_notice(
    qtbot, window, samples_dir, tiny_model_dir
):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present: nothing to fall back from")
    window.device_combo.setCurrentIndex(window.device_combo.findData("cuda"))
    open_and_wait(qtbot, window, samples_dir)
    load_model_and_wait(qtbot, window, tiny_model_dir)
    assert window.model_info.device == "cpu"
    assert not window.notice_label.isHidden()
    assert "CPU" in window.notice_label.toolTip()
    assert "cpu" in window.device_label.text()
    assert window.settings.value("device") == "cuda"  # the choice is remembered


def test_legend_gains_the_overlap_colour_actually_drawn(qtbot, ready):
    analyse(qtbot, ready, POSITIVE)
    ready.vm.decision.update(gate_enabled=False, scheme="components", min_area=0)
    ready.controls.set_threshold(0.0)  # clamped to 0.01: prediction almost everywhere
    assert ready.controls.threshold == 0.01
    li = ready.current
    assert "Overlap" in ready.canvas.legend.text()
    inside = np.argwhere(li.truth)[0]
    r, g, b = ready.canvas.overlay[inside[0], inside[1], :3]
    assert f"rgb({r}, {g}, {b})" in ready.canvas.legend.text()


def test_in_place_redraw_matches_a_full_compose_after_every_change(qtbot, ready):
    """The slider path recomposes only the box that can change, in place: after threshold
    steps, layer toggles, the difference view and outlines, the overlay on screen and its
    legend are exactly what composing the whole stack gives."""
    from pneumoviewer.core.overlay import compose_with_legend

    analyse(qtbot, ready, POSITIVE)
    render, canvas = ready.render, ready.canvas
    ready.vm.decision.update(gate_enabled=False, scheme="components", min_area=0)
    legends = []
    shown = canvas.set_legend
    canvas.set_legend = lambda entries, note="": (legends.append(entries), shown(entries, note))

    def check():
        li = ready.vm.image.loaded
        paints = render.layers.paints(render.scene(li, render.prediction))
        rgba, entries = compose_with_legend(li.image.pixels.shape, paints)
        assert np.array_equal(canvas.overlay, rgba)
        assert legends[-1] == entries
        r0, r1, c0, c1 = canvas.overlay_item.touched or (0, 0, 0, 0)
        outside = canvas.overlay.copy()
        outside[r0:r1, c0:c1] = 0
        assert not outside.any()  # transparent outside the recorded box

    first = canvas.overlay
    for t in (0.9, 0.05, 0.5, 0.95, 0.2):
        ready.controls.set_threshold(t)
        check()
    assert canvas.overlay is first  # redrawn in place
    ready.actions["show_truth"].setChecked(False)
    check()
    ready.actions["show_truth"].setChecked(True)
    ready.vm.overlay.difference = True
    check()
    ready.vm.overlay.difference = False
    ready.vm.overlay.outline = True
    ready.controls.set_threshold(0.4)
    check()
