"""`pneumoviewer` argument handling: viewer dispatch, usage errors, --help without torch."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

import pneumoviewer
from pneumoviewer.cli import main


@pytest.fixture
def fake_viewer(monkeypatch):
    """Replace pneumoviewer.ui.app with a module whose run_viewer records its arguments."""
    calls = []
    module = types.ModuleType("pneumoviewer.ui.app")

    def run_viewer(folder, *, model_dir, gt_csv, device):
        calls.append({"folder": folder, "model_dir": model_dir, "gt_csv": gt_csv, "device": device})
        return 7

    module.run_viewer = run_viewer
    monkeypatch.setitem(sys.modules, "pneumoviewer.ui.app", module)
    return calls


def test_viewer_gets_folder_model_gt_device(fake_viewer, samples_dir, sample_csv, tiny_model_dir):
    rc = main(
        [
            str(samples_dir),
            "--model",
            str(tiny_model_dir),
            "--gt",
            str(sample_csv),
            "--device",
            "cpu",
        ]
    )
    assert rc == 7
    assert fake_viewer == [
        {"folder": samples_dir, "model_dir": tiny_model_dir, "gt_csv": sample_csv, "device": "cpu"}
    ]


def test_viewer_without_folder_uses_defaults(fake_viewer):
    assert main([]) == 7
    assert fake_viewer == [{"folder": None, "model_dir": None, "gt_csv": None, "device": "auto"}]


def test_viewer_usage_errors(fake_viewer, tmp_path, samples_dir, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    assert "missing: folder not found" in capsys.readouterr().err
    assert main([str(samples_dir), "--model", str(tmp_path)]) == 2
    assert f"{tmp_path / 'manifest.json'}: missing manifest.json" in capsys.readouterr().err
    assert main([str(samples_dir), "--gt", str(tmp_path / "x.csv")]) == 2
    assert "x.csv: ground-truth CSV not found" in capsys.readouterr().err
    assert main(["--device", "tpu"]) == 2
    assert fake_viewer == []


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pneumoviewer {pneumoviewer.__version__}"


@pytest.mark.parametrize(
    "args",
    [
        ["--threshold", "1.5"],
        ["--min-area", "-3"],
        ["--workers", "0"],
        ["--threads", "0"],
        ["--device", "gpu"],
    ],
)
def test_predict_option_errors(args, tmp_path, capsys):
    rc = main(["predict", str(tmp_path), "--out", str(tmp_path / "o"), *args])
    assert rc == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_predict_needs_out(tmp_path, capsys):
    assert main(["predict", str(tmp_path)]) == 2
    assert "--out" in capsys.readouterr().err


def _console_script() -> Path:
    script = Path(sys.executable).with_name("pneumoviewer")
    if not script.exists():
        pytest.skip("console script not installed (pip install -e .)")
    return script


def test_console_script_help():
    out = subprocess.run(
        [str(_console_script()), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "usage: pneumoviewer" in out.stdout
    assert "pneumoviewer predict FOLDER --out DIR" in out.stdout


@pytest.mark.parametrize("argv", [["--help"], ["predict", "--help"], ["--version"]])
def test_help_does_not_import_torch_or_qt(argv):
    code = (
        "import sys\n"
        "from pneumoviewer.cli import main\n"
        f"rc = main({argv!r})\n"
        "heavy = sorted(m for m in ('torch', 'PySide6', 'pyqtgraph', 'segmentation_models_pytorch')"
        " if m in sys.modules)\n"
        "print('HEAVY', heavy, rc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "HEAVY [] 0" in out.stdout


@pytest.mark.parametrize(("cpus", "want"), [(1, 1), (2, 1), (8, 7)])
def test_default_threads_leave_one_cpu(monkeypatch, cpus, want):
    import os

    from pneumoviewer.predict.runner import default_threads

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    assert default_threads() == want
