"""The input-quality gate in the viewer (#10): column, filter, banner, "not assessed", override."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pneumoviewer.core.dicom_io import load_xray
from pneumoviewer.ui.study_model import COL_CALL, COL_PROB, COL_QUALITY
from tests.core.dicom_factory import make_image, write
from tests.ui.conftest import load_model_and_wait, open_and_wait, show_row_and_wait

ADULT_A = "1.2.276.0.7230010.3.1.4.8323329.4904.1517875185.355709"  # adult PA
ADULT_B = "1.2.276.0.7230010.3.1.4.8323329.4982.1517875185.837576"
LATERAL = "1.2.826.0.1.3680043.10.901.1"
CHILD = "1.2.826.0.1.3680043.10.901.2"
NOISE = "1.2.826.0.1.3680043.10.901.3"
LATERAL_TEXT = "lateral view (View Position LL); the model reads PA, AP"


@pytest.fixture
def gated_folder(tmp_path: Path, samples_dir: Path) -> Path:
    """Two adult samples + a tagged lateral, a tagged age 8 and a noise file; all truth -1."""
    folder = tmp_path / "gated"
    folder.mkdir()
    for image_id in (ADULT_A, ADULT_B):
        shutil.copy(samples_dir / f"{image_id}.dcm", folder)
    chest = load_xray(samples_dir / f"{ADULT_A}.dcm").pixels
    noise = np.random.default_rng(0).integers(0, 256, (1024, 1024), dtype=np.uint8)
    for uid, pixels, tags in (
        (LATERAL, chest, {"ViewPosition": "LL"}),
        (CHILD, chest, {"PatientAge": "008Y"}),
        (NOISE, noise, {}),
    ):
        ds = make_image(np.ascontiguousarray(pixels), sop_uid=uid, pixel_spacing=(0.14, 0.14))
        for key, value in tags.items():
            setattr(ds, key, value)
        write(ds, folder / f"{uid}.dcm")
    ids = (ADULT_A, ADULT_B, LATERAL, CHILD, NOISE)
    (folder / "train-rle.csv").write_text("".join(f"{i},-1\n" for i in ids), encoding="utf-8")
    return folder


def _text(window, image_id: str, col: int) -> str:
    model = window.study_list.model
    return model.data(model.index(model.row_of(image_id), col))


def _analyse_all(qtbot, window, folder: Path, tiny_model_dir: Path) -> None:
    window.vm.analysis.auto = False
    open_and_wait(qtbot, window, folder)
    load_model_and_wait(qtbot, window, tiny_model_dir)
    ids = window.study_list.proxy.image_ids()
    with qtbot.waitSignal(window.batch_done, timeout=120000) as done:
        window.analysis.analyse_all(ids)
    assert done.args == [5, 5, False]
    qtbot.waitUntil(lambda: window.summary is not None and window.summary["n_refused"] == 2)


def test_header_rules_at_scan_time(qtbot, window, gated_folder):
    open_and_wait(qtbot, window, gated_folder)
    rows = {r.image_id: r for r in window.study_list.model.rows}
    assert rows[LATERAL].quality.refused and rows[LATERAL].quality.codes == ("lateral",)
    assert _text(window, LATERAL, COL_QUALITY) == f"refused: {LATERAL_TEXT}"
    assert str(rows[CHILD].quality.level) == "warn" and rows[CHILD].quality.codes == ("age",)
    assert str(rows[ADULT_A].quality.level) == "ok"
    # the noise file's header is fine: its pixels are judged when loaded (or analysed)
    assert str(rows[NOISE].quality.level) == "ok"
    show_row_and_wait(qtbot, window, NOISE)
    qtbot.waitUntil(lambda: rows[NOISE].quality.refused)
    assert rows[NOISE].quality.codes == ("noise",)
    assert window.quality.banner.isVisible() and window.quality.banner.level == "refused"
    assert window.quality.banner.label.text().startswith("Not assessed: ")
    show_row_and_wait(qtbot, window, CHILD)
    assert window.quality.banner.isVisible() and window.quality.banner.level == "warn"
    assert window.quality.banner.label.text() == (
        "Quality warning: patient is 8 y; the model is meant for 18 y and older"
    )
    show_row_and_wait(qtbot, window, ADULT_A)
    assert not window.quality.banner.isVisible()
    proxy = window.study_list.proxy
    proxy.set_state("quality_refused")
    assert set(proxy.image_ids()) == {LATERAL, NOISE}
    proxy.set_state("quality_flagged")
    assert set(proxy.image_ids()) == {LATERAL, NOISE, CHILD}


def test_refused_images_are_not_assessed_and_left_out_of_the_summary(
    qtbot, window, gated_folder, tiny_model_dir
):
    _analyse_all(qtbot, window, gated_folder, tiny_model_dir)
    model = window.study_list.model
    # the batch judged the noise file's pixels in the worker (never shown on screen)
    assert model.get(NOISE).quality.codes == ("noise", "ood-skipped")  # tiny model: no OOD
    assert _text(window, LATERAL, COL_CALL) == f"not assessed: {LATERAL_TEXT}"
    assert _text(window, NOISE, COL_CALL).startswith("not assessed: ")
    assert "looks like noise" in _text(window, NOISE, COL_CALL)
    for image_id in (LATERAL, NOISE):
        assert _text(window, image_id, COL_PROB) == ""  # no number, no call
        assert model.get(image_id).predicted_positive is None
    for image_id in (ADULT_A, ADULT_B, CHILD):
        assert _text(window, image_id, COL_CALL) == model.get(image_id).state
        assert not _text(window, image_id, COL_CALL).startswith("not assessed")
        assert _text(window, image_id, COL_PROB) == f"{model.get(image_id).probability:.3f}"
    s = window.summary
    assert (s["n_refused"], s["n_analysed"], s["n_evaluated"]) == (2, 3, 3)
    assert s["tp"] + s["fp"] + s["tn"] + s["fn"] == 3
    assert window.summary_panel.values["counts"].toolTip() == (
        "3 evaluated of 3 analysed (0 positive); 2 not assessed (quality)"
    )

    show_row_and_wait(qtbot, window, LATERAL)
    qtbot.waitUntil(lambda: window.vm.analysis.readout.state != "not analysed")
    readout = window.vm.analysis.readout
    assert readout.state == f"not assessed: {LATERAL_TEXT}"
    assert readout.probability is None and readout.area is None
    assert window.controls.prob_label.text() == "—"
    assert window.controls.decision_label.text() == (
        f'<span style="color:#ef5350; font-weight:700">not assessed: {LATERAL_TEXT}</span>'
    )
    decision = window.analysis.decision(LATERAL)
    assert str(decision.state) == "not assessed" and decision.mask is None
    assert not (window.canvas.overlay[..., 3] > 0).any()  # no AI mask drawn


def test_override_brings_the_ai_answer_back(qtbot, window, gated_folder, tiny_model_dir):
    _analyse_all(qtbot, window, gated_folder, tiny_model_dir)
    show_row_and_wait(qtbot, window, LATERAL)
    qtbot.waitUntil(lambda: window.vm.analysis.readout.state.startswith("not assessed"))
    action = window.actions["quality_override"]
    assert action.isEnabled() and not action.isChecked()
    banner = window.quality.banner
    assert banner.button.isVisible() and banner.button.text() == "Assess anyway"

    with qtbot.waitSignal(window.quality.quality_changed, timeout=5000):
        banner.button.click()
    row = window.study_list.model.get(LATERAL)
    p = window.store.scalars[LATERAL].class_probability
    readout = window.vm.analysis.readout
    assert not row.withheld and row.quality_override
    assert readout.state in ("positive", "negative") and readout.probability == pytest.approx(p)
    assert _text(window, LATERAL, COL_CALL) == readout.state
    assert _text(window, LATERAL, COL_PROB) == f"{row.probability:.3f}"
    assert _text(window, LATERAL, COL_QUALITY) == f"override (refused: {LATERAL_TEXT})"
    assert banner.level == "override" and banner.button.text() == "Withdraw override"
    assert action.isChecked()
    assert window.quality.overrides[LATERAL].reasons == LATERAL_TEXT  # recorded
    qtbot.waitUntil(lambda: window.summary["n_refused"] == 1)
    assert window.summary["n_evaluated"] == 4

    action.trigger()  # withdraw: not assessed again
    assert row.withheld and LATERAL not in window.quality.overrides
    assert window.vm.analysis.readout.state == f"not assessed: {LATERAL_TEXT}"
    qtbot.waitUntil(lambda: window.summary["n_refused"] == 2)


def test_export_says_not_assessed_and_names_an_override(
    qtbot, window, gated_folder, tiny_model_dir, tmp_path, monkeypatch
):
    import pneumoviewer.core.export as core_export

    _analyse_all(qtbot, window, gated_folder, tiny_model_dir)
    written = {}
    real = core_export.export_annotated_png

    def spy(target, base, *, paints, annotation, overwrite=False):
        written[Path(target).stem] = annotation
        return real(target, base, paints=paints, annotation=annotation, overwrite=overwrite)

    monkeypatch.setattr(core_export, "export_annotated_png", spy)
    show_row_and_wait(qtbot, window, LATERAL)
    window.quality.set_override(True)
    out = tmp_path / "png"
    monkeypatch.setattr(window.exporter, "ask_export_folder", lambda: out)
    out.mkdir()
    with qtbot.waitSignal(window.export_done, timeout=60000) as done:
        window.exporter.export_all()
    assert done.args == [5, 5, False]
    assert written[NOISE].lines[0].startswith("AI: not assessed: ")
    assert "looks like noise" in written[NOISE].lines[0]
    lateral = "\n".join(written[LATERAL].lines)
    assert "not assessed" not in lateral
    assert f"refused ({LATERAL_TEXT}), assessed at the reader's request" in lateral
    assert "not assessed" not in "\n".join(written[ADULT_A].lines)
    assert "Input quality: warn:" in "\n".join(written[CHILD].lines)


def test_reopened_folder_keeps_a_pixel_refusal(qtbot, make_window, gated_folder, tiny_model_dir):
    first = make_window()
    _analyse_all(qtbot, first, gated_folder, tiny_model_dir)
    qtbot.waitUntil(lambda: not first.bulk_timer.isActive(), timeout=10000)
    assert first.study_list.model.get(NOISE).state == "not assessed"  # what the store keeps
    first.close()
    first.shutdown()

    second = make_window()
    second.vm.analysis.auto = False
    load_model_and_wait(qtbot, second, tiny_model_dir)
    open_and_wait(qtbot, second, gated_folder)  # results restored, nothing analysed
    assert second.inference.predictions_run == 0
    noise = second.study_list.model.get(NOISE)
    assert noise.analysed and noise.withheld and noise.quality.codes == ("restored",)
    assert _text(second, NOISE, COL_CALL) == (
        "not assessed: refused when last analysed (show it for the reason)"
    )
    assert _text(second, NOISE, COL_PROB) == ""
    second.analysis.update_summary()
    assert second.summary["n_refused"] == 2
    show_row_and_wait(qtbot, second, NOISE)  # the pixels say why again
    qtbot.waitUntil(lambda: noise.quality.codes == ("noise",))
    assert noise.withheld and "looks like noise" in _text(second, NOISE, COL_CALL)
