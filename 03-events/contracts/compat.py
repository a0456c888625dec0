"""Guard the message contracts against breaking changes, as protos/build.py --breaking guards
the protos.

    python contracts/compat.py --breaking   fail if a schema breaks readers built on the lock
    python contracts/compat.py --lock       accept the current schemas as the new baseline

Every message type has one JSON Schema per major version, `events/<type>.v<N>.json`. The lock,
events-lock.json, keeps each version as consumers were built against it. A message in flight,
or one replayed from the outbox (`rebuild_projection`), may be read by a consumer built on
either side of a change, so a change must keep both reading:

- removing a field, or a whole locked version file: breaking (a reader still uses it);
- changing a field's type, const, enum or any constraint (format, pattern, minimum, ...):
  breaking (tightened: old messages fail new readers; loosened: new messages fail old ones);
- making an optional field required, or a required one optional: breaking;
- adding a required field: breaking (an old message, replayed, lacks it);
- adding an optional field: compatible. Readers ignore fields they do not know (the consumer
  checks with a tolerant copy of the schema: orders/events/contracts.py), so an old reader
  takes a new message, and a new reader takes an old one without the field.
- a keyword this checker does not reason about ($ref, oneOf, ...) that changed: breaking, to
  be looked at by a person.

For a real break, add `<type>.v<N+1>.json` beside the old version (new files have no baseline,
so nothing to break), publish both while consumers move, then remove the old one and --lock.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVENTS = HERE / "events"
LOCK = HERE / "events-lock.json"
FILE = re.compile(r"^(?P<type>[a-z_.]+)\.v(?P<version>\d+)\.json$")

# What a value may be: any change to one of these changes which messages are valid.
VALUE_KEYWORDS = (
    "type", "const", "enum", "format", "pattern", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "minItems", "maxItems",
    "uniqueItems",
)
# Compared structurally below.
STRUCTURE_KEYWORDS = ("properties", "required", "items")
# Words for people (and additionalProperties: readers are tolerant, see the docstring).
IGNORED_KEYWORDS = ("$schema", "$id", "$comment", "title", "description", "examples",
                    "default", "deprecated", "additionalProperties")


def load(folder: Path = EVENTS) -> dict[str, dict]:
    """Every schema in `folder`, by `<type>.v<N>` (a file of another name is an error)."""
    out = {}
    for path in sorted(folder.glob("*.json")):
        if not FILE.match(path.name):
            raise SystemExit(f"{path.name}: a message contract is named <type>.v<N>.json")
        out[path.name.removesuffix(".json")] = json.loads(path.read_text(encoding="utf-8"))
    return out


def _show(value) -> str:
    return "(none)" if value is None else json.dumps(value, sort_keys=True)


def compare(old: dict, new: dict, where: str) -> list[str]:
    """How `new` breaks readers of `old`, for one (sub)schema at `where`."""
    problems = []
    for key in VALUE_KEYWORDS:
        if old.get(key) != new.get(key):
            problems.append(f"{where}: {key} changed from {_show(old.get(key))} "
                            f"to {_show(new.get(key))}")
    known = set(VALUE_KEYWORDS) | set(STRUCTURE_KEYWORDS) | set(IGNORED_KEYWORDS)
    for key in sorted((set(old) | set(new)) - known):
        if old.get(key) != new.get(key):
            problems.append(f"{where}: {key} changed (this check does not reason about {key}: "
                            "treated as breaking)")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name in old_props:
        field = f"{where}.{name}" if where else name
        if name not in new_props:
            problems.append(f"{field}: removed")
            continue
        if name in old_required and name not in new_required:
            problems.append(f"{field}: was required, now optional (old readers rely on it)")
        elif name in new_required and name not in old_required:
            problems.append(f"{field}: was optional, now required (old messages lack it)")
        problems += compare(old_props[name], new_props[name], field)
    for name in new_props:
        if name not in old_props and name in new_required:
            field = f"{where}.{name}" if where else name
            problems.append(f"{field}: a new required field (old messages lack it; add it "
                            "as optional, or make a new version)")
    if "items" in old or "items" in new:
        problems += compare(old.get("items", {}), new.get("items", {}), f"{where}[]")
    return problems


def breaking_changes(old: dict[str, dict], new: dict[str, dict]) -> list[str]:
    """Every way the schemas `new` break readers built on the locked `old` (empty: none)."""
    problems = []
    for name, schema in old.items():
        if name not in new:
            problems.append(f"{name}: removed (readers of it still receive it: remove it once "
                            "none does, and --lock)")
            continue
        problems += [f"{name} {problem}" for problem in compare(schema, new[name], "")]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--breaking", action="store_true", help="fail on a breaking change")
    mode.add_argument("--lock", action="store_true", help="accept the schemas as the baseline")
    parser.add_argument("--events", type=Path, default=EVENTS,
                        help="the folder of schemas to read (default: events/ beside this file)")
    parser.add_argument("--lock-file", type=Path, default=LOCK, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    current = load(args.events)
    if args.lock:
        args.lock_file.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n",
                                  encoding="utf-8")
        print(f"wrote {args.lock_file.name}: {len(current)} message contracts")
        return 0
    problems = breaking_changes(json.loads(args.lock_file.read_text(encoding="utf-8")), current)
    for problem in problems:
        print(f"BREAKING  {problem}")
    if problems:
        print("Consumers built on the lock would break. Add an optional field instead of "
              "changing one; for a real break, add <type>.v<N+1>.json beside the old version.")
        return 1
    print(f"no breaking change against {args.lock_file.name} ({len(current)} message contracts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
