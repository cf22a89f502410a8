"""Import the playground's modules as its container does: ``apps/playground`` is the root, ``playground`` a package."""

from __future__ import annotations

import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[2] / "apps" / "playground"

if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))
