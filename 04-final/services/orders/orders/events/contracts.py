"""The message contracts: one JSON Schema per message type and version (contracts/events/).

Checked twice: on publish (a producer cannot put a message on the wire that its consumers were
never promised) and on consume (a message that breaks its contract is poison: a dead letter at
once, never a crash, never a retry).
"""

import functools
import json
import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from jsonschema import Draft202012Validator, FormatChecker

FILE = re.compile(r"^(?P<type>[a-z_.]+)\.v(?P<version>\d+)\.json$")


class ContractError(Exception):
    """The message breaks its contract, or has none (unknown type, unknown version)."""


@functools.cache
def validators() -> dict[tuple[str, int], Draft202012Validator]:
    out = {}
    for path in sorted(settings.CONTRACTS_DIR.glob("*.json")):
        match = FILE.match(path.name)
        if match:
            schema = json.loads(path.read_text(encoding="utf-8"))
            out[(match["type"], int(match["version"]))] = Draft202012Validator(
                schema, format_checker=FormatChecker())
    if not out:
        raise ImproperlyConfigured(f"no message contracts in {settings.CONTRACTS_DIR}: set "
                                   "CONTRACTS_DIR to the stage's contracts/events folder")
    return out


def known_types() -> set[str]:
    return {message_type for message_type, _ in validators()}


def check(envelope) -> None:
    """Raise ContractError unless `envelope` is a message we have a contract for, and keeps it."""
    if not isinstance(envelope, dict):
        raise ContractError(f"a message is a JSON object, not {type(envelope).__name__}")
    message_type, version = envelope.get("type"), envelope.get("version")
    if message_type not in known_types():
        raise ContractError(f"unknown message type {message_type!r}")
    validator = validators().get((message_type, version))
    if validator is None:
        raise ContractError(f"{message_type} has no version {version!r} "
                            f"(known: {sorted(v for t, v in validators() if t == message_type)})")
    errors = sorted(validator.iter_errors(envelope), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(message)"
        raise ContractError(f"{message_type} v{version} at {where}: {errors[0].message}")
