"""The message contracts' guard: a schema change that breaks a reader is caught, one that does
not passes.

Runs contracts/compat.py as a developer or CI would, on a copy of contracts/events/ edited the
way people change contracts: each rule of the check (its docstring) has a case here.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

STAGE = Path(__file__).resolve().parents[1]
COMPAT = STAGE / "contracts" / "compat.py"
EVENTS = STAGE / "contracts" / "events"


def compat(*args):
    return subprocess.run([sys.executable, str(COMPAT), *args], capture_output=True, text=True)


def test_the_schemas_as_committed_break_nothing():
    result = compat("--breaking")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no breaking change" in result.stdout


def test_the_lock_holds_every_committed_schema():
    """A schema never locked is guarded by nothing: --lock after adding one."""
    lock = json.loads((STAGE / "contracts" / "events-lock.json").read_text())
    files = sorted(p.name.removesuffix(".json") for p in EVENTS.glob("*.json"))
    assert sorted(lock) == files, "run `python contracts/compat.py --lock` in 03-events"


@pytest.fixture
def events(tmp_path):
    copy = tmp_path / "events"
    shutil.copytree(EVENTS, copy)
    return copy


def edit(events: Path, name: str, change) -> None:
    path = events / f"{name}.json"
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(json.dumps(schema, indent=2))


def payload(schema):
    return schema["properties"]["payload"]


def line(schema):
    return payload(schema)["properties"]["lines"]["items"]


def breaking(events: Path):
    return compat("--breaking", "--events", str(events))


def remove_field(schema):
    del payload(schema)["properties"]["reason"]
    payload(schema)["required"].remove("reason")


def retype_field(schema):
    payload(schema)["properties"]["total_cents"]["type"] = "string"


def make_required(schema):
    payload(schema)["properties"]["note"] = {"type": "string"}
    payload(schema)["required"].append("note")


def make_optional(schema):
    payload(schema)["required"].remove("reason")


def tighten(schema):
    line(schema)["properties"]["quantity"]["minimum"] = 2


def add_enum_value(schema):
    payload(schema)["properties"]["status"]["enum"].append("shipped")


def add_unknown_keyword(schema):
    payload(schema)["properties"]["reason"]["oneOf"] = [{"type": "string"}]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (remove_field, "order.changed.v1 payload.reason: removed"),
        (retype_field,
         'order.changed.v1 payload.total_cents: type changed from "integer" to "string"'),
        (make_required, "order.changed.v1 payload.note: a new required field"),
        (make_optional, "order.changed.v1 payload.reason: was required, now optional"),
        (tighten, "order.changed.v1 payload.lines[].quantity: minimum changed from 1 to 2"),
        (add_enum_value, "order.changed.v1 payload.status: enum changed"),
        (add_unknown_keyword, "order.changed.v1 payload.reason: oneOf changed"),
    ],
    ids=lambda v: v.__name__ if callable(v) else "",
)
def test_a_breaking_change_is_caught_and_named(events, change, says):
    edit(events, "order.changed.v1", change)
    result = breaking(events)
    assert result.returncode == 1, result.stdout
    assert says in result.stdout, result.stdout


def test_an_optional_field_that_was_made_required_is_caught(events):
    def add_optional(schema):
        payload(schema)["properties"]["note"] = {"type": "string"}

    edit(events, "order.rejected.v1", add_optional)
    assert compat("--lock", "--events", str(events), "--lock-file",
                  str(events.parent / "lock.json")).returncode == 0
    edit(events, "order.rejected.v1", lambda s: payload(s)["required"].append("note"))
    result = compat("--breaking", "--events", str(events), "--lock-file",
                    str(events.parent / "lock.json"))
    assert result.returncode == 1
    assert "order.rejected.v1 payload.note: was optional, now required" in result.stdout


def test_a_removed_version_file_is_caught(events):
    (events / "saga.charge_payment.v1.json").unlink()
    result = breaking(events)
    assert result.returncode == 1
    assert "saga.charge_payment.v1: removed" in result.stdout


def test_adding_an_optional_field_passes(events):
    def add_optional(schema):
        payload(schema)["properties"]["coupon"] = {"type": "string"}
        line(schema)["properties"]["gift_wrap"] = {"type": "boolean"}

    edit(events, "order.changed.v1", add_optional)
    result = breaking(events)
    assert result.returncode == 0, result.stdout


def test_words_for_people_may_change(events):
    def reword(schema):
        schema["title"] = "order.changed v1: reworded"
        payload(schema)["properties"]["reason"]["description"] = "why it was rejected"

    edit(events, "order.changed.v1", reword)
    assert breaking(events).returncode == 0


def test_a_new_major_version_may_break_its_predecessor(events):
    """v2 beside v1: v1 stays as it was (its readers keep reading it), v2 has no baseline."""
    schema = json.loads((events / "order.rejected.v1.json").read_text())
    schema["properties"]["version"] = {"const": 2}
    del payload(schema)["properties"]["customer_id"]
    payload(schema)["required"].remove("customer_id")
    payload(schema)["properties"]["reason"] = {"enum": ["out_of_stock", "payment_declined"]}
    (events / "order.rejected.v2.json").write_text(json.dumps(schema, indent=2))
    result = breaking(events)
    assert result.returncode == 0, result.stdout
