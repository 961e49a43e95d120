"""The Reading panel's Dice read-out is current once the AI result of the image on screen is in."""

from __future__ import annotations

from tests.ui.conftest import load_model_and_wait, open_and_wait, show_row_and_wait

POSITIVE = "1.2.276.0.7230010.3.1.4.8323329.1314.1517875167.222290"


def test_untouched_reader_mask_reads_as_the_ai_mask_after_the_result(
    qtbot, window, samples_dir, tiny_model_dir
):
    open_and_wait(qtbot, window, samples_dir)
    load_model_and_wait(qtbot, window, tiny_model_dir)
    show_row_and_wait(qtbot, window, POSITIVE)
    label = window.reading_panel.dice_label
    if POSITIVE not in window.store:
        with qtbot.waitSignal(
            window.result_arrived, timeout=30000, check_params_cb=lambda i: i == POSITIVE
        ):
            window.actions["analyse"].trigger()
    # the panel refreshes on the next turn of the event loop after the result
    qtbot.waitUntil(lambda: "vs AI: —" not in label.text(), timeout=5000)
    vs_ai, vs_truth = window.reading.dice()
    ai = window.render.prediction
    truth = window.vm.image.loaded.truth
    from pneumoviewer.core.metrics import dice

    assert vs_ai == 1.0  # untouched: the reader's mask is the AI's
    assert vs_truth == float(dice(ai, truth))
    assert label.text() == f"Dice reader vs AI: 1.000   vs ground truth: {vs_truth:.3f}"
