"""The viewer with messy data (#7 §4): bad ground-truth line and row, damaged duplicate."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from pneumoviewer.core.dicom_io import load_xray
from tests.ui.conftest import open_and_wait, show_row_and_wait

POSITIVE = "1.2.276.0.7230010.3.1.4.8323329.1314.1517875167.222290"
NEGATIVE = "1.2.276.0.7230010.3.1.4.8323329.1000.1517875165.878027"
DUPLICATED = "1.2.276.0.7230010.3.1.4.8323329.10000.1517875220.938530"


def _damage_jpeg_start(data: bytes) -> bytes:
    start = data.index(b"\xff\xd8\xff", data.index(b"\xe0\x7f\x10\x00"))
    return data[:start] + b"\x00\x00\x00" + data[start + 3 :]


def _problems(window) -> list[tuple[str, str]]:
    t = window.problems.table
    return [(t.item(r, 0).text(), t.item(r, 1).text()) for r in range(t.rowCount())]


def test_bad_truth_row_and_line_and_damaged_duplicate(
    qtbot, window, samples_dir, sample_csv, tmp_path
):
    folder = tmp_path / "messy"
    folder.mkdir()
    for image_id in (POSITIVE, NEGATIVE):
        shutil.copy(samples_dir / f"{image_id}.dcm", folder)
    data = (samples_dir / f"{DUPLICATED}.dcm").read_bytes()
    (folder / "a_damaged_copy.dcm").write_bytes(_damage_jpeg_start(data))  # listed first
    (folder / "b_good_copy.dcm").write_bytes(data)
    lines = sample_csv.read_text(encoding="utf-8-sig").splitlines()
    kept = [ln for ln in lines if not ln.startswith(POSITIVE)]
    kept += [f"{POSITIVE}, 5 10 7", "a line without the comma"]
    (folder / "train-rle.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")

    open_and_wait(qtbot, window, folder)
    model = window.study_list.model
    assert {r.image_id for r in model.rows} == {POSITIVE, NEGATIVE, DUPLICATED}
    assert model.get(POSITIVE).truth is None  # blanked: the CSV is still used for the others
    assert model.get(NEGATIVE).truth is False
    problems = dict(_problems(window))
    assert "line skipped" in problems["train-rle.csv"]
    assert "ground truth not used for this image" in problems[f"{POSITIVE}.dcm"]
    assert problems["b_good_copy.dcm"].startswith("duplicate:")

    show_row_and_wait(qtbot, window, POSITIVE)  # the image itself is shown, without truth
    assert window.canvas.message_text() == ""
    assert not (window.canvas.overlay[..., 3] > 0).any()
    np.testing.assert_array_equal(
        window.canvas.displayed_pixels(), load_xray(folder / f"{POSITIVE}.dcm").pixels
    )

    show_row_and_wait(qtbot, window, DUPLICATED)  # the damaged listed copy falls back
    assert window.canvas.message_text() == ""
    np.testing.assert_array_equal(
        window.canvas.displayed_pixels(), load_xray(folder / "b_good_copy.dcm").pixels
    )


def test_padding_reaches_the_model_as_in_predict(
    qtbot, window, samples_dir, tiny_model_dir, tmp_path
):
    from pneumoviewer.core.inference.engine import InferenceEngine
    from tests.core import dicom_factory as factory

    sample = load_xray(samples_dir / f"{NEGATIVE}.dcm").pixels
    pixels = np.full(sample.shape, 65535, dtype=np.uint16)  # a 16-bit film, 120 px border
    pixels[120:-120, 120:-120] = sample[120:-120, 120:-120].astype(np.uint16) * 200 + 1000
    folder = tmp_path / "padded"
    folder.mkdir()
    path = factory.write_image(folder / "padded.dcm", pixels, padding=65535, sop_uid="1.2.3.77")
    image = load_xray(path)
    assert image.padding is not None and image.padding.sum() > 0

    open_and_wait(qtbot, window, folder)
    with qtbot.waitSignal(
        window.result_arrived, timeout=60000, check_params_cb=lambda i: i == "1.2.3.77"
    ):
        assert window.load_model(tiny_model_dir)  # AI by itself analyses the image on screen
    shown = window.store.get("1.2.3.77").class_probability
    engine = InferenceEngine(tiny_model_dir, device="cpu")
    with_mask = engine.predict(image.pixels, padding=image.padding).class_probability
    without = engine.predict(image.pixels).class_probability
    assert abs(with_mask - without) > 1e-4  # the tiny model's CLAHE sees the difference
    assert shown == pytest.approx(with_mask, abs=1e-5)
