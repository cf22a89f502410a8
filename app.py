#!/usr/bin/env python3
"""CDK entry point: `npx cdk deploy -c env=<name> --all` deploys one environment (default: dev)."""

from aws_cdk import App

from stacks.config import load_environment
from stacks.ladder import build_environment
from stacks.nag import enable_nag

app = App()
build_environment(app, load_environment(app.node.get_all_context()))
enable_nag(app)
app.synth()
