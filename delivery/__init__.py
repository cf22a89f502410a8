"""What the delivery pipeline runs in its builds (CodeBuild, or the GitHub workflow's jobs) after a deploy.

``python3 -m delivery.source_commit`` (the commit a build deploys), ``python3 -m delivery.preprod_check`` (the
preprod tests) and ``python3 -m delivery.prompt_release`` (prompts as code). Runtime code for a build image with
boto3 only: it never imports ``aws_cdk`` or ``scripts`` (the developers' make targets); the emulator's tour
imports the prompt release to run it as the pipeline's prompt stage does.
"""
