"""The layout, checked by tools: import-linter's contracts, mypy --strict on src, and one error tree."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from supadeploy import errors

from .conftest import REPO

SRC = REPO / "src" / "supadeploy"
BIN = Path(sys.executable).parent


def test_import_contracts_hold() -> None:
    """The core never imports the app wing, the two legs stay apart, the floors hold (pyproject.toml)."""
    done = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_mypy_strict_on_src() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _error_classes() -> set[str]:
    tree = ast.parse((SRC / "errors.py").read_text())
    found = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    return {
        name
        for name in found
        if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), errors.SupadeployError)
    }


def _factories(tree: ast.Module, classes: set[str]) -> set[str]:
    """Functions of a module declared to return one of the error classes (raise make_error(...))."""
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.returns is not None and ast.unparse(node.returns) in classes
    }


def raised_outside_the_tree(path: Path, classes: set[str], root: Path = SRC) -> list[str]:
    tree = ast.parse(path.read_text())
    # A function of this module, or a method of an error class (PushFailed.amended), that returns one of them.
    made_in_errors = _factories(ast.parse((SRC / "errors.py").read_text()), classes)
    allowed = (classes - {"SupadeployError"}) | _factories(tree, classes) | made_in_errors
    offenders = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue  # a bare `raise` re-raises what was caught
        raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        name = raised.attr if isinstance(raised, ast.Attribute) else getattr(raised, "id", ast.unparse(raised))
        if path.relative_to(root).as_posix() == "tasks/boundary.py" and name == "Exit":
            continue  # the one place library errors become invoke's Exit
        if name not in allowed:
            offenders.append(f"{path.relative_to(root)}:{node.lineno}: raise {ast.unparse(node.exc)[:60]}")
    return offenders


def test_every_raise_in_src_names_a_subclass_from_errors() -> None:
    classes = _error_classes()
    assert {"LintFailed", "PromotionRefused", "PromotionFailed", "NovaImportError", "ToolNotFound"} <= classes
    offenders = [line for path in sorted(SRC.rglob("*.py")) for line in raised_outside_the_tree(path, classes)]
    assert offenders == []


def test_the_check_catches_a_bare_base_class_and_a_foreign_error(tmp_path: Path) -> None:
    classes = _error_classes()
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f():\n    raise SupadeployError('x')\n\ndef g():\n    raise ValueError('y')\n\ndef h():\n    raise\n"
    )
    found = raised_outside_the_tree(sample, classes, root=tmp_path)
    assert [line.split(": ", 1)[1] for line in found] == ["raise SupadeployError('x')", "raise ValueError('y')"]


def test_no_error_class_is_defined_outside_errors() -> None:
    defined = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base).endswith(("Error", "Exception", "Refused", "Failed")) for base in node.bases
            ):
                defined.append(f"{path.relative_to(REPO)}: {node.name}")
    assert defined == []
