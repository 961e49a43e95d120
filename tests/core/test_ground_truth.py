from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from pneumoviewer.core import rle
from pneumoviewer.core.errors import GroundTruthError, RLEError
from pneumoviewer.core.ground_truth import GroundTruth, find_ground_truth_csv, read_rle_csv

SHAPE = (4, 3)  # tiny images keep the hand-made strings readable


def _write(tmp_path: Path, text: str, name: str = "train-rle.csv", *, bom=False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_sample_csv_bom_no_header(sample_csv, samples_dir):
    assert sample_csv.read_bytes().startswith(b"\xef\xbb\xbf")
    table = read_rle_csv(sample_csv)
    assert len(table) == 10 and table.path == sample_csv
    assert set(table.ids()) == {p.stem for p in samples_dir.glob("*.dcm")}
    positives = [i for i in table.ids() if table.is_positive(i)]
    assert len(positives) == 5
    for image_id in table.ids():
        mask = table.mask(image_id)
        assert mask.shape == (1024, 1024) and mask.dtype == bool
        assert mask.any() == (image_id in positives)
        if image_id in positives:
            (encoded,) = table.rows(image_id)
            np.testing.assert_array_equal(mask, rle.decode(encoded))


def test_unknown_image_is_none(sample_csv):
    table = read_rle_csv(sample_csv)
    assert "nope" not in table
    assert table.is_positive("nope") is None and table.mask("nope") is None


@pytest.mark.parametrize(
    "header",
    ["ImageId,EncodedPixels\n", "ImageId, EncodedPixels\n", '"ImageId","EncodedPixels"\n', ""],
)
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("bom", [False, True])
def test_header_variants(tmp_path, header, newline, bom):
    body = "img1, 1 2\n\nimg2,-1\nimg3, -1\n"
    path = _write(tmp_path, (header + body).replace("\n", newline), bom=bom)
    table = read_rle_csv(path)
    assert table.ids() == ["img1", "img2", "img3"]
    assert [table.is_positive(i) for i in table.ids()] == [True, False, False]
    np.testing.assert_array_equal(table.mask("img1", SHAPE), rle.decode("1 2", SHAPE))


def test_several_rows_are_ored(tmp_path):
    # 4x3 image, column-major: "0 2" = pixels (0,0),(1,0); "5 2" = (1,1),(2,1).
    path = _write(tmp_path, "a,0 2\nb,-1\na,5 2\na,-1\n")
    table = read_rle_csv(path)
    assert len(table) == 2 and table.is_positive("a") and not table.is_positive("b")
    expected = np.zeros(SHAPE, dtype=bool)
    expected[[0, 1], 0] = True
    expected[[1, 2], 1] = True
    np.testing.assert_array_equal(table.mask("a", SHAPE), expected)


def test_absolute_table(tmp_path):
    path = _write(tmp_path, "a,1 2\n")
    table = read_rle_csv(path, relative=False)
    np.testing.assert_array_equal(table.mask("a", SHAPE), rle.decode("0 2", SHAPE))


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("ImageId,EncodedPixels\na,1 2\nno comma here\n", 3, "expected 2 fields"),
        ("\n\na,1 2\nb,1 2,extra\n", 4, "found 3"),
        ("a,1 2\n , 1 2\n", 2, "empty ImageId"),
    ],
)
def test_malformed_line_is_skipped_and_listed_with_file_and_line(tmp_path, text, line, fragment):
    path = _write(tmp_path, text, bom=True)
    table = read_rle_csv(path)  # the rest of the table is used
    assert table.ids() == ["a"] and table.mask("a", SHAPE).sum() == 2
    (problem,) = table.problems
    assert isinstance(problem, GroundTruthError)
    assert problem.line == line and problem.path == path
    assert f"{path}, line {line}: line skipped" in str(problem)
    assert fragment in str(problem)


def test_several_bad_lines_are_all_listed(tmp_path):
    path = _write(tmp_path, "a,1 2\nb;1 2\nc,3 4\n,5 6\nd,1,2,3\ne,-1\n")
    table = read_rle_csv(path)
    assert table.ids() == ["a", "c", "e"]
    assert [(p.line, p.problem.split(":")[0]) for p in table.problems] == [
        (2, "line skipped"),
        (4, "line skipped"),
        (5, "line skipped"),
    ]
    assert "empty ImageId" in table.problems[1].problem and "found 4" in table.problems[2].problem


def test_a_file_without_any_usable_line_is_refused(tmp_path):
    path = _write(tmp_path, "name;value\nx;1\ny;2\n")
    with pytest.raises(GroundTruthError, match=r"no usable line.*line 1.*2 more bad lines"):
        read_rle_csv(path)


def test_lookup_blanks_one_image_with_a_bad_row(tmp_path):
    path = _write(tmp_path, "good,1 2\nbad,1 2\nbad,1 2 3\nneg,-1\n")
    table = read_rle_csv(path)
    good, bad, neg = (table.lookup(i, SHAPE) for i in ("good", "bad", "neg"))
    assert good.problem is None and good.positive is True and good.mask.sum() == 2
    assert neg.problem is None and neg.positive is False and not neg.mask.any()
    assert bad.mask is None and bad.positive is None
    assert isinstance(bad.problem, RLEError) and bad.problem.image_id == "bad"
    assert f"{path}, line 3" in str(bad.problem)
    assert table.lookup("unknown", SHAPE) is None
    # a row that does not fit the image blanks that image too
    assert table.lookup("good", (1, 2)).problem is not None


