"""The reading file: saved as it happens, resumed, refused when it is not this study's."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pneumoviewer.core import rle
from pneumoviewer.core.readings import (
    APPLICATION_ID,
    FORMAT_VERSION,
    AIContext,
    ReadingFile,
    ReadingFileError,
    Verdict,
    default_reader,
    default_reading_path,
    study_key,
)

H, W = 64, 48


def blob(r0, r1, c0, c1):
    m = np.zeros((H, W), bool)
    m[r0:r1, c0:c1] = True
    return m


def ai_context():
    return AIContext.build(
        probability=0.83,
        model_name="demo",
        model_version="2026-11-01",
        weights_sha256={"segmenter.safetensors": "ab" * 32},
        postprocess={"scheme": "triplet", "bottom_threshold": 0.4, "min_area": 10},
        decision_threshold=0.5,
        decision_state="positive",
        mask=blob(10, 20, 5, 15),
    )


def open_file(path, study="/data/study", **kw):
    return ReadingFile(path, study=study, study_name="study", **kw)


def test_verdict_note_mask_and_ai_round_trip(tmp_path):
    path = tmp_path / "r.sqlite"
    mask = blob(12, 30, 8, 20)
    with open_file(path, reader="dr who") as f:
        f.set_verdict("img1", "agree", ai=ai_context(), source=tmp_path / "a" / "img1.dcm")
        f.set_note("img1", "small apical rim")
        f.set_mask("img1", mask)
        f.set_note("img2", "look again")
    with open_file(path) as f:
        assert len(f) == 2
        r = f.get("img1")
        assert r.verdict is Verdict.AGREE and r.read
        assert r.note == "small apical rim" and r.reader == "dr who"
        np.testing.assert_array_equal(r.mask(), mask)
        assert r.mask_shape == (H, W)
        assert r.ai == ai_context()
        np.testing.assert_array_equal(r.ai.mask(), blob(10, 20, 5, 15))
        assert r.source == "a/img1.dcm"
        assert f.source_path(r) == (tmp_path / "a" / "img1.dcm").resolve()
        assert f.read_ids() == {"img1"}
        assert [x.image_id for x in f.readings()] == ["img1", "img2"]
        assert f.get("img2").verdict is None and f.get("img2").mask() is None
        assert f.get("nope") is None
        kinds = [e.kind for e in f.history("img1")]
        assert kinds == ["verdict", "ai", "note", "mask"]


def test_later_changes_replace_and_history_keeps_all(tmp_path):
    path = tmp_path / "r.sqlite"
    with open_file(path, reader="a") as f:
        f.set_verdict("x", Verdict.DISAGREE)
        f.set_mask("x", blob(0, 5, 0, 5))
    with open_file(path, reader="b") as f:
        f.set_verdict("x", Verdict.UNSURE)
        f.set_mask("x", np.zeros((H, W), bool))  # "nothing here" is a mask too
        r = f.get("x")
        assert r.verdict is Verdict.UNSURE and r.reader == "b"
        assert r.mask_rle == "-1" and not r.mask().any()
        f.set_mask("x", None)
        f.set_verdict("x", None)
        r = f.get("x")
        assert r.mask() is None and r.verdict is None and not r.read
        hist = f.history("x")
        assert [(e.reader, e.kind) for e in hist] == [
            ("a", "verdict"),
            ("a", "mask"),
            ("b", "verdict"),
            ("b", "mask"),
            ("b", "mask"),
            ("b", "verdict"),
        ]
        assert hist[1].value == f"{H}x{W}:{rle.encode(blob(0, 5, 0, 5))}"


def test_bad_verdict_and_mask_are_refused(tmp_path):
    with open_file(tmp_path / "r.sqlite") as f:
        with pytest.raises(ValueError):
            f.set_verdict("x", "maybe")
        with pytest.raises(ValueError, match="2-D"):
            f.set_mask("x", np.zeros(5, bool))
        assert len(f) == 0


def test_another_study_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "r.sqlite"
    with open_file(path, study="/data/one") as f:
        f.set_verdict("img1", "agree")
    before = path.read_bytes()
    with pytest.raises(ReadingFileError, match=r"another study .*one.*not /data/two"):
        open_file(path, study="/data/two")
    with pytest.raises(ReadingFileError, match="another study"):
        open_file(path, study="/data/two", image_ids={"img9"})
    assert path.read_bytes() == before
    # the same study moved: every image read is in the folder -> accepted
    with open_file(path, study="/moved/one", image_ids=["img1", "img2"]) as f:
        assert f.get("img1").verdict is Verdict.AGREE
        assert f.study == "/data/one"


def test_newer_format_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "r.sqlite"
    open_file(path).close()
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version={FORMAT_VERSION + 1}")
    con.close()
    before = path.read_bytes()
    with pytest.raises(ReadingFileError, match=r"newer pneumoviewer .*format 2.*not changed"):
        open_file(path)
    with pytest.raises(ReadingFileError, match="newer"):
        ReadingFile(path, study=None, readonly=True)
    assert path.read_bytes() == before


def test_not_a_reading_file_is_refused(tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("hello, this is not a database at all" * 10)
    with pytest.raises(ReadingFileError, match="not a pneumoviewer reading file"):
        open_file(text)
    assert text.read_text().startswith("hello")
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.close()
    with pytest.raises(ReadingFileError, match="another SQLite database"):
        open_file(other)
    with pytest.raises(ReadingFileError, match="no such reading file"):
        ReadingFile(tmp_path / "missing.sqlite", study=None, readonly=True)


def test_file_identifies_itself(tmp_path):
    path = tmp_path / "r.sqlite"
    open_file(path).close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert con.execute("PRAGMA user_version").fetchone()[0] == FORMAT_VERSION
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_readonly_refuses_writes(tmp_path):
    path = tmp_path / "r.sqlite"
    with open_file(path) as f:
        f.set_note("a", "n")
    with ReadingFile(path, study=None, readonly=True) as f:
        assert f.get("a").note == "n"
        with pytest.raises(ReadingFileError, match="read-only"):
            f.set_note("a", "m")


def test_defaults():
    assert default_reader()
    assert default_reading_path("/x/y").name.startswith(".")  # scans skip hidden names
    assert study_key(".") == os.path.realpath(".")


@pytest.mark.parametrize("durable", [True, False])
def test_killed_process_loses_nothing_acknowledged(tmp_path, durable):
    """SIGKILL right after a verdict and a mask update: both are there on reopen."""
    path = tmp_path / "r.sqlite"
    mask = blob(3, 40, 7, 30)
    np.save(tmp_path / "mask.npy", mask)
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        import numpy as np
        from pneumoviewer.core.readings import ReadingFile
        f = ReadingFile({str(path)!r}, study="/s", reader="killed", durable={durable})
        f.set_verdict("img1", "disagree")
        f.set_mask("img1", np.load({str(tmp_path / "mask.npy")!r}))
        sys.stdout.write("saved\\n")
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout == "saved\n"
    # read-only first (the export path must read a crashed writer's WAL), then resume
    with ReadingFile(path, study=None, readonly=True) as f:
        assert f.get("img1").verdict is Verdict.DISAGREE
    with ReadingFile(path, study="/s") as f:
        r = f.get("img1")
        assert r.verdict is Verdict.DISAGREE and r.reader == "killed"
        np.testing.assert_array_equal(r.mask(), mask)


def test_reading_path_beside_a_writable_study_else_per_user(tmp_path, monkeypatch):
    from pneumoviewer.core import readings

    study = tmp_path / "study one"
    study.mkdir()
    assert readings.reading_path_for(study) == study / readings.READING_FILE_NAME
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a: str(tmp_path / "data" / a[0]))
    monkeypatch.setattr(readings.os, "access", lambda path, mode: False)
    path = readings.reading_path_for(study)
    assert path.parent == tmp_path / "data" / "pneumoviewer" / "readings"
    assert path.parent.is_dir() and path.name.startswith("study_one-")
    assert path == readings.fallback_reading_path(study)  # stable per study
    other = tmp_path / "other"
    other.mkdir()
    assert readings.fallback_reading_path(other) != path
    (study / readings.READING_FILE_NAME).touch()  # an existing file beside the study wins
    assert readings.reading_path_for(study) == study / readings.READING_FILE_NAME


def test_a_study_scan_does_not_list_the_reading_file(tmp_path, samples_dir):
    import shutil

    from pneumoviewer.core.studies import scan_folder

    sample = sorted(samples_dir.glob("*.dcm"))[0]
    shutil.copy(sample, tmp_path / sample.name)
    with ReadingFile(default_reading_path(tmp_path), study=study_key(tmp_path)) as f:
        f.set_verdict(sample.stem, "agree")  # -wal and -shm exist while it is open
        names = sorted(p.name for p in tmp_path.iterdir())
        assert any(n.endswith("-wal") for n in names)
        entries = list(scan_folder(tmp_path))
    assert [getattr(e, "image_id", None) for e in entries] == [sample.stem]


def test_ai_history_only_when_the_context_changes(tmp_path):
    with open_file(tmp_path / "r.sqlite") as f:
        f.set_verdict("x", "agree", ai=ai_context())
        f.set_mask("x", blob(0, 5, 0, 5), ai=ai_context())
        f.set_ai("x", ai_context())
        other = AIContext(probability=0.2, model_name="demo")
        f.set_verdict("x", "disagree", ai=other)
        assert [e.kind for e in f.history("x")] == ["verdict", "ai", "mask", "verdict", "ai"]
        assert f.get("x").ai == other


def test_a_locked_file_gives_a_clear_error(tmp_path, monkeypatch):
    from pneumoviewer.core import readings

    path = tmp_path / "r.sqlite"
    monkeypatch.setattr(readings, "BUSY_TIMEOUT_S", 0.05)
    with open_file(path) as f:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process is writing
        try:
            with pytest.raises(ReadingFileError, match=r"r\.sqlite: cannot save .*locked"):
                f.set_note("x", "n")
        finally:
            other.execute("ROLLBACK")
            other.close()
        f.set_note("x", "n")  # and it works again once the other writer is done
        assert f.get("x").note == "n"
