"""Local AWS emulator for proving the deploy path without an AWS account or Docker.

Development and CI tooling only: product code (``stacks/``, ``app.py``, Lambda handlers) must never
import it.

* :mod:`emulator.server` - :class:`~emulator.server.LocalAws`, moto's server in-process on
  127.0.0.1, with :meth:`~emulator.server.LocalAws.env` for subprocesses such as the CDK CLI.
* :mod:`emulator.shims` - CloudFormation resource types moto ignores (Glue, Athena, SageMaker,
  bucket/topic policies, alarms, CodeBuild/CodePipeline, Bedrock guardrails, ...) and fixes for
  types moto mishandles (KMS keys, S3 buckets). :data:`~emulator.shims.SHIMMED_TYPES` says what each
  does and what it does not; :func:`~emulator.shims.emulation_status` classifies any type.
* :mod:`emulator.fixes` - corrections to moto's CloudFormation engine the CDK CLI runs into,
  listed in :data:`~emulator.fixes.ENGINE_FIXES`.
* :mod:`emulator.cleanup` - empties a stack's buckets (every version) before ``cdk destroy``.
* ``python -m emulator serve`` runs the emulator for manual ``npx cdk`` sessions;
  ``python -m emulator coverage TEMPLATE...`` prints what is emulated and what is not.

Importing :mod:`emulator.server` or :mod:`emulator.shims` registers the shims with moto for the
whole process; this package's ``__init__`` imports neither, so ``import emulator`` alone is free.
"""
