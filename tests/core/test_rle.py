from __future__ import annotations

import gzip

import numpy as np
import pytest

from pneumoviewer.core import rle
from pneumoviewer.core.errors import RLEError

# --- hand-computed examples ------------------------------------------------------------


def test_relative_decode_hand_computed_column_major():
    # 3 rows x 2 columns; column-major order is (0,0) (1,0) (2,0) (0,1) (1,1) (2,1).
    # "1 2 1 1": skip 1 -> pixels 1,2; then skip 1 after the end (3) -> pixel 4.
    mask = rle.decode("1 2 1 1", (3, 2))
    expected = np.array([[0, 0], [1, 1], [1, 0]], dtype=bool)
    np.testing.assert_array_equal(mask, expected)
    assert mask.dtype == bool and mask.flags.c_contiguous


def test_absolute_decode_hand_computed_one_based():
    # Same mask with 1-based absolute starts: pixels 1,2 -> starts at 2; pixel 4 -> 5.
    mask = rle.decode("2 2 5 1", (3, 2), relative=False)
    np.testing.assert_array_equal(mask, np.array([[0, 0], [1, 1], [1, 0]], dtype=bool))
    assert rle.encode(mask, relative=False) == "2 2 5 1"
    assert rle.encode(mask) == "1 2 1 1"


def test_absolute_runs_in_any_order():
    a = rle.decode("5 1 2 2", (3, 2), relative=False)
    np.testing.assert_array_equal(a, rle.decode("2 2 5 1", (3, 2), relative=False))


def test_run_crossing_column_boundary():
    # pixels 2,3 of a 3x2 image: (2,0) then (0,1).
    mask = rle.decode("2 2", (3, 2))
    assert mask[2, 0] and mask[0, 1] and mask.sum() == 2


@pytest.mark.parametrize("text", ["-1", " -1", "", "  ", "-1 "])
def test_empty_strings_decode_to_empty_mask(text):
    mask = rle.decode(text, (4, 5))
    assert mask.shape == (4, 5) and not mask.any()


def test_encode_empty_is_minus_one():
    assert rle.encode(np.zeros((7, 3), dtype=bool)) == "-1"
    assert rle.encode(np.zeros((7, 3), dtype=bool), relative=False) == "-1"


# --- round trips ---------------------------------------------------------------------------


def _roundtrip(mask: np.ndarray) -> None:
    for relative in (True, False):
        text = rle.encode(mask, relative=relative)
        back = rle.decode(text, mask.shape, relative=relative)
        np.testing.assert_array_equal(back, mask.astype(bool))
        assert rle.encode(back, relative=relative) == text


def test_first_and_last_pixel_runs():
    mask = np.zeros((5, 4), dtype=bool)
    mask[0, 0] = True  # flat index 0
    mask[4, 3] = True  # last flat index (19)
    assert rle.encode(mask) == "0 1 18 1"
    assert rle.encode(mask, relative=False) == "1 1 20 1"
    _roundtrip(mask)


def test_full_and_single_pixel_masks():
    full = np.ones((6, 9), dtype=bool)
    assert rle.encode(full) == "0 54"
    assert rle.encode(full, relative=False) == "1 54"
    _roundtrip(full)
    single = np.zeros((6, 9), dtype=bool)
    single[2, 5] = True  # column-major index 5 * 6 + 2 = 32
    assert rle.encode(single) == "32 1"
    _roundtrip(single)


def test_random_non_square_masks_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(50):
        h, w = rng.integers(1, 40, size=2)
        mask = rng.random((h, w)) < rng.random()
        _roundtrip(mask)


def test_non_square_orientation_matches_transposed_flattening():
    rng = np.random.default_rng(2)
    mask = rng.random((30, 20)) < 0.3
    flat = mask.T.ravel()  # the SIIM order: column by column
    starts = np.flatnonzero(np.diff(np.concatenate([[0], flat.astype(int), [0]])) == 1)
    first = rle.encode(mask).split()
    assert int(first[0]) == starts[0]
    np.testing.assert_array_equal(rle.decode(rle.encode(mask), (30, 20)), mask)
    # A hand-checked non-square case: 3 rows x 2 columns, runs counted down each column.
    small = np.array([[0, 1], [0, 1], [1, 0]], dtype=bool)
    assert rle.encode(small) == "2 3"  # column by column: 0 0 1 | 1 1 0 (row order: "1 1 1 2")
    np.testing.assert_array_equal(rle.decode("2 3", (3, 2)), small)
    np.testing.assert_array_equal(
        rle.decode("2 3", (2, 3)), np.array([[0, 1, 1], [0, 1, 0]], dtype=bool)
    )


