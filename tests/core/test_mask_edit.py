"""Brush, eraser, polygon and undo/redo on a reader's mask."""

from __future__ import annotations

import numpy as np
import pytest

from pneumoviewer.core.mask_edit import MaskHistory, brush_stroke, fill_polygon, replace_mask


def blank(h=100, w=120):
    return np.zeros((h, w), bool)


def test_dab_is_a_disc_of_the_radius():
    m = blank()
    box = brush_stroke(m, [(60, 50)], 10)
    rows, cols = np.nonzero(m)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (40, 60, 50, 70)
    assert abs(m.sum() - np.pi * 10.5**2) < 0.03 * np.pi * 10.5**2  # diameter 2r + 1 pixels
    r0, r1, c0, c1 = box
    assert r0 <= 40 and r1 > 60 and c0 <= 50 and c1 > 70  # the box covers the change
    assert m.dtype == bool and set(np.unique(m.view(np.uint8))) == {0, 1}


def test_stroke_covers_the_path_with_round_ends_and_eraser_clears():
    m = blank()
    brush_stroke(m, [(20, 20), (80, 20), (80, 70)], 3)
    assert m[20, 20:81].all() and m[20:71, 80].all()
    assert m[20, 17] and not m[20, 15]  # round cap: radius 3 beyond the first point
    assert not m[50, 50]
    brush_stroke(m, [(50, 10), (50, 30)], 4, erase=True)
    assert not m[20, 47:54].any() and m[20, 40] and m[20, 60]


def test_polygon_fill_and_erase():
    m = blank()
    fill_polygon(m, [(10, 10), (60, 10), (60, 40), (10, 40)])
    assert m[10:41, 10:61].all() and m.sum() == 31 * 51
    fill_polygon(m, [(20, 20), (30, 20), (30, 30)], erase=True)
    assert not m[21, 29] and m[29, 21]
    with pytest.raises(ValueError, match="at least 3 points"):
        fill_polygon(m, [(0, 0), (1, 1)])


def test_bad_masks_and_radius_are_refused():
    with pytest.raises(ValueError, match="bool"):
        brush_stroke(np.zeros((5, 5), np.uint8), [(1, 1)], 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        brush_stroke(blank().T, [(1, 1)], 1)
    with pytest.raises(ValueError, match="radius"):
        brush_stroke(blank(), [(1, 1)], 0)
    with pytest.raises(ValueError, match="shape"):
        replace_mask(blank(), np.ones((3, 3), bool))


def test_strokes_off_the_image_are_clipped():
    m = blank()
    box = brush_stroke(m, [(-20, -20), (5, 5)], 4)
    assert m[0, 0] and box[0] == 0 and box[2] == 0


def test_undo_redo_restore_exact_states_and_keep_only_the_changed_box():
    m = blank()
    h = MaskHistory()
    states = [m.copy()]
    for pts in ([(20, 20), (40, 30)], [(90, 80)], [(30, 25), (100, 25)]):
        h.begin(m)
        brush_stroke(m, pts, 5)
        assert h.commit(m)
        states.append(m.copy())
    h.begin(m)
    assert not h.commit(m)  # nothing changed: not recorded
    for expected in reversed(states[:-1]):
        assert h.undo(m) is not None
        np.testing.assert_array_equal(m, expected)
    assert h.undo(m) is None and not h.can_undo
    for expected in states[1:]:
        assert h.redo(m) is not None
        np.testing.assert_array_equal(m, expected)
    assert not h.can_redo
    edit = h._undo[1]  # the dab: a 11x11 box, not the whole mask
    assert edit.before.shape == edit.after.shape == (11, 11)
    # a new edit after an undo drops the redo branch
    h.undo(m)
    h.begin(m)
    replace_mask(m, None)
    h.commit(m)
    assert not h.can_redo and not m.any()


def test_history_limit():
    m = blank()
    h = MaskHistory(limit=2)
    for x in (10, 30, 50):
        h.begin(m)
        brush_stroke(m, [(x, 10)], 2)
        h.commit(m)
    assert h.undo(m) and h.undo(m) and h.undo(m) is None
    assert m[10, 10] and not m[10, 30]
