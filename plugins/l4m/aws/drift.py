"""Does an AWS resource still match the request that made it?

AWS describes resources with more fields than we send (defaults, timestamps, ARNs).
Those are not drift; a field we send with a different value is, and so is a list of
another length. Pure functions.
"""
from __future__ import annotations


def drift(desired: object, actual: object, path: str = "") -> list[str]:
    """Paths (``a.b[2].c``) where ``actual`` does not hold ``desired``; [] when it does.

    Dictionaries: every key of ``desired`` must match in ``actual`` (extra keys are
    fine). Lists: same length, item by item. Anything else: equal values.
    """
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return [path or "<root>"]
        found: list[str] = []
        for key, value in desired.items():
            where = f"{path}.{key}" if path else str(key)
            found += drift(value, actual[key], where) if key in actual else [where]
        return found
    if isinstance(desired, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(desired):
            return [path or "<root>"]
        found = []
        for i, (want, have) in enumerate(zip(desired, actual)):
            found += drift(want, have, f"{path}[{i}]")
        return found
    return [] if desired == actual else [path or "<root>"]
