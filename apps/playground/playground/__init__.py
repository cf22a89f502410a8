"""The LLMOps playground's logic: configuration, catalog reads, gateway calls, scorecards.

Plain Python over boto3 clients, no Streamlit: the pages in :mod:`playground.ui` stay thin and these
modules are unit-tested on their own. The container image ships only ``apps/playground``, so nothing here
imports the project's ``lambdas/`` (the catalog's item layout is read here, see :mod:`playground.catalog`).
"""
