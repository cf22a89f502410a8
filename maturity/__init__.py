"""Where does an AWS account stand on the MLOps maturity ladder, and what do its environments cost idle?

``python -m maturity assess`` answers the production-readiness checklist for one account and region with
read-only calls and names the single next step (a stack of this project); ``python -m maturity cost``
estimates the idle monthly cost of the synthesized templates against each environment's budget.
Neither imports ``stacks/`` or ``aws_cdk``.
"""
