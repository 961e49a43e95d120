"""Import boundaries between the packages (ARCHITECTURE.md "Allowed imports").

The rules are import-linter contracts in ``pyproject.toml`` (``[tool.importlinter]``):
core never imports ui/predict/cli/model_training, core outside ``core.inference`` never
imports torch/torchvision/smp/captum, the manifest reads without torch, core/predict/
model_training import no Qt, model_training and predict never import ui, ui never imports
model_training, ``cli > ui | predict > core`` as layers, no import cycles among siblings.
grimp reads every import statement (also the ones inside functions) and follows indirect
chains, so these tests run ``lint-imports`` and assert that every contract is kept.

What import-linter cannot express stays a runtime check here: the ui may import torch
lazily (inside functions, for the analysis worker) but no ui module may pull torch in at
import time; that needs a fresh interpreter that imports each module and looks at
``sys.modules``. Dynamic imports of our own modules (``importlib.import_module`` with a
name built in code), which grimp cannot see, are refused.
"""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = REPO / "pyproject.toml"
TORCH = ["torch", "torchvision", "segmentation_models_pytorch", "captum"]
UI = "pneumoviewer.ui"


def lint_imports_command() -> list[str]:
    """``lint-imports`` next to the running interpreter (the venv), else on PATH."""
    here = Path(sys.executable).parent / "lint-imports"
    found = str(here) if here.is_file() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports not found: install the test extra (pip install -e '.[test]')")
    return [found]


