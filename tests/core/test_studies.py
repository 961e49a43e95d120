from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from pneumoviewer.core.dicom_io import load_xray, read_header
from pneumoviewer.core.errors import DicomReadError
from pneumoviewer.core.studies import ScanProblem, StudyEntry, load_entry, scan_folder
from tests.core import dicom_factory as factory


@pytest.fixture()
def study_tree(tmp_path: Path, samples_dir: Path) -> Path:
    """A messy study folder built from the 10 real samples plus junk."""
    samples = sorted(samples_dir.glob("*.dcm"))
    root = tmp_path / "study"
    (root / "b_nested" / "deeper").mkdir(parents=True)
    (root / "a_flat").mkdir()
    (root / ".hidden_dir").mkdir()
    # 4 with .dcm at the top, 3 without suffix (UID-like names), 3 nested two levels deep
    for src in samples[:4]:
        shutil.copyfile(src, root / src.name)
    for src in samples[4:7]:
        shutil.copyfile(src, root / "a_flat" / src.stem)  # "1.2.276...878027": no .dcm
    for src in samples[7:]:
        shutil.copyfile(src, root / "b_nested" / "deeper" / f"img_{src.stem[-6:]}.DCM")
    # a second copy of a sample under another name: same SOPInstanceUID
    shutil.copyfile(samples[0], root / "b_nested" / "zz_copy.dcm")
    # companion and documentation files: ignored, not listed
    shutil.copyfile(samples_dir / "train-rle-sample.csv", root / "train-rle-sample.csv")
    (root / "notes.txt").write_text("hello")
    (root / "meta.json").write_text("{}")
    (root / "README").write_text("an extension-less text file\n" * 10)
    # not DICOM: listed as skipped
    (root / "preview.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    (root / "blob").write_bytes(os.urandom(500))
    (root / "empty_no_suffix").write_bytes(b"")
    (root / ".hidden.dcm").write_text("hidden, never looked at")
    factory.write_sr(root / "DICOMDIR")  # stands in for a media index: skipped by name
    shutil.copyfile(samples[0], root / ".hidden_dir" / "x.dcm")
    # problems
    (root / "empty.dcm").write_bytes(b"")
    (root / "text.dcm").write_text("not dicom at all\n" * 20)
    factory.write_sr(root / "a_flat" / "report.dcm")
    factory.write_sr(root / "a_flat" / "report_no_suffix")  # DICOM without suffix: reported
    data = samples[1].read_bytes()
    (root / "b_nested" / "cut.dcm").write_bytes(data[:300])
    return root


def _split(items):
    entries = [i for i in items if isinstance(i, StudyEntry)]
    problems = [i for i in items if isinstance(i, ScanProblem)]
    assert len(entries) + len(problems) == len(items)
    return entries, problems


def test_scan_finds_images_and_reports_problems(study_tree, samples_dir):
    entries, problems = _split(list(scan_folder(study_tree)))
    sample_ids = {p.stem for p in samples_dir.glob("*.dcm")}
    assert {e.image_id for e in entries} == sample_ids
    assert len(entries) == 10  # the duplicate is a problem, not a second entry
    skipped = {p.path.name: p.message for p in problems if p.skipped}
    assert skipped == {
        "preview.png": "skipped: a PNG picture, not a DICOM file",
        "blob": "skipped: not a DICOM file",
        "empty_no_suffix": "skipped: not a DICOM file",
    }
    by_name = {p.path.name: p.message for p in problems if not p.skipped}
    kinds = {p.path.name: p.kind for p in problems if not p.skipped}
    assert kinds["cut.dcm"] == "truncated" and kinds["zz_copy.dcm"] == "duplicate"
    assert set(by_name) == {
        "empty.dcm",
        "text.dcm",
        "report.dcm",
        "report_no_suffix",
        "cut.dcm",
        "zz_copy.dcm",
    }
    assert "empty" in by_name["empty.dcm"]
    assert "not a DICOM file" in by_name["text.dcm"]
    assert "not an image" in by_name["report.dcm"]
    assert "SR" in by_name["report_no_suffix"]
    assert "truncated" in by_name["cut.dcm"]
    assert "duplicate" in by_name["zz_copy.dcm"]
    first = sorted(samples_dir.glob("*.dcm"))[0]
    assert first.stem in by_name["zz_copy.dcm"] and first.name in by_name["zz_copy.dcm"]
    for entry in entries:
        assert entry.path.is_file() and isinstance(entry.path, Path)
        assert read_header(entry.path) == (entry.image_id, entry.metadata)
        assert (entry.metadata.rows, entry.metadata.columns) == (1024, 1024)


def test_scan_order_is_files_first_then_sorted_subfolders(study_tree):
    paths = [item.path.relative_to(study_tree) for item in scan_folder(study_tree)]
    top = [p for p in paths if len(p.parts) == 1]
    assert paths[: len(top)] == sorted(top)  # the top folder's files come first, by name
    dirs = [p.parts[0] for p in paths if len(p.parts) > 1]
    assert dirs == sorted(dirs)  # then a_flat/..., then b_nested/...
    nested = [p for p in paths if p.parts[0] == "b_nested"]
    assert nested[0] == Path("b_nested/cut.dcm")
    assert nested[-1].parts[:2] == ("b_nested", "deeper")
    assert paths == [i.path.relative_to(study_tree) for i in scan_folder(study_tree)]


def test_scan_without_recursion(study_tree):
    items = list(scan_folder(study_tree, recursive=False))
    assert all(item.path.parent == study_tree for item in items)
    entries, problems = _split(items)
    assert len(entries) == 4
    assert {p.path.name for p in problems if not p.skipped} == {"empty.dcm", "text.dcm"}
    assert {p.path.name for p in problems if p.skipped} == {
        "blob",
        "empty_no_suffix",
        "preview.png",
    }


def test_scan_is_a_lazy_generator(tmp_path, samples_dir):
    samples = sorted(samples_dir.glob("*.dcm"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copyfile(samples[0], tmp_path / "a" / "one.dcm")
    scan = scan_folder(tmp_path)
    first = next(scan)
    assert isinstance(first, StudyEntry) and first.path.name == "one.dcm"
    # A file added to folder b after the first row was handed out is still found: each
    # folder is listed when the walk reaches it, not up front.
    shutil.copyfile(samples[1], tmp_path / "b" / "two.dcm")
    rest = list(scan)
    assert [item.path.name for item in rest] == ["two.dcm"]


def test_scan_survives_symlink_loops(tmp_path, samples_dir):
    shutil.copyfile(sorted(samples_dir.glob("*.dcm"))[0], tmp_path / "x.dcm")
    (tmp_path / "sub").mkdir()
    try:
        os.symlink(tmp_path, tmp_path / "sub" / "loop")
    except OSError:
        pytest.skip("symlinks not supported here")
    items = list(scan_folder(tmp_path))
    assert [i.path.name for i in items] == ["x.dcm", "loop"]
    assert isinstance(items[1], ScanProblem) and items[1].kind == "skipped"
    assert "folder already scanned" in items[1].message


def test_scan_missing_folder_is_one_problem(tmp_path):
    items = list(scan_folder(tmp_path / "nope"))
    assert len(items) == 1 and isinstance(items[0], ScanProblem)
    assert items[0].path == tmp_path / "nope"


def test_scan_rejects_colour_and_accepts_synthetic_grey(tmp_path):
    grey = np.arange(64, dtype=np.uint16).reshape(8, 8)
    factory.write_image(tmp_path / "grey.dcm", grey, sop_uid="1.2.3.1")
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    factory.write_image(tmp_path / "rgb.dcm", rgb, photometric="RGB", sop_uid="1.2.3.2")
    factory.write_implicit(tmp_path / "implicit", grey)
    # bare data sets (no preamble, no DICM) without a suffix: used when they are DICOM...
    factory.write_bare(tmp_path / "bare_grey", factory.make_image(grey, sop_uid="1.2.3.3"))
    factory.write_bare(
        tmp_path / "bare_rgb", factory.make_image(rgb, photometric="RGB", sop_uid="1.2.3.4")
    )
    # ...and skipped when they only look like one
    (tmp_path / "looks_bare").write_bytes(b"\x08\x00\x05\x00" + bytes(range(256)) * 2)
    entries, problems = _split(list(scan_folder(tmp_path)))
    assert sorted(e.path.name for e in entries) == ["bare_grey", "grey.dcm", "implicit"]
    assert sorted(p.path.name for p in problems if not p.skipped) == ["bare_rgb", "rgb.dcm"]
    assert all("colour" in p.message for p in problems if not p.skipped)
    assert [(p.path.name, p.message) for p in problems if p.skipped] == [
        ("looks_bare", "skipped: not a DICOM file")
    ]


# --- links, duplicates, truncated copies (issue #7 §4) --------------------------------------


def test_broken_links_and_link_loops_are_listed_as_skipped(tmp_path, samples_dir):
    shutil.copyfile(sorted(samples_dir.glob("*.dcm"))[0], tmp_path / "a.dcm")
    try:
        os.symlink(tmp_path / "gone.dcm", tmp_path / "b_broken.dcm")
        os.symlink(tmp_path / "c_loop", tmp_path / "c_loop")
    except OSError:
        pytest.skip("symlinks not supported here")
    items = list(scan_folder(tmp_path))
    assert [i.path.name for i in items] == ["a.dcm", "b_broken.dcm", "c_loop"]
    broken, loop = items[1], items[2]
    assert isinstance(broken, ScanProblem) and broken.kind == "skipped"
    assert broken.message == "skipped: a broken link (what it points to does not exist)"
    assert isinstance(loop, ScanProblem) and loop.kind == "skipped"
    assert loop.message == "skipped: a link loop (the link leads back to itself)"


def _damage_jpeg_start(data: bytes) -> bytes:
    """Overwrite the JPEG start-of-image marker: same size, not decodable."""
    start = data.index(b"\xff\xd8\xff", data.index(b"\xe0\x7f\x10\x00"))
    return data[:start] + b"\x00\x00\x00" + data[start + 3 :]


def test_truncated_copy_is_reported_as_truncated_and_the_complete_copy_listed(
    tmp_path, samples_dir
):
    source = sorted(samples_dir.glob("*.dcm"))[0]
    data = source.read_bytes()
    (tmp_path / "a_cut.dcm").write_bytes(data[: len(data) // 2])  # header intact, JPEG cut
    (tmp_path / "b_good.dcm").write_bytes(data)
    (tmp_path / "c_cut_end.dcm").write_bytes(data[:-4])  # only the final delimiter missing
    entries, problems = _split(list(scan_folder(tmp_path)))
    assert [(e.image_id, e.path.name) for e in entries] == [(source.stem, "b_good.dcm")]
    assert [(p.path.name, p.kind) for p in problems] == [
        ("a_cut.dcm", "truncated"),
        ("c_cut_end.dcm", "truncated"),
    ]
    assert all("truncated" in p.message for p in problems)
    assert entries[0].alternates == []


def test_truncated_uncompressed_pixels_are_found_by_the_scan(tmp_path):
    pixels = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    full = factory.write_image(tmp_path / "full.dcm", pixels, sop_uid="1.2.3.9")
    (tmp_path / "short.dcm").write_bytes(full.read_bytes()[:-100])
    items = {i.path.name: i for i in scan_folder(tmp_path)}
    assert isinstance(items["full.dcm"], StudyEntry)
    assert isinstance(items["short.dcm"], ScanProblem) and items["short.dcm"].kind == "truncated"


def test_duplicate_that_decodes_is_used_when_the_listed_copy_is_damaged(tmp_path, samples_dir):
    source = sorted(samples_dir.glob("*.dcm"))[0]
    data = source.read_bytes()
    (tmp_path / "a_damaged.dcm").write_bytes(_damage_jpeg_start(data))  # complete, bad JPEG
    (tmp_path / "b_good.dcm").write_bytes(data)
    (tmp_path / "c_good_too.dcm").write_bytes(data)
    entries, problems = _split(list(scan_folder(tmp_path)))
    (entry,) = entries
    assert entry.path.name == "a_damaged.dcm"  # the scan reads headers only
    assert [p.name for p in entry.alternates] == ["b_good.dcm", "c_good_too.dcm"]
    assert [(p.path.name, p.kind, p.image_id, p.duplicate_of) for p in problems] == [
        ("b_good.dcm", "duplicate", source.stem, entry.path),
        ("c_good_too.dcm", "duplicate", source.stem, entry.path),
    ]
    failures: list = []
    image = load_entry(entry, failures=failures)
    assert image.path.name == "b_good.dcm" and image.image_id == source.stem
    np.testing.assert_array_equal(image.pixels, load_xray(source).pixels)
    assert [(f.path.name, f.message) for f in failures] == [
        ("a_damaged.dcm", "the JPEG image data in this file is damaged and cannot be decoded")
    ]


def test_load_entry_raises_the_listed_files_error_when_no_copy_decodes(tmp_path, samples_dir):
    data = sorted(samples_dir.glob("*.dcm"))[0].read_bytes()
    (tmp_path / "a.dcm").write_bytes(_damage_jpeg_start(data))
    (tmp_path / "b.dcm").write_bytes(_damage_jpeg_start(data))
    (entry,) = [i for i in scan_folder(tmp_path) if isinstance(i, StudyEntry)]
    failures: list = []
    with pytest.raises(DicomReadError) as info:
        load_entry(entry, failures=failures)
    assert info.value.path.name == "a.dcm" and failures == []
    assert "damaged" in info.value.message and "libjpeg" not in str(info.value)
    assert info.value.detail  # the decoder's own text is kept for the log


def test_load_any_takes_the_first_copy_that_decodes(tmp_path, samples_dir):
    from pneumoviewer.core.studies import load_any

    data = sorted(samples_dir.glob("*.dcm"))[0].read_bytes()
    (tmp_path / "bad.dcm").write_bytes(_damage_jpeg_start(data))
    (tmp_path / "good.dcm").write_bytes(data)
    failures: list = []
    image = load_any([tmp_path / "bad.dcm", tmp_path / "good.dcm"], failures=failures)
    assert image.path.name == "good.dcm" and [f.path.name for f in failures] == ["bad.dcm"]
    with pytest.raises(DicomReadError) as info:
        load_any([tmp_path / "bad.dcm", tmp_path / "missing.dcm"])
    assert info.value.path.name == "bad.dcm"
    with pytest.raises(ValueError):
        load_any([])
