"""The pinned CDK CLI (`npx cdk`), pointed at a running LocalAws: what `make demo` and the e2e test run."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from emulator.node import venv_node, with_node_on_path
from emulator.server import DEFAULT_ACCOUNT, LocalAws

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CLI_TIMEOUT_SECONDS = 300
_TAIL_CHARS = 3000

# Settings the CLI and the app need on every run; see the Makefile for why each one is there.
_CLI_ENV = {
    "CDK_VALIDATION": "false",
    "CDK_DISABLE_CLI_TELEMETRY": "true",
}


class CdkCliError(RuntimeError):
    """A `cdk` command failed; the message holds the command and the end of its output."""


def missing_cli_reason(project: Path = PROJECT_ROOT) -> str | None:
    """Why the pinned CLI cannot run here, in one sentence, or None when it can."""
    if not venv_node(project).is_file():
        return f"Node.js is missing from the venv ({venv_node(project)}); run `make setup`."
    if not (project / "node_modules" / "aws-cdk").is_dir():
        return "The pinned CDK CLI is not installed; run `make setup` (npm ci) first."
    return None


def git_commit(project: Path = PROJECT_ROOT) -> str:
    """The checked-out commit, recorded as the code version of models trained from this synth."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH, as a developer runs it
            cwd=project,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"  # not a git checkout (e.g. an exported tarball): say so rather than guess
    return result.stdout.strip() or "unknown"


@dataclass
class CdkCli:
    """Runs ``npx cdk`` in the project against one emulator, synthesizing `env_name` into `output_dir`.

    `env_name` is cdk.json's environment with ``emulator: true`` (``stacks.config.emulator_environment``).
    """

    aws: LocalAws
    output_dir: Path
    env_name: str
    project: Path = PROJECT_ROOT

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = with_node_on_path({**self.aws.env(), **_CLI_ENV})
        command = ["npx", "--no-install", "cdk", *args, "--no-notices"]
        try:
            result = subprocess.run(  # noqa: S603 - fixed executable, arguments built here
                command,
                cwd=self.project,
                env=env,
                capture_output=True,
                text=True,
                timeout=CLI_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise CdkCliError(f"`cdk {' '.join(args)}` did not finish in {CLI_TIMEOUT_SECONDS} s") from error
        if result.returncode != 0:
            raise CdkCliError(
                f"`cdk {' '.join(args)}` failed (exit {result.returncode}):\n"
                f"{result.stdout[-_TAIL_CHARS:]}\n{result.stderr[-_TAIL_CHARS:]}"
            )
        return result

    def bootstrap(self) -> None:
        # --output: bootstrap synthesizes the app too, and the CLI locks its output folder; the default
        # cdk.out would make two local deploys (make demo and make app, or two test workers) collide.
        self.run(
            "bootstrap",
            f"aws://{DEFAULT_ACCOUNT}/{self.aws.region}",
            "-c",
            f"env={self.env_name}",
            "--output",
            str(self.output_dir),
        )

    def synth(self) -> None:
        self.run(
            "synth",
            "-c",
            f"env={self.env_name}",
            "-c",
            f"codeVersion={git_commit(self.project)}",
            "--all",
            "--quiet",
            "--output",
            str(self.output_dir),
        )

    def deploy(self) -> None:
        # --method=direct: moto's change sets mishandle cross-stack exports.
        self.run(
            "deploy", *self._app(), "--all", "--require-approval", "never", "--method=direct", "--concurrency", "4"
        )

    def diff(self) -> str:
        # --no-change-set: a template diff, seconds instead of a minute against the emulator.
        result = self.run("diff", *self._app(), "--all", "--no-change-set")
        return result.stdout + result.stderr

    def destroy(self) -> None:
        self.run("destroy", *self._app(), "--all", "--force")

    def _app(self) -> tuple[str, str]:
        # Deploy, diff and destroy the assembly synthesized once, instead of re-running app.py each time.
        return ("--app", str(self.output_dir))
