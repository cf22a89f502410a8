"""What `make demo` and `make app` share: the preflight checks and the real CDK deploy into the emulator.

Both check, before anything starts, that the pinned CDK CLI can run and that ``cdk.json`` has a valid
environment with ``emulator: true`` in the emulator's account, and both deploy it the same way: ``cdk bootstrap``,
``cdk synth -c env=<it>``, ``cdk deploy --all`` against a running :class:`~emulator.server.LocalAws`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from emulator.server import LocalAws
    from stacks.config import EnvironmentConfig

_T = TypeVar("_T")

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class PreflightError(Exception):
    """Something to fix before anything starts; the message is one sentence."""


def preflight(cdk_json: Path) -> EnvironmentConfig:
    """The emulator environment's configuration, once the CLI and ``cdk.json`` are known to be usable.

    Raises:
        PreflightError: Node.js or the pinned CLI is missing, or ``cdk.json`` is invalid or has no environment
            with ``emulator: true``.
    """
    from emulator.cdk_cli import missing_cli_reason

    if reason := missing_cli_reason():
        raise PreflightError(reason)
    from stacks.config import ConfigError, emulator_environment, read_cdk_context

    try:
        config = emulator_environment(read_cdk_context(cdk_json))
    except (ConfigError, ValueError) as error:
        raise PreflightError(f"cdk.json: {error}") from None

    from emulator.server import DEFAULT_ACCOUNT

    if config.account != DEFAULT_ACCOUNT:
        raise PreflightError(
            f"cdk.json: environment {config.name!r}, key 'account': the emulator's environment must use the "
            f"emulator's account {DEFAULT_ACCOUNT}"
        )
    return config


def timed_step(title: str, action: Callable[[], _T]) -> _T:
    """Run ``action`` under a progress line that ends with how long it took."""
    print(f"  {title} ...", end="", flush=True)
    started = time.perf_counter()
    result = action()
    print(f" done ({time.perf_counter() - started:.1f} s)", flush=True)
    return result


def deploy_local(
    aws: LocalAws,
    output_dir: Path,
    step: Callable[[str, Callable[[], None]], None] = timed_step,
    *,
    env_name: str,
) -> None:
    """Bootstrap the emulator's account, synthesize `env_name` into ``output_dir`` and deploy every stack.

    Raises:
        emulator.cdk_cli.CdkCliError: a CLI command failed (the message holds the end of its output).
    """
    from emulator.cdk_cli import CdkCli
    from emulator.server import DEFAULT_ACCOUNT

    cli = CdkCli(aws, output_dir, env_name)
    step(f"cdk bootstrap aws://{DEFAULT_ACCOUNT}/{aws.region}", cli.bootstrap)
    step(f"cdk synth -c env={env_name}", cli.synth)
    step(f"cdk deploy -c env={env_name} --all", cli.deploy)