def run_lint_imports(config: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(cwd), NO_COLOR="1")
    return subprocess.run(
        [*lint_imports_command(), "--no-cache", "--no-logo", str(config)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def contract_names() -> list[str]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    return [c["name"] for c in config["tool"]["importlinter"]["contracts"]]


def test_contracts_cover_the_packages():
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    assert set(config["root_packages"]) == {"pneumoviewer", "model_training"}
    text = json.dumps(config["contracts"])
    for package in ("pneumoviewer.core", "pneumoviewer.ui", "pneumoviewer.predict"):
        assert f'"{package}"' in text
    assert '"model_training"' in text and '"torch"' in text and '"PySide6"' in text
    assert {c["type"] for c in config["contracts"]} >= {"forbidden", "layers", "acyclic_siblings"}


def test_every_import_linter_contract_is_kept():
    proc = run_lint_imports(PYPROJECT, REPO)
    report = re.sub(r"\s+", " ", proc.stdout)
    assert proc.returncode == 0, f"import-linter found broken contracts:\n{proc.stdout[-6000:]}"
    for name in contract_names():
        assert f"{name} KEPT" in report, f"contract not checked: {name}"


def test_lint_imports_catches_a_lazy_forbidden_import(tmp_path):
    # Control: the same kind of contract on a tiny package whose "core" imports its "ui"
    # inside a function, two modules away; lint-imports must fail and name the chain.
    pkg = tmp_path / "fakeviewer"
    (pkg / "core").mkdir(parents=True)
    (pkg / "ui").mkdir()
    for init in (pkg, pkg / "core", pkg / "ui"):
        (init / "__init__.py").write_text("")
    (pkg / "ui" / "window.py").write_text("X = 1\n")
    (pkg / "core" / "helper.py").write_text("def f():\n    from fakeviewer.ui import window\n")
    (pkg / "core" / "engine.py").write_text("from fakeviewer.core import helper\n")
    config = tmp_path / "pyproject.toml"
    config.write_text(
        "[tool.importlinter]\nroot_packages = ['fakeviewer']\n"
        "[[tool.importlinter.contracts]]\nname = 'core never imports ui'\ntype = 'forbidden'\n"
        "source_modules = ['fakeviewer.core']\nforbidden_modules = ['fakeviewer.ui']\n"
    )
    proc = run_lint_imports(config, tmp_path)
    assert proc.returncode != 0
    assert "core never imports ui BROKEN" in re.sub(r"\s+", " ", proc.stdout)
    assert "fakeviewer.core.helper -> fakeviewer.ui.window" in proc.stdout


def _python_files(package: str) -> list[Path]:
    return sorted(REPO.joinpath(*package.split(".")).rglob("*.py"))


def dynamic_imports_of_ours(source: str) -> list[int]:
    """Lines of ``import_module(...)`` / ``__import__(...)`` calls that may load our modules.

    A literal naming pneumoviewer or model_training, an f-string or a concatenation: grimp
    cannot see such imports. A plain variable (e.g. optional third-party runtimes looked up
    by name) is allowed.
    """
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        if name not in ("import_module", "__import__"):
            continue
        arg = node.args[0]
        ours = isinstance(arg, ast.Constant) and str(arg.value).split(".")[0] in (
            "pneumoviewer",
            "model_training",
        )
        built = isinstance(arg, ast.JoinedStr | ast.BinOp) or (
            isinstance(arg, ast.Constant) and str(arg.value).startswith(".")
        )
        if ours or built:
            lines.append(node.lineno)
    return lines


def test_dynamic_import_scan():
    assert dynamic_imports_of_ours("importlib.import_module('pneumoviewer.ui.app')") == [1]
    assert dynamic_imports_of_ours("x = __import__(f'model_training.{m}')") == [1]
    assert dynamic_imports_of_ours("for m in ('onnxruntime',):\n    __import__(m)") == []


def test_no_dynamic_imports_that_import_linter_cannot_see():
    bad = []
    for package in ("pneumoviewer", "model_training"):
        for path in _python_files(package):
            lines = dynamic_imports_of_ours(path.read_text(encoding="utf-8"))
            bad += [f"{path.relative_to(REPO)}:{n}" for n in lines]
    assert bad == []


# --- runtime: ui modules import torch lazily only -------------------------------------

# Imports each module in turn and reports which one first pulled in a forbidden module.
_PROBE = r"""
import importlib, json, sys
names, forbidden = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def loaded():
    return {m for m in forbidden if m in sys.modules}
culprits, errors = {}, {}
for name in names:
    before = loaded()
    try:
        importlib.import_module(name)
    except BaseException as e:  # noqa: BLE001 - reported to the test
        errors[name] = f"{type(e).__name__}: {e}"
    new = loaded() - before
    if new:
        culprits[name] = sorted(new)
print(json.dumps({"culprits": culprits, "errors": errors}))
"""


def discover(package: str) -> list[str]:
    """The package and every module below it, found on disk without importing.

    ``__main__`` modules are skipped because importing them runs a program.
    """
    root = REPO.joinpath(*package.split("."))
    if not (root / "__init__.py").is_file():
        return []
    found = [package]
    for info in pkgutil.iter_modules([str(root)]):
        if info.name == "__main__":
            continue
        name = f"{package}.{info.name}"
        found.extend(discover(name) if info.ispkg else [name])
    return found


def probe(names: list[str], forbidden: list[str]) -> dict:
    """Import ``names`` in a fresh interpreter; return culprits and import errors."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(names), json.dumps(forbidden)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, f"probe crashed:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_probe_reports_culprits_and_import_errors():
    # fractions imports decimal at module level; the probe must blame it.
    result = probe(["fractions", "pneumoviewer_no_such_module"], ["decimal"])
    assert result["culprits"] == {"fractions": ["decimal"]}
    assert list(result["errors"]) == ["pneumoviewer_no_such_module"]


def test_ui_imports_torch_lazily_only():
    names = discover(UI)
    assert f"{UI}.main_window" in names
    result = probe(names, TORCH)
    assert result["errors"] == {}, f"modules failed to import: {result['errors']}"
    assert result["culprits"] == {}, f"ui modules importing torch at import time: {result}"


# --- runtime: importing a library module changes no process-wide state --------------------

_SIDE_EFFECTS = r"""
import importlib, json, sys, warnings
names, external = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for ext in external:  # third-party packages may add their own filters: load them first
    try:
        importlib.import_module(ext)
    except Exception:
        pass
def state():
    import matplotlib
    return {
        "warnings filters": [repr(f) for f in warnings.filters],
        "matplotlib backend": str(matplotlib.rcParams._get_backend_or_none()),
        "pyplot imported": "matplotlib.pyplot" in sys.modules,
    }
changed = {}
for name in names:
    before = state()
    importlib.import_module(name)
    after = state()
    diff = sorted(k for k in before if before[k] != after[k])
    if diff:
        changed[name] = diff
print(json.dumps(changed))
"""


def external_imports(packages: list[str]) -> list[str]:
    """Third-party modules the packages' source imports (``a.b`` for ``from a.b import c``)."""
    ours = ("pneumoviewer", "model_training")
    found: set[str] = set()
    for package in packages:
        for path in _python_files(package):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(a.name for a in node.names)
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    found.add(node.module)
                    found.update(f"{node.module}.{a.name}" for a in node.names)
    return sorted(n for n in found if n.split(".")[0] not in ours)


def test_importing_core_and_training_has_no_process_wide_side_effects():
    names = [*discover("pneumoviewer.core"), *discover("model_training")]
    assert "model_training.plots" in names and "pneumoviewer.core.dicom_io" in names
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("MPLBACKEND", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _SIDE_EFFECTS,
            json.dumps(names),
            json.dumps(external_imports(["pneumoviewer.core", "model_training"])),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {}
