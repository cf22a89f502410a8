"""Every function reads its environment through `lambdas/common/settings.py`, and every bundle ships it.

The functions import `common.settings` (and what it imports) as a top-level package: a bundle without it
would fail at its first cold start on AWS, which no unit test (they run from the source tree) would see.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path, PurePosixPath

import pytest

from stacks.components.python_function import LAMBDAS_DIR, bundle_files

FUNCTIONS = sorted(p.name for p in LAMBDAS_DIR.iterdir() if (p / "__init__.py").exists() or p.is_dir())
FUNCTIONS = [
    name for name in FUNCTIONS if name not in {"common", "__pycache__"} and any((LAMBDAS_DIR / name).glob("*.py"))
]


def _common_imports(path: Path) -> set[str]:
    """The `common.<module>` names `path` imports (``from common import x``, ``from common.x import y``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "common":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("common."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("common.")}
    return found


def common_closure(function_dir: Path) -> set[str]:
    """Every `common` module the function's code needs, following common's own imports."""
    needed: set[str] = set()
    todo = [m for path in sorted(function_dir.glob("*.py")) for m in _common_imports(path)]
    while todo:
        module = todo.pop()
        if module in needed:
            continue
        needed.add(module)
        todo += _common_imports(LAMBDAS_DIR / "common" / f"{module}.py")
    return needed


def test_every_function_folder_is_checked() -> None:
    assert {"llm_gateway", "prompt_catalog", "test_realtime", "knowledge_base_sync", "msk_feed"} <= set(FUNCTIONS)


def missing_from_bundle(function_dir: Path, lambdas_dir: Path) -> list[str]:
    """The `common` modules the function imports that its bundle would not contain."""
    bundled = {path for path, _ in bundle_files(function_dir, lambdas_dir=lambdas_dir)}
    return sorted(m for m in common_closure(function_dir) if PurePosixPath("common", f"{m}.py") not in bundled)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_bundle_has_every_common_module_the_function_imports(function: str) -> None:
    assert "settings" in common_closure(LAMBDAS_DIR / function), f"{function} does not use common.settings"
    assert missing_from_bundle(LAMBDAS_DIR / function, LAMBDAS_DIR) == []


def test_a_bundle_without_the_settings_module_is_caught(tmp_path: Path) -> None:
    shutil.copytree(LAMBDAS_DIR / "common", tmp_path / "common", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "common" / "settings.py").unlink()
    assert missing_from_bundle(LAMBDAS_DIR / "feature_skew", tmp_path) == ["settings"]


def test_the_closure_follows_common_into_its_own_imports(tmp_path: Path) -> None:
    # retrieval imports settings: a function that names only retrieval still needs settings in its bundle.
    (tmp_path / "handler.py").write_text("from common import retrieval\n", encoding="utf-8")
    assert {"retrieval", "settings", "safe_json", "errors"} <= common_closure(tmp_path)