def test_encode_accepts_uint8_255_masks():
    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[1:3, 1] = 255
    assert rle.encode(mask) == "5 2"


# --- malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1 2 3", "odd"),
        ("1 x", "not a non-negative integer"),
        ("1.5 2", "not a non-negative integer"),
        ("1 -2", "negative"),
        ("1 0", "length 0"),
        ("3 3", "past the end"),
        ("0 5 0 1", "past the end"),  # 6 pixels of a 5-pixel image
        ("1 6", "larger than the image"),
        ("1 99999999999999999999999", "too large"),
    ],
)
def test_malformed_strings_name_the_image(text, fragment):
    with pytest.raises(RLEError) as info:
        rle.decode(text, (5, 1), image_id="IMG-42")
    assert "IMG-42" in str(info.value)
    assert fragment in str(info.value)
    assert info.value.image_id == "IMG-42"


def test_absolute_overlap_and_zero_start_rejected():
    with pytest.raises(RLEError, match="overlap"):
        rle.decode("1 3 2 1", (5, 1), relative=False, image_id="A")
    with pytest.raises(RLEError, match="1-based"):
        rle.decode("0 1", (5, 1), relative=False, image_id="A")


def test_last_pixel_boundary_is_inclusive():
    assert rle.decode("4 1", (5, 1))[4, 0]
    assert rle.decode("5 1", (5, 1), relative=False)[4, 0]
    with pytest.raises(RLEError):
        rle.decode("6 1", (5, 1), relative=False)


# --- real SIIM data -----------------------------------------------------------------------


def test_every_siim_training_row_round_trips(shared_data):
    path = shared_data / "siim-train-rle.csv.gz"
    lines = gzip.open(path, "rt", encoding="utf-8").read().splitlines()[1:]
    assert len(lines) == 12954
    positives = 0
    for line in lines:
        image_id, encoded = line.split(",", 1)
        encoded = encoded.strip()
        mask = rle.decode(encoded, image_id=image_id)
        assert rle.encode(mask) == encoded, image_id
        positives += encoded != "-1"
    assert positives > 3000  # rows with a region (several per image for some ids)


# Expected location of each positive sample's mask, written after looking at the images
# with the decoded outline drawn on them (1024x1024, image column 0 = patient's right):
# every mask lies along a pleural edge: three apical caps over the lung apex (the top of the
# lung, rows ~80-260), a long crescent along the right lateral chest wall of 1314 (rows
# ~100-740, hugging the ribs), and a small triangle at the left lateral costophrenic region
# of 12743 (columns ~790-820). With the orientation wrong (no transpose) the apical caps
# would turn into vertical strips reaching rows 300-450 and these boxes would fail.
SAMPLE_MASK_BOXES = {
    # id suffix: (rows min, rows max, cols min, cols max) that the mask must lie within
    "4904.1517875185.355709": (80, 280, 150, 460),  # right apex
    "1314.1517875167.222290": (90, 760, 100, 470),  # right lateral wall, tall
    "4440.1517875182.865105": (70, 180, 500, 700),  # left apex (image right half)
    "4982.1517875185.837576": (130, 270, 270, 480),  # right apex
    "12743.1517875241.599591": (520, 680, 780, 830),  # left lower lateral
}


def test_sample_masks_lie_along_the_expected_pleural_edges(samples_dir):
    rows = {}
    for line in (samples_dir / "train-rle-sample.csv").read_text("utf-8-sig").splitlines():
        image_id, encoded = line.split(",", 1)
        if encoded.strip() != "-1":
            rows[image_id] = encoded.strip()
    assert len(rows) == 5
    for suffix, (r0, r1, c0, c1) in SAMPLE_MASK_BOXES.items():
        (image_id,) = [i for i in rows if i.endswith(suffix)]
        mask = rle.decode(rows[image_id], (1024, 1024), image_id=image_id)
        ys, xs = np.nonzero(mask)
        assert ys.size > 1000, image_id
        assert r0 <= ys.min() and ys.max() <= r1, (image_id, ys.min(), ys.max())
        assert c0 <= xs.min() and xs.max() <= c1, (image_id, xs.min(), xs.max())
    # The long lateral crescent is tall and thin; apical caps are wide and flat.
    lateral = rle.decode(rows[next(i for i in rows if "1314." in i)])
    ys, xs = np.nonzero(lateral)
    assert np.ptp(ys) > 1.5 * np.ptp(xs)
    apical = rle.decode(rows[next(i for i in rows if "4440." in i)])
    ys, xs = np.nonzero(apical)
    assert np.ptp(xs) > 1.5 * np.ptp(ys)
