"""Set environment variables for the length of a block, as a service sets them for the code it runs.

The local runners (:mod:`emulator.lambda_runner`, :mod:`emulator.glue_runner`) run deployed code in this
process: the code reads ``os.environ`` as it would in its own execution environment, so the variables
the deployment gave it are set while it runs and put back exactly as they were afterwards (unset ones
removed again), whatever the code raised.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

__all__ = ["environment"]


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set inside the block; the previous values (or absence) restored after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
