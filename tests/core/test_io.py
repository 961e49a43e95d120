"""core.io: atomic writes replace whole files or nothing, and never leave temporaries."""

from __future__ import annotations

import pickle

import pytest

from pneumoviewer.core.io import atomic_write_bytes, atomic_write_text, atomic_writer


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_bytes_refuse_existing_unless_overwrite(tmp_path):
    target = tmp_path / "a.bin"
    assert atomic_write_bytes(target, b"one") == target
    with pytest.raises(FileExistsError, match="a.bin"):
        atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"one"
    atomic_write_bytes(target, b"three", overwrite=True)
    assert target.read_bytes() == b"three"
    assert _leftovers(tmp_path) == []


def test_text_is_encoded_without_newline_translation(tmp_path):
    target = tmp_path / "t.csv"
    atomic_write_text(target, "a,é\r\nb\n")
    assert target.read_bytes() == "a,é\r\nb\n".encode()
    atomic_write_text(target, "x", overwrite=True, encoding="utf-16-le")
    assert target.read_bytes() == "x".encode("utf-16-le")


def test_writer_replaces_on_success(tmp_path):
    target = tmp_path / "obj.pkl"
    target.write_bytes(b"old")
    with atomic_writer(target, overwrite=True) as f:
        pickle.dump({"k": 1}, f)
        assert target.read_bytes() == b"old"  # untouched until the block ends
        assert len(_leftovers(tmp_path)) == 1
    assert pickle.loads(target.read_bytes()) == {"k": 1}
    assert _leftovers(tmp_path) == []


def test_writer_failure_keeps_old_file_and_removes_temporary(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_writer(target, overwrite=True) as f:
            f.write(b"partial new content")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_file_created_meanwhile_is_not_overwritten(tmp_path):
    target = tmp_path / "race.txt"
    with pytest.raises(FileExistsError):
        with atomic_writer(target) as f:
            f.write(b"mine")
            target.write_bytes(b"theirs")  # another writer got there first
    assert target.read_bytes() == b"theirs"
    assert _leftovers(tmp_path) == []


def test_missing_folder_raises_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "no" / "such" / "file", b"x")
