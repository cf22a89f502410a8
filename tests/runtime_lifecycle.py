"""End-of-life dates of the runtimes the delivery builds run on, for the tests that refuse an outdated one.

Node.js: the release schedule of the Node.js project (an even major is supported for 30 months). Python: PEP
602's five years per minor. A test reading these fails once a date passes: that is its job (move the build on).
"""

from __future__ import annotations

import datetime

NODE_END_OF_LIFE = {
    "18": datetime.date(2025, 4, 30),
    "20": datetime.date(2026, 4, 30),
    "22": datetime.date(2027, 4, 30),
    "24": datetime.date(2028, 4, 30),
}
PYTHON_END_OF_LIFE = {
    "3.10": datetime.date(2026, 10, 31),
    "3.11": datetime.date(2027, 10, 31),
    "3.12": datetime.date(2028, 10, 31),
    "3.13": datetime.date(2029, 10, 31),
    "3.14": datetime.date(2030, 10, 31),
}


def unsupported_reason(name: str, version: str, table: dict[str, datetime.date]) -> str | None:
    """Why `version` of `name` may not be used today, or None when it is supported."""
    if version not in table:
        return f"{name} {version!r} is not a release this project knows (known: {', '.join(table)})"
    if table[version] <= datetime.date.today():
        return f"{name} {version} reached end of life on {table[version].isoformat()}"
    return None
