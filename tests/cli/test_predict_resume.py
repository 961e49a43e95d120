"""`predict` streams its rows and `--resume` continues a run killed with SIGKILL (#11 §3)."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pneumoviewer.cli import main
from pneumoviewer.predict import PredictOptions, UsageError, run_predict
from pneumoviewer.predict.stream import JOURNAL_NAME, RUN_MANIFEST_NAME

pytestmark = pytest.mark.filterwarnings("ignore:End of file reached:UserWarning")

N_IMAGES = 6
KILL_AFTER = 3

# Runs predict in a child process and SIGKILLs it after KILL_AFTER images were written.
_CHILD = """
import os, signal, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
import tests.conftest  # noqa: F401  decode as the tests do (no GDCM), same env
from pneumoviewer.predict import PredictOptions, run_predict
folder, out, model, kill_after = sys.argv[1:5]
opts = PredictOptions(folder=Path(folder), out=Path(out), model_dir=Path(model),
                      progress=False, runtime="torch", threads=1)
def on_image(n):
    if n == int(kill_after):
        os.kill(os.getpid(), signal.SIGKILL)
run_predict(opts, stderr=None, on_image=on_image)
"""


@pytest.fixture(scope="module")
def study(samples_dir, sample_csv, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("resume_study")
    for path in sorted(samples_dir.glob("*.dcm"))[:N_IMAGES]:
        shutil.copy(path, folder)
    shutil.copy(sample_csv, folder)
    (folder / "junk.dcm").write_text("not a DICOM\n")  # a problem listed by the scan
    return folder


def _opts(study, out, model, **kw) -> PredictOptions:
    return PredictOptions(
        folder=study, out=out, model_dir=model, progress=False, runtime="torch", threads=1, **kw
    )


def _rows(path: Path, drop: str | None = "seconds") -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if drop is None:
        return rows
    i = rows[0].index(drop)
    return [r[:i] + r[i + 1 :] for r in rows]  # wall time differs between any two runs


@pytest.fixture(scope="module")
def uninterrupted(study, tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "out"
    summary = run_predict(_opts(study, out, tiny_model_dir), stderr=None)
    assert summary.n_ok == N_IMAGES
    return out


def test_killed_run_resumes_to_the_same_outputs(study, tiny_model_dir, uninterrupted, tmp_path):
    out = tmp_path / "out"
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(study), str(out), str(tiny_model_dir), str(KILL_AFTER)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    # rows were streamed: the killed run left exactly the finished images
    partial = _rows(out / "predictions.csv")
    assert len(partial) - 1 == KILL_AFTER
    assert not (out / "metrics.json").exists()
    manifest = json.loads((out / RUN_MANIFEST_NAME).read_text())
    assert manifest["complete"] is False
    # a row cut by the kill (no journal line) is dropped on resume
    with (out / "predictions.csv").open("a", encoding="utf-8") as f:
        f.write("1.2.3.half-written-row,/x")
    seen: list[int] = []
    summary = run_predict(
        _opts(study, out, tiny_model_dir, resume=True), stderr=None, on_image=seen.append
    )
    assert seen == list(range(1, N_IMAGES - KILL_AFTER + 1))  # only the others ran
    assert summary.n_ok == N_IMAGES
    for name in ("predictions.csv", "submission.csv", "problems.csv"):
        assert _rows(out / name, "seconds" if name == "predictions.csv" else None) == _rows(
            uninterrupted / name, "seconds" if name == "predictions.csv" else None
        ), name
    assert json.loads((out / "metrics.json").read_text()) == json.loads(
        (uninterrupted / "metrics.json").read_text()
    )
    assert sorted(p.name for p in (out / "png").iterdir()) == sorted(
        p.name for p in (uninterrupted / "png").iterdir()
    )
    assert json.loads((out / RUN_MANIFEST_NAME).read_text())["complete"] is True
    assert not list(out.rglob("*.tmp"))


def test_resume_refuses_other_settings_or_model(study, tiny_model_dir, uninterrupted, tmp_path):
    with pytest.raises(UsageError, match=r"other settings.*bottom_threshold"):
        run_predict(
            _opts(study, uninterrupted, tiny_model_dir, resume=True, bottom_threshold=0.9),
            stderr=None,
        )
    from tests.tiny_models import make_tiny_model_dir

    other = make_tiny_model_dir(tmp_path / "other", seed=1)
    with pytest.raises(UsageError, match=r"another model.*segmenter.safetensors"):
        run_predict(_opts(study, uninterrupted, other, resume=True), stderr=None)
    with pytest.raises(UsageError, match="nothing to resume"):
        run_predict(_opts(study, tmp_path / "empty", tiny_model_dir, resume=True), stderr=None)


def test_resume_of_a_finished_run_changes_nothing(study, tiny_model_dir, uninterrupted):
    before = {n: (uninterrupted / n).read_bytes() for n in ("predictions.csv", "metrics.json")}
    seen: list[int] = []
    run_predict(
        _opts(study, uninterrupted, tiny_model_dir, resume=True), stderr=None, on_image=seen.append
    )
    assert seen == []
    for name, data in before.items():
        assert (uninterrupted / name).read_bytes() == data, name
    journal = (uninterrupted / JOURNAL_NAME).read_text().splitlines()
    assert sum(json.loads(line)["t"] == "image" for line in journal) == N_IMAGES


def test_cli_resume_flag(study, tiny_model_dir, tmp_path, capsys):
    rc = main(
        [
            "predict",
            str(study),
            "--out",
            str(tmp_path / "o"),
            "--model",
            str(tiny_model_dir),
            "--resume",
            "--no-progress",
            "--runtime",
            "torch",
        ]
    )
    assert rc == 2
    assert "nothing to resume" in capsys.readouterr().err
