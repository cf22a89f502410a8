#!/usr/bin/env python3
"""CDK entry point: `npx cdk deploy -c env=<name> --all` deploys one environment (default: dev).

cdk.json is read and validated before aws_cdk and the stack modules are imported: a configuration error is
one sentence in a second or two, not a traceback after the seconds those imports take.
"""

import os
import sys

from stacks.config import (
    ENVIRONMENTS_KEY,
    ConfigError,
    cli_context,
    load_all_environments,
    load_environment,
    read_cdk_context,
)

context = cli_context(os.environ)
if context.get(ENVIRONMENTS_KEY) is None:
    # Run as `python app.py`: no CLI passed cdk.json's context (environments and feature flags).
    context = {**read_cdk_context(), **context}
try:
    config = load_environment(context)
    environments = {c.name: c for c in load_all_environments(context)}
except ConfigError as error:
    sys.exit(f"cdk.json: {error}")  # one sentence, not a traceback

from aws_cdk import App  # noqa: E402 - after the config check, see the docstring

from stacks.ladder import CODE_VERSION_KEY, UNKNOWN_CODE_VERSION, build_environment  # noqa: E402
from stacks.nag import enable_nag  # noqa: E402

app = App()
if app.node.try_get_context(ENVIRONMENTS_KEY) is None:
    app = App(context=read_cdk_context())
try:
    build_environment(
        app,
        config,
        code_version=str(app.node.try_get_context(CODE_VERSION_KEY) or UNKNOWN_CODE_VERSION),
        environments=environments,
    )
except ConfigError as error:
    sys.exit(f"cdk.json: {error}")  # one sentence, not a traceback
enable_nag(app)
app.synth()
