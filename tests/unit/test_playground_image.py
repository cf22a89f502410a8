"""The playground's container image, checked without Docker: what the Dockerfile promises the ALB and ECS,
that the pinned requirements match the tested versions, and that apps/playground runs on its own."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.unit.playground_path import APP_DIR

PROJECT_ROOT = APP_DIR.parents[1]
DOCKERFILE = (APP_DIR / "Dockerfile").read_text()
# Imported when present, never required: pyarrow's Cython module tries cloudpickle and falls back to pickle
# (it is in the dev environment through scikit-learn's joblib, not in the image).
OPTIONAL = {"cloudpickle"}
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)==(?P<version>[^\s;\\]+)(?P<marker>\s*;[^\\]*)?\s*\\?$")


def instructions(name: str) -> list[str]:
    """The arguments of every ``name`` instruction (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.split(None, 1)[:1] == [name]]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> dict[str, str]:
    """Pinned name -> version for Python 3.11 (lines for other Pythons skipped), from requirements.txt."""
    pins: dict[str, str] = {}
    lines = (APP_DIR / "requirements.txt").read_text().splitlines()
    for index, line in enumerate(lines):
        match = REQUIREMENT.match(line)
        if match is None:
            continue
        marker = match.group("marker") or ""
        if ">= '3.12'" in marker:
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        assert following.strip().startswith("--hash=sha256:"), f"{match.group('name')} is pinned without a hash"
        pins[normalize(match.group("name"))] = match.group("version")
    return pins


def test_runs_as_an_unprivileged_user() -> None:
    (user,) = instructions("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, f"USER {user}: use a numeric, non-root uid"
    assert "useradd" in DOCKERFILE and f"--uid {uid}" in DOCKERFILE
    # USER comes after every step that needs root (installing packages).
    assert DOCKERFILE.index("USER ") > DOCKERFILE.index("pip install")


def test_port_from_the_environment_defaults_to_8501_and_health_path_is_streamlits() -> None:
    assert "PORT=8501" in " ".join(instructions("ENV"))
    assert instructions("EXPOSE") == ["8501"]
    (command,) = instructions("CMD")
    argv = json.loads(command)
    assert argv[:2] == ["sh", "-c"] and argv[2].startswith("exec streamlit run streamlit_app.py")
    assert "--server.port=${PORT}" in argv[2] and "--server.address=0.0.0.0" in argv[2]
    (health,) = instructions("HEALTHCHECK")
    assert "http://127.0.0.1:${PORT}/_stcore/health" in health


def test_dependencies_are_pinned_with_hashes_and_match_the_tested_versions() -> None:
    pins = requirements()
    assert "--require-hashes" in DOCKERFILE
    lock = tomllib.loads((PROJECT_ROOT / "uv.lock").read_text())
    locked = {normalize(p["name"]): p["version"] for p in lock["package"]}
    assert pins["streamlit"] == locked["streamlit"]
    assert pins["boto3"] == locked["boto3"]
    # Everything the image installs runs in the tests at the same version.
    drift = {name: (version, locked.get(name)) for name, version in pins.items() if locked.get(name) != version}
    assert not drift, f"requirements.txt differs from uv.lock (image, tested): {drift}"


def test_copied_paths_exist_and_nothing_else_is_needed() -> None:
    for arguments in instructions("COPY"):
        *sources, _ = arguments.split()
        for source in sources:
            assert (APP_DIR / source).exists(), f"COPY {source}: not in apps/playground"


def test_streamlit_settings_never_show_a_stack_trace() -> None:
    settings = tomllib.loads((APP_DIR / ".streamlit" / "config.toml").read_text())
    assert settings["client"]["showErrorDetails"] == "none"
    assert settings["browser"]["gatherUsageStats"] is False
    assert settings["server"]["port"] == 8501 and settings["server"]["headless"] is True


def test_app_imports_only_its_folder_and_pinned_packages(tmp_path: Path) -> None:
    """Import the app from a copy of apps/playground alone, as the image holds it, in a fresh interpreter."""
    copy = tmp_path / "app"
    shutil.copytree(APP_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    probe = """
import importlib.metadata, json, sys, sysconfig
sys.path.insert(0, "")
import playground.ui  # the pages and every module they use
stdlib = set(sys.stdlib_module_names)
top = {name.split(".")[0] for name in list(sys.modules)}
local = {n for n in top if (getattr(sys.modules.get(n), "__file__", None) or "").startswith(sys.argv[1])}
third = sorted(n for n in top - stdlib - local if not n.startswith("_"))
owners = importlib.metadata.packages_distributions()
# Names without a distribution (cython_runtime, ...) are interpreter internals, not packages to install.
print(json.dumps({"local": sorted(local), "dists": sorted({d for n in third for d in owners.get(n, [])})}))
"""
    result = subprocess.run(
        # -I: no PYTHONPATH, no user site, and neither the project root nor the cwd on sys.path.
        [sys.executable, "-I", "-c", probe, str(copy)],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["local"] == ["playground"]
    pinned = set(requirements())
    missing = {d for d in found["dists"] if normalize(d) not in pinned | OPTIONAL}
    assert not missing, f"imported but not in requirements.txt: {sorted(missing)}"


@pytest.mark.parametrize("module", ["lambdas", "emulator", "stacks", "scripts", "delivery", "tests"])
def test_no_project_module_is_imported(module: str) -> None:
    for path in APP_DIR.rglob("*.py"):
        source = path.read_text()
        assert not re.search(rf"^\s*(from|import)\s+{module}\b", source, flags=re.MULTILINE), (
            f"{path.relative_to(PROJECT_ROOT)} imports {module}, which the image does not contain"
        )
