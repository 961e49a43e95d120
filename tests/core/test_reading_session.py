"""A reading in progress: every finished edit and verdict is in the file; resume and undo."""

from __future__ import annotations

import numpy as np
import pytest

from pneumoviewer.core.reading_session import ReadingSession
from pneumoviewer.core.readings import AIContext, ReadingFile, Verdict

SHAPE = (80, 90)


def ai_mask():
    m = np.zeros(SHAPE, bool)
    m[10:30, 10:40] = True
    return m


AI = AIContext.build(probability=0.9, decision_state="positive", model_name="m", mask=ai_mask())


@pytest.fixture
def session(tmp_path):
    rf = ReadingFile(tmp_path / "r.sqlite", study="s", reader="rd")
    s = ReadingSession(rf)
    yield s
    rf.close()


def saved_mask(session):
    return session.file.get(session.image_id).mask()


def test_mask_starts_as_the_ai_mask_and_is_saved_only_when_edited(session):
    assert session.open_image("a", shape=SHAPE, ai=AI) is None
    np.testing.assert_array_equal(session.mask, ai_mask())
    assert session.reading is None
    session.set_verdict("agree")
    r = session.reading
    assert r.verdict is Verdict.AGREE and r.mask() is None and r.ai == AI
    assert session.dice_vs_ai() == 1.0


def test_stroke_is_saved_at_release_and_undo_redo_are_saved(session, tmp_path):
    session.open_image("a", shape=SHAPE, ai=AI, source=tmp_path / "a.dcm")
    session.begin_stroke()
    session.stroke_to([(60, 50)], 4)
    session.stroke_to([(60, 50), (70, 60)], 4)
    assert session.reading is None  # not saved mid-stroke
    assert session.finish_stroke()
    after_stroke = session.mask.copy()
    np.testing.assert_array_equal(saved_mask(session), after_stroke)
    assert after_stroke[50, 60] and after_stroke[20, 20]
    assert 0 < session.dice_vs_ai() < 1
    session.polygon([(0, 70), (20, 70), (20, 79)], erase=False)
    assert saved_mask(session)[75, 15]
    session.undo()
    np.testing.assert_array_equal(saved_mask(session), after_stroke)
    session.undo()
    np.testing.assert_array_equal(saved_mask(session), ai_mask())
    assert session.undo() is None
    session.redo()
    np.testing.assert_array_equal(saved_mask(session), after_stroke)
    assert session.reading.source == "a.dcm"


def test_clear_reset_and_truth_dice(session):
    session.open_image("a", shape=SHAPE, ai=AI)
    session.clear()
    assert not saved_mask(session).any()
    assert session.dice_vs_truth(ai_mask()) == 0.0
    assert session.clear() is False and not saved_mask(session).any()  # still "nothing here"
    session.reset_to_ai()
    np.testing.assert_array_equal(saved_mask(session), ai_mask())
    assert session.dice_vs_truth(ai_mask()) == 1.0
    assert session.dice_vs_truth(None) is None


def test_reopening_resumes_the_saved_mask_and_switching_finishes_a_stroke(session):
    session.open_image("a", shape=SHAPE, ai=AI)
    session.begin_stroke()
    session.stroke_to([(80, 70)], 3, erase=False)
    session.open_image("b", shape=SHAPE)  # switching images finishes (and saves) the stroke
    assert not session.mask.any() and session.dice_vs_ai() is None
    session.set_note("check lateral")
    again = ReadingSession(session.file)
    saved = again.open_image("a", shape=SHAPE, ai=AI)
    assert saved.mask()[70, 80]
    np.testing.assert_array_equal(again.mask, saved.mask())
    assert again.history.can_undo is False
    assert session.file.get("b").note == "check lateral"


def test_no_image_open(session):
    with pytest.raises(RuntimeError, match="no image open"):
        session.set_verdict("agree")
