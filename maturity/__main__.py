"""``python -m maturity assess|cost|smoke``: the maturity self-assessment, the idle-cost report, the smoke test.

Exit codes: 0 done (and every environment within budget, every smoke check passed or skipped); 1 an
environment is over its idle budget, or a smoke check failed; 2 nothing could be assessed, priced or
smoke-tested (no credentials, no region, no templates, a bad cdk.json, credentials of another account),
with one sentence on stderr saying why.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import cast

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("table", "json", "markdown")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m maturity", description=__doc__.split("\n\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)

    assess = commands.add_parser(
        "assess",
        help="answer the production-readiness checklist for an account (read-only AWS calls)",
        description="Answer the checklist for one account and region with Describe/List/Get calls only, "
        "score the maturity level (0-3) and name the next step.",
    )
    assess.add_argument("--profile", help="AWS profile (default: the usual boto3 chain)")
    assess.add_argument("--region", help="AWS region (default: the profile's or AWS_REGION)")
    assess.add_argument("--env", default="<env>", help="environment name used in the stack names of the next step")
    assess.add_argument("--endpoint-url", help="send every call to this endpoint (a local emulator)")
    assess.add_argument("--cdk-json", type=Path, default=PROJECT_ROOT / "cdk.json", help=argparse.SUPPRESS)
    _output_options(assess)

    cost = commands.add_parser(
        "cost",
        help="estimate the idle monthly cost of synthesized templates against each environment's budget",
        description="Price what costs money while idle in cdk.out/<env>/*.template.json (from `make synth`) "
        "and compare each environment with idleBudgetUsd in cdk.json. Exits 1 if any is over budget.",
    )
    cost.add_argument(
        "--templates",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="directories of *.template.json (default: every cdk.out/<env>/)",
    )
    cost.add_argument("--cdk-json", type=Path, default=PROJECT_ROOT / "cdk.json", help="where the budgets are")
    _output_options(cost)

    smoke = commands.add_parser(
        "smoke",
        help="prove the integrations of a deployed environment on AWS (starts jobs; minutes; cleans up)",
        description="Set an alarm to ALARM and read whether its notification was delivered, run the Glue job "
        "on the sample, call the gateway through the guardrail, check invocation logging, start the training "
        "pipeline and stop it. Uses the environment's account and region from cdk.json.",
    )
    smoke.add_argument("--env", required=True, help="environment of cdk.json (its stacks are smoke-tested)")
    smoke.add_argument("--profile", help="AWS profile (default: the usual boto3 chain)")
    smoke.add_argument("--only", nargs="+", metavar="CHECK", help="run only these checks")
    smoke.add_argument("--cdk-json", type=Path, default=PROJECT_ROOT / "cdk.json", help="where the environments are")
    return parser


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--output", type=Path, help="write the report to this file instead of stdout")


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _assess(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, NoCredentialsError

    from maturity.assess import Format, assess, render
    from maturity.aws import CredentialsError, credentials_problem
    from maturity.checks import CHECKS
    from maturity.knowledge_base_skew import knowledge_base_skew_check
    from maturity.models import configured_models, models_current_check

    # With --env, the environment's configured Bedrock models are checked against the live account too.
    from stacks.config import ConfigError

    try:
        stack_prefix = _stack_prefix(args.cdk_json)
    except ConfigError as error:
        return _fail(str(error))
    models = configured_models(args.cdk_json, args.env)
    checks = (*CHECKS, models_current_check(models)) if models else CHECKS
    checks = (*checks, knowledge_base_skew_check())
    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
        if session.get_credentials() is None:
            return _fail(credentials_problem(NoCredentialsError()) or "No AWS credentials found.")
        result = assess(
            session,
            env=args.env,
            endpoint_url=args.endpoint_url,
            max_attempts=1 if args.endpoint_url else 3,
            checks=checks,
            stack_prefix=stack_prefix,
        )
    except CredentialsError as error:
        return _fail(str(error))
    except BotoCoreError as error:  # profile not found, broken config file, credential process failed ...
        return _fail(credentials_problem(error) or f"AWS configuration problem: {error}")
    _emit(render(result, cast(Format, args.format)), args.output)
    return 0


def _stack_prefix(cdk_json: Path) -> str:
    """How this project's stack names start (``mlops:namePrefix``, capitalized); the default if unreadable."""
    from maturity.scoring import DEFAULT_STACK_PREFIX
    from stacks.config import ConfigError, name_prefix, read_cdk_context, stack_name

    try:
        context = read_cdk_context(cdk_json)
    except (ConfigError, OSError, ValueError):
        return DEFAULT_STACK_PREFIX  # no readable cdk.json (an account assessed from elsewhere): the shipped prefix
    # As the app writes it (a bad prefix raises ConfigError): "acme-ml" starts stacks "Acme-ml-<env>-...".
    return stack_name(name_prefix(context), "env", "Stack").removesuffix("-env-Stack")


def _cost(args: argparse.Namespace) -> int:
    from maturity.cost import CostError, default_template_dirs, estimate, idle_budgets, load_templates, render

    try:
        directories = args.templates or default_template_dirs(PROJECT_ROOT / "cdk.out")
        if not directories:
            return _fail("no synthesized templates in cdk.out/<env>/: run `make synth` first, or pass --templates DIR")
        templates = load_templates(directories)
        if not templates:
            return _fail(f"no *.template.json in {', '.join(map(str, directories))}")
        budgets = idle_budgets(args.cdk_json)
        report = estimate(templates, budgets=budgets)
    except CostError as error:
        return _fail(str(error))
    _emit(render(report, args.format), args.output)
    if report.over_budget:
        names = ", ".join(f"{env.name} ({env.total_usd:.2f} > {env.budget_usd:.2f} USD)" for env in report.over_budget)
        print(f"over idle budget: {names}", file=sys.stderr)
        return 1
    return 0


def _smoke(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from maturity.aws import credentials_problem
    from maturity.smoke import SmokeTarget, render, run_smoke
    from stacks.config import ConfigError, load_environment, read_cdk_context

    try:
        config = load_environment(read_cdk_context(args.cdk_json), args.env)
    except ConfigError as error:
        return _fail(str(error))
    try:
        session = boto3.Session(profile_name=args.profile, region_name=config.region)
        account = session.client("sts").get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as error:
        return _fail(credentials_problem(error) or f"cannot call AWS: {error}")
    if account != config.account:
        return _fail(f"the credentials are for account {account}, but environment {config.name!r} is {config.account}")
    target = SmokeTarget(
        env_name=config.name,
        stack_prefix=config.stack_name("").rstrip("-"),
        invocation_logging=config.llmops.enabled and config.llmops.invocation_logging,
    )
    try:
        results = run_smoke(session, target, only=args.only)
    except ValueError as error:
        return _fail(str(error))
    sys.stdout.write(render(results))
    return 1 if any(result.status == "fail" for result in results) else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "assess":
        return _assess(args)
    if args.command == "smoke":
        return _smoke(args)
    return _cost(args)


if __name__ == "__main__":
    sys.exit(main())
