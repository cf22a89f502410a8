#!/usr/bin/env python3
"""CDK entry point: `npx cdk deploy -c env=<name> --all` deploys one environment (default: dev)."""

import sys

from aws_cdk import App

from stacks.config import ENVIRONMENTS_KEY, ConfigError, load_all_environments, load_environment, read_cdk_context
from stacks.ladder import CODE_VERSION_KEY, UNKNOWN_CODE_VERSION, build_environment
from stacks.nag import enable_nag

app = App()
if app.node.try_get_context(ENVIRONMENTS_KEY) is None:
    # Run as `python app.py`: no CLI passed cdk.json's context (environments and feature flags).
    app = App(context=read_cdk_context())
try:
    context = app.node.get_all_context()
    build_environment(
        app,
        load_environment(context),
        code_version=str(app.node.try_get_context(CODE_VERSION_KEY) or UNKNOWN_CODE_VERSION),
        environments={c.name: c for c in load_all_environments(context)},
    )
except ConfigError as error:
    sys.exit(f"cdk.json: {error}")  # one sentence, not a traceback
enable_nag(app)
app.synth()
