"""Parallel run: does the new side answer like the old one?

In shadow mode the customer always gets the old side's answer; a copy of the request goes to
the new side and the two answers are compared here. Some fields differ by nature (a new
database hands out other ids, timestamps are never equal), so the route lists them in
`ignore_fields`:
    "created_at"        a bare name is ignored at any depth, in every object
    "items.unit_price"  a dotted path is ignored only there (lists are walked through:
                        "items.unit_price" means that key in every element of "items")
"""

from __future__ import annotations

import json
from typing import Any

MAX_DIFFS = 5  # a log line, not a report: the first few differences say enough
_MISSING = object()


class Ignore:
    def __init__(self, fields: tuple[str, ...] | list[str]) -> None:
        self.anywhere = frozenset(f for f in fields if "." not in f)
        self.paths = frozenset(f for f in fields if "." in f)

    def strip(self, value: Any, path: str = "") -> Any:
        if isinstance(value, dict):
            kept = {}
            for key, item in value.items():
                dotted = f"{path}.{key}" if path else str(key)
                if key in self.anywhere or dotted in self.paths:
                    continue
                kept[key] = self.strip(item, dotted)
            return kept
        if isinstance(value, list):
            return [self.strip(item, path) for item in value]
        return value


def compare(
    old_status: int, old_body: bytes, new_status: int, new_body: bytes, ignore: Ignore
) -> list[str]:
    """The differences between two answers, worded for a log line; empty means they agree."""
    diffs: list[str] = []
    if old_status != new_status:
        diffs.append(f"status: {old_status} (old) != {new_status} (new)")
    old_json, new_json = _json(old_body), _json(new_body)
    if old_json is _MISSING and new_json is _MISSING:
        if old_body != new_body:
            diffs.append(f"body: not JSON and not equal ({len(old_body)} vs {len(new_body)} bytes)")
    elif old_json is _MISSING or new_json is _MISSING:
        which = "old" if old_json is _MISSING else "new"
        diffs.append(f"body: the {which} side's answer is not JSON")
    else:
        _diff(ignore.strip(old_json), ignore.strip(new_json), "$", diffs)
    if len(diffs) > MAX_DIFFS:
        return [*diffs[:MAX_DIFFS], "... and more"]
    return diffs


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:  # also UnicodeDecodeError
        return _MISSING


def _diff(old: Any, new: Any, path: str, out: list[str]) -> None:
    if len(out) > MAX_DIFFS:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys(), key=str):
            _diff(old.get(key, _MISSING), new.get(key, _MISSING), f"{path}.{key}", out)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            out.append(f"{path}: {len(old)} items (old) != {len(new)} items (new)")
        for index, (a, b) in enumerate(zip(old, new, strict=False)):
            _diff(a, b, f"{path}[{index}]", out)
    elif old != new or type(old) is not type(new):
        # type check: 1 == 1.0 == True in Python, but "1" vs 1 vs true differ on the wire
        out.append(f"{path}: {_short(old)} (old) != {_short(new)} (new)")


def _short(value: Any) -> str:
    if value is _MISSING:
        return "<missing>"
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
