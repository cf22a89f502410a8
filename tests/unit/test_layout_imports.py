"""The layout's import rule: `scripts/` holds what the make targets run; nothing below them imports it.

Product code (stacks, Lambda functions, pipeline steps, the emulator, the maturity tools, the app, and what the
delivery pipeline runs) must not depend on a developer command: the pipeline's builds and the emulator run
`delivery/`, and a module moved back under `scripts/` would make them depend on the make targets again.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Everything that is not a make-target script or a test of one.
PRODUCT_ROOTS = ("app.py", "stacks", "lambdas", "pipelines", "emulator", "maturity", "apps", "delivery", "prompts")
FORBIDDEN = "scripts"


def imported_modules(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, module) of every import in `source`, absolute names only (relative imports stay in a package)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def forbidden_imports(root: Path) -> list[str]:
    """Every import of `scripts` (or a module under it) in the product code below `root`, as `path:line module`."""
    problems: list[str] = []
    for name in PRODUCT_ROOTS:
        base = root / name
        files = [base] if base.is_file() else sorted(base.rglob("*.py"))
        for path in files:
            for line, module in imported_modules(path.read_text(encoding="utf-8"), str(path)):
                if module == FORBIDDEN or module.startswith(FORBIDDEN + "."):
                    problems.append(f"{path.relative_to(root)}:{line} imports {module}")
    return problems


def test_no_product_code_imports_the_make_target_scripts() -> None:
    assert forbidden_imports(PROJECT_ROOT) == []


@pytest.mark.parametrize(
    "source",
    [
        "from scripts import prompt_release\n",
        "import scripts.local_env\n",
        "from scripts.local_env import PROJECT_ROOT\n",
        "def f():\n    import scripts\n",
        "import importlib\nimportlib.import_module('scripts.demo')\n",
    ],
)
def test_the_scan_finds_an_import_of_scripts(tmp_path: Path, source: str) -> None:
    (tmp_path / "emulator").mkdir()
    (tmp_path / "emulator" / "tour.py").write_text(source, encoding="utf-8")
    assert len(forbidden_imports(tmp_path)) == 1


def test_the_scan_leaves_other_names_alone(tmp_path: Path) -> None:
    (tmp_path / "delivery").mkdir()
    (tmp_path / "delivery" / "x.py").write_text(
        "import scripts_extra\nfrom .scripts import y\nfrom delivery import prompt_release\n", encoding="utf-8"
    )
    assert forbidden_imports(tmp_path) == []


def test_the_delivery_modules_live_outside_scripts() -> None:
    # The pipeline's buildspecs and the GitHub workflow run them as `python3 -m delivery.<module>`.
    for module in ("prompt_release", "preprod_check", "source_commit"):
        assert (PROJECT_ROOT / "delivery" / f"{module}.py").is_file(), module
        assert not (PROJECT_ROOT / "scripts" / f"{module}.py").exists(), module
