"""Provider verification of the message pacts: the messages the orders service really writes to
its outbox honour what every consumer declared (test_message_pacts_consumers.py wrote the pacts:
../../../../pacts/<consumer>-orders.json).

Nothing here builds a message by hand. Three orders are placed through the API and their sagas
run to the end, each message delivered to the real consumer in this process (tests/conftest.py:
settle): one is confirmed, one's payment never answers (refunded, released, rejected), one's
card is declined (released, rejected). Between them they write every message type there is;
each type's outbox row (its body, and the headers the relay publishes it with) is what pact's
verifier receives when it asks for that message. The rows are read before the verifier starts:
it asks for messages from a thread of its own, which must not share the test's transaction.
A second test renames one field where the producer builds it (and in its schema, as a careless
change would) and proves the verification then fails on that field.
"""

import json
import re
import shutil
from pathlib import Path

import pytest
from orders.events import consumer, contracts
from orders.projections import order_history
from pact import Verifier

from orders.models import OutboxMessage

from ..conftest import DECLINED_CARD, GOOD_CARD, settle

PACTS = Path(__file__).resolve().parents[4] / "pacts"
CONTRACTS = PACTS.parent / "contracts" / "events"
TIMEOUT_CARD = "4000000000000119"  # the fake provider never answers for it (payments/provider.py)

# What the consumers call each message (the interaction's description) -> its type.
MESSAGES = {
    "a saga.reserve_stock command": "saga.reserve_stock",
    "a saga.charge_payment command": "saga.charge_payment",
    "a saga.confirm_order command": "saga.confirm_order",
    "a saga.refund_payment command": "saga.refund_payment",
    "a saga.release_stock command": "saga.release_stock",
    "an order.confirmed event": "order.confirmed",
    "an order.rejected event": "order.rejected",
    "an order.changed event": "order.changed",
}
# The situations the consumers name: the three orders produce() places cover every one.
STATES = {
    "an order was placed", "an order's units are reserved",
    "an order's units are reserved and its card charged",
    "an order's charge did not answer in time", "an order's card was declined",
    "an order was confirmed", "an order was rejected",
}

pytestmark = pytest.mark.django_db


def message_pacts() -> list[Path]:
    """Every committed pact of asynchronous messages (the storefront's is HTTP)."""
    return sorted(path for path in PACTS.glob("*.json")
                  if any(i["type"] == "Asynchronous/Messages"
                         for i in json.loads(path.read_text())["interactions"]))


def produce(api, product) -> dict[str, dict]:
    """Every message type, written by the orders service's own code: each type's last row (the
    declined card last: its release and rejection are the ones the pacts' states describe)."""
    for card in (GOOD_CARD, TIMEOUT_CARD, DECLINED_CARD):
        resp = api.post("/api/v1/orders/", {"lines": [{"product_id": product["id"],
                                                      "quantity": 1}],
                                            "card_number": card}, format="json")
        assert resp.status_code == 202, resp.content
    settle()
    return {row.type: row.envelope for row in OutboxMessage.objects.order_by("position")}


def as_published(envelope: dict) -> dict:
    """The message as the relay puts it on the broker: the envelope, and its headers."""
    return {"contents": json.dumps(envelope).encode(), "content_type": "application/json",
            "metadata": consumer.headers(envelope)}


def check_state(state, action, parameters):  # pact's own parameter names
    if state not in STATES:
        raise ValueError(f"unknown provider state {state!r}: add it to STATES and to produce()")


def verify(produced: dict[str, dict]) -> Verifier:
    verifier = (
        Verifier("orders")
        .message_handler({description: as_published(produced[message_type])
                          for description, message_type in MESSAGES.items()})
        .state_handler(check_state, teardown=False)
    )
    for path in message_pacts():
        verifier.add_source(path)
    return verifier


def test_every_message_type_has_a_schema_and_a_consumer_pact():
    declared = {i["contents"]["content"]["type"] for path in message_pacts()
                for i in json.loads(path.read_text())["interactions"]}
    schemas = {p.name.split(".v")[0] for p in CONTRACTS.glob("*.json")}
    assert declared == schemas == set(MESSAGES.values())


def test_each_committed_pact_pins_every_field_its_schema_requires():
    """A consumer's first act is the contract check: a field the schema requires, the consumer
    relies on, so its pact must say so (the consumer test checks the fields it reads itself)."""

    def missing(schema, body, where=""):
        out = [f"{where}{name}" for name in schema.get("required", []) if name not in body]
        for name, sub in schema.get("properties", {}).items():
            if isinstance(body.get(name), dict):
                out += missing(sub, body[name], f"{where}{name}.")
            elif isinstance(body.get(name), list) and "items" in sub:
                for item in body[name]:
                    out += missing(sub["items"], item, f"{where}{name}[].")
        return out

    for path in message_pacts():
        for interaction in json.loads(path.read_text())["interactions"]:
            body = interaction["contents"]["content"]
            schema = json.loads((CONTRACTS / f"{body['type']}.v{body['version']}.json")
                                .read_text())
            assert not missing(schema, body), (path.name, interaction["description"],
                                               missing(schema, body))


def test_the_messages_the_service_writes_honour_every_consumers_pact(alice_api, product):
    produced = produce(alice_api, product)
    assert set(produced) == contracts.known_types(), "a message type was not produced"
    for envelope in produced.values():
        contracts.check(envelope)  # strict, as on publish: each validates against its schema
    assert len(message_pacts()) == 3, [p.name for p in message_pacts()]
    verify(produced).verify()


def test_a_renamed_field_fails_verification(alice_api, product, settings, tmp_path,
                                            monkeypatch, capfd):
    """order.changed's `total_cents` renamed `total` where the producer builds it, and in its
    schema too (or the producer's own check would stop it first): the order-history consumer
    reads `total_cents`, and its pact says so."""
    events = tmp_path / "events"
    shutil.copytree(CONTRACTS, events)
    schema_file = events / "order.changed.v1.json"
    schema = schema_file.read_text()
    assert '"total_cents"' in schema, "the field is gone from the schema: update this test"
    schema_file.write_text(schema.replace('"total_cents"', '"total"'))
    settings.CONTRACTS_DIR = events
    contracts.validators.cache_clear()
    built = order_history.changed

    def renamed(order):
        payload = built(order)
        payload["total"] = payload.pop("total_cents")
        return payload

    monkeypatch.setattr(order_history, "changed", renamed)
    # The service's own projection would fail on it first: it is not what is tested here.
    monkeypatch.setitem(consumer.HANDLERS, "order.changed", lambda message: None)
    try:
        produced = produce(alice_api, product)
    finally:
        contracts.validators.cache_clear()  # the next test reads the real schemas again
    assert "total" in produced["order.changed"]["payload"]
    with pytest.raises(RuntimeError):
        verify(produced).verify()
    report = re.sub(r"\x1b\[[0-9;]*m", "", capfd.readouterr().out)
    # Failed for the right reason: that field, in that consumer's message, and nothing else.
    assert ("Verifying a pact between order-history and orders Given an order was confirmed - "
            "an order.changed event") in report, report[-3000:]
    assert "$.payload -> Actual map is missing the following keys: total_cents" in report, (
        report[-3000:])
    assert "There were 1 pact failures" in report, report[-3000:]
