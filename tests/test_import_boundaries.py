"""Import boundaries between the packages (see docs/core-api.md and ARCHITECTURE.md).

* ``pneumoviewer.core`` (outside ``core.inference``) imports neither Qt nor torch;
* ``pneumoviewer.core.inference`` and ``model_training`` import no Qt;
* ``pneumoviewer.core.inference.manifest`` imports no torch (the GUI reads model cards
  before torch is loaded);
* ``pneumoviewer.ui`` imports torch lazily only (never at module level);
* ``pneumoviewer.core`` and ``model_training`` never import ``pneumoviewer.ui``, and
  ``pneumoviewer.core`` never imports ``model_training``.

Modules are discovered on disk (``pkgutil.iter_modules``, recursively, without importing
anything in the test process), so new modules are covered as the tree grows. Imports run
in a fresh interpreter (``sys.executable -c``) because the pytest process has long since
imported Qt and torch for other tests.
"""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
QT = ["PySide6", "pyqtgraph", "superqt"]
TORCH = ["torch", "torchvision", "segmentation_models_pytorch"]
UI = "pneumoviewer.ui"
INFERENCE = "pneumoviewer.core.inference"

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


def discover(package: str, *, exclude: str | None = None) -> list[str]:
    """The package and every module below it, found on disk without importing.

    ``exclude`` drops a subpackage and everything below it; ``__main__`` modules are
    skipped because importing them runs a program.
    """
    root = REPO.joinpath(*package.split("."))
    if not (root / "__init__.py").is_file():
        return []
    found = [package]
    for info in pkgutil.iter_modules([str(root)]):
        name = f"{package}.{info.name}"
        if info.name == "__main__" or name == exclude:
            continue
        if info.ispkg:
            found.extend(discover(name, exclude=exclude))
        else:
            found.append(name)
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


def assert_clean(names: list[str], forbidden: list[str]) -> None:
    assert names, "no modules discovered: the package layout changed?"
    result = probe(names, forbidden)
    assert result["errors"] == {}, f"modules failed to import: {result['errors']}"
    assert result["culprits"] == {}, (
        f"forbidden imports (module -> what it pulled in): {result['culprits']}"
    )


def test_discovery_finds_this_tree():
    core = discover("pneumoviewer.core", exclude=INFERENCE)
    assert "pneumoviewer.core" in core and "pneumoviewer.core.overlay" in core
    assert not any(n.startswith(INFERENCE) for n in core)
    assert f"{INFERENCE}.manifest" in discover(INFERENCE)


def test_probe_reports_culprits_and_import_errors():
    # fractions imports decimal at module level; the probe must blame it.
    result = probe(["fractions", "pneumoviewer_no_such_module"], ["decimal"])
    assert result["culprits"] == {"fractions": ["decimal"]}
    assert list(result["errors"]) == ["pneumoviewer_no_such_module"]


def test_core_imports_neither_qt_nor_torch():
    names = ["pneumoviewer", *discover("pneumoviewer.core", exclude=INFERENCE)]
    assert_clean(names, QT + TORCH + [UI, "model_training"])


def test_inference_and_training_import_no_qt():
    names = [*discover(INFERENCE), *discover("model_training")]
    assert_clean(names, QT + [UI])


def test_manifest_does_not_import_torch():
    names = [m for m in discover(INFERENCE) if m == f"{INFERENCE}.manifest"]
    assert_clean(names, TORCH)


def test_ui_imports_torch_lazily_only():
    assert_clean(discover(UI), TORCH)


# --- static check: also catches imports inside functions, which a probe never runs ---


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(source: str, module: str, *, is_package: bool) -> set[str]:
    """Fully qualified names a module's source imports (relative imports resolved).

    ``from a import b`` yields both ``a`` and ``a.b``; ``importlib.import_module("x")``
    and ``__import__("x")`` with a literal name yield ``x``.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if fname in ("import_module", "__import__") and isinstance(arg, ast.Constant):
                if isinstance(arg.value, str):
                    names.add(arg.value)
    return names


def _violations(packages: list[str], forbidden: str) -> dict[str, list[str]]:
    bad: dict[str, list[str]] = {}
    for package in packages:
        for path in sorted(REPO.joinpath(*package.split(".")).rglob("*.py")):
            module = _module_name(path)
            names = imported_names(
                path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py"
            )
            hits = sorted(n for n in names if n == forbidden or n.startswith(forbidden + "."))
            if hits:
                bad[str(path.relative_to(REPO))] = hits
    return bad


@pytest.mark.parametrize(
    ("source", "module", "is_package", "expected"),
    [
        ("import pneumoviewer.ui.app", "pneumoviewer.core.x", False, "pneumoviewer.ui.app"),
        ("from pneumoviewer import ui", "model_training.x", False, "pneumoviewer.ui"),
        ("from ..ui import app", "pneumoviewer.core.x", False, "pneumoviewer.ui.app"),
        ("from ...ui import app", "pneumoviewer.core.inference", True, "pneumoviewer.ui.app"),
        ("def f():\n    from .. import ui", "pneumoviewer.core.x", False, "pneumoviewer.ui"),
        (
            "import importlib\nimportlib.import_module('pneumoviewer.ui.main_window')",
            "model_training.x",
            False,
            "pneumoviewer.ui.main_window",
        ),
    ],
)
def test_static_scan_resolves_imports(source, module, is_package, expected):
    assert expected in imported_names(source, module, is_package=is_package)


def test_static_scan_ignores_sibling_modules_named_like_ui():
    names = imported_names("from . import uix", "pneumoviewer.core.x", is_package=False)
    assert not any(n == UI or n.startswith(UI + ".") for n in names)


def test_core_and_training_never_import_ui():
    assert _violations(["pneumoviewer.core", "model_training"], UI) == {}


def test_core_never_imports_model_training():
    assert _violations(["pneumoviewer.core"], "model_training") == {}
