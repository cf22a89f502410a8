"""Identity and paths of constructs without a round trip to the CDK's Node.js runtime.

Every attribute read on a construct (``construct.node`` then ``.path``) is a round trip from Python to
the jsii runtime (about a millisecond each, and a synth makes thousands). What never changes once a
construct exists is read once and kept here, keyed by the runtime's id of the object.
"""

from __future__ import annotations

from typing import Any

from constructs import IConstruct


def jsii_id(obj: Any) -> str:
    """The jsii runtime's id of `obj`: one per object on the Node.js side, never reused within a process.

    Python proxies of one construct are not always the same Python object (one the CDK returns is a new
    proxy each time), so caches are keyed by this id rather than by the Python object.
    """
    return str(obj.__jsii_ref__.ref)


_PATHS: dict[str, str] = {}


def node_path(construct: IConstruct) -> str:
    """``construct.node.path``, read once per construct (a construct's path never changes)."""
    key = jsii_id(construct)
    path = _PATHS.get(key)
    if path is None:
        path = _PATHS[key] = construct.node.path
    return path