def test_bad_rle_row_only_breaks_its_image(tmp_path):
    path = _write(tmp_path, "good,1 2\nbad,1 2 3\nalso_good,-1\n")
    table = read_rle_csv(path)  # reading succeeds
    assert table.mask("good", SHAPE).sum() == 2
    assert not table.mask("also_good", SHAPE).any()
    with pytest.raises(RLEError) as info:
        table.mask("bad", SHAPE)
    message = str(info.value)
    assert "bad" in message and str(path) in message and "line 2" in message
    problems = table.validate(SHAPE)
    assert len(problems) == 1 and problems[0].image_id == "bad"


def test_validate_checks_runs_fit_the_image(tmp_path):
    table = read_rle_csv(_write(tmp_path, "a,10 5\n"))
    assert table.validate((1024, 1024)) == []
    assert [p.image_id for p in table.validate(SHAPE)] == ["a"]


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(GroundTruthError, match="not found"):
        read_rle_csv(tmp_path / "missing.csv")
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00garbage\x81")
    with pytest.raises(GroundTruthError, match="UTF-8"):
        read_rle_csv(path)


def test_constructed_table():
    table = GroundTruth([("x", "0 1", None)])
    assert table.path is None and table.mask("x", SHAPE)[0, 0]


def test_full_siim_table_reads_fast(shared_data):
    start = time.perf_counter()
    table = read_rle_csv(shared_data / "siim-train-rle.csv.gz")
    elapsed = time.perf_counter() - start
    assert len(table) == 12047
    assert sum(bool(table.is_positive(i)) for i in table.ids()) == 2669
    assert elapsed < 1.0, elapsed
    multi = [i for i in table.ids() if len(table.rows(i)) > 1]
    assert multi  # some images have several regions
    image_id = multi[0]
    union = np.zeros((1024, 1024), dtype=bool)
    for encoded in table.rows(image_id):
        union |= rle.decode(encoded)
    np.testing.assert_array_equal(table.mask(image_id), union)


# --- find_ground_truth_csv ----------------------------------------------------------------


def test_find_in_folder_and_parents(tmp_path, sample_csv):
    study = tmp_path / "root" / "site" / "study"
    study.mkdir(parents=True)
    assert find_ground_truth_csv(study) is None
    shutil.copyfile(sample_csv, tmp_path / "root" / "Train-RLE.CSV")  # case-insensitive
    assert find_ground_truth_csv(study) == tmp_path / "root" / "Train-RLE.CSV"
    shutil.copyfile(sample_csv, tmp_path / "root" / "site" / "stage1_rle.csv")
    assert find_ground_truth_csv(study) == tmp_path / "root" / "site" / "stage1_rle.csv"
    (study / "labels.csv").write_text("x")  # not a run-length table by name
    (study / "rle-notes.txt").write_text("x")
    assert find_ground_truth_csv(study) == tmp_path / "root" / "site" / "stage1_rle.csv"
    shutil.copyfile(sample_csv, study / "b-rle.csv")
    shutil.copyfile(sample_csv, study / "a-rle.csv")
    assert find_ground_truth_csv(study) == study / "a-rle.csv"  # nearest, then by name
    assert find_ground_truth_csv(study / "a-rle.csv") == study / "a-rle.csv"  # a file


def test_find_stops_after_three_levels(tmp_path, sample_csv):
    deep = tmp_path / "1" / "2" / "3" / "4"
    deep.mkdir(parents=True)
    shutil.copyfile(sample_csv, tmp_path / "train-rle.csv")
    assert find_ground_truth_csv(deep) is None  # 4 levels up
    assert find_ground_truth_csv(deep.parent) == tmp_path / "train-rle.csv"  # 3 levels up


def test_find_bundled_sample(samples_dir, sample_csv):
    assert find_ground_truth_csv(samples_dir) == sample_csv


def test_damaged_gzip_is_a_plain_message_with_the_detail_logged(tmp_path, caplog):
    import gzip

    path = tmp_path / "train-rle.csv.gz"
    path.write_bytes(gzip.compress(b"a,1 2\n" * 1000)[:40])  # cut short
    with caplog.at_level("INFO", logger="pneumoviewer.core"):
        with pytest.raises(GroundTruthError) as info:
            read_rle_csv(path)
    assert str(info.value) == f"{path}: the compressed file is damaged or incomplete"
    assert info.value.detail and any(info.value.detail in r.getMessage() for r in caplog.records)


def test_check_reports_one_images_bad_row_without_decoding(tmp_path):
    path = _write(tmp_path, "good,1 2\nbad,1 2\nbad,1 2 3\nneg,-1\n")
    table = read_rle_csv(path)
    assert table.check("good", SHAPE) is None and table.check("neg", SHAPE) is None
    assert table.check("unknown", SHAPE) is None
    problem = table.check("bad", SHAPE)
    assert isinstance(problem, RLEError) and problem.image_id == "bad"
    assert str(problem) == str(table.lookup("bad", SHAPE).problem)
    assert table.check("good", (1, 2)) is not None  # runs past a 2-pixel image
