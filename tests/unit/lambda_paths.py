"""Import Lambda code the way the Lambda runtime does.

Each function is deployed as its own folder, so its modules import each other as top-level modules
(``import promotion``). ``use(function)`` puts ``lambdas/<function>/`` on sys.path for that. Every function
has a ``handler.py``, so ``load_handler(function)`` imports it under a unique module name
(``<function>_handler``) instead of ``handler``, which would collide between test modules.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"


def use(function: str) -> None:
    """Make ``lambdas/<function>/``'s modules, and ``common``, importable as top-level modules."""
    folder = LAMBDAS / function
    if not folder.is_dir():
        raise FileNotFoundError(f"no Lambda folder {folder}")
    # lambdas/ itself, for `common`: the deployed asset has common/ next to the function's modules.
    for path in (LAMBDAS, folder):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def load_handler(function: str) -> ModuleType:
    """``lambdas/<function>/handler.py``, imported once as ``<function>_handler``."""
    use(function)
    name = f"{function}_handler"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, LAMBDAS / function / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
