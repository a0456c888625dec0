"""What each consumer of the orders service's messages relies on, written down as message pacts
(consumer side; pact-python 4, asynchronous message interactions).

Three consumers read the messages the orders service writes to its outbox:
- `place-order-saga`: the saga's steps (the worker runs a command's participant, then records
  the reply): saga.reserve_stock, charge_payment, confirm_order, refund_payment, release_stock;
- `notifications`: order.confirmed (the email), order.rejected;
- `order-history`: order.changed (the CQRS read model).

Each test declares one message, with matchers for what may vary (ids, times, amounts), hands
pact's example of it to the REAL consumer (`consumer.consume`, the Celery task the worker runs,
in this process against the test database and the monolith's real gRPC server), and checks its
effect: a message the consumer cannot use fails here, not in production. While it runs, every
field the consumer reads is recorded: a field read but not in the pact fails the test (the
provider would be free to drop it). The pacts are written to a temporary folder and compared
with the committed ones, ../../../../pacts/<consumer>-orders.json, which the provider verifies
(test_message_pacts_provider.py). To accept a change on purpose:

    python -m pytest tests/contract/test_message_pacts_consumers.py --update-pact
    (in 03-events/services/orders; then commit pacts/*-orders.json)
"""

import json
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone
from orders.events import consumer, contracts
from pact import Pact, match

from orders.clients import inventory
from orders.models import (
    DeadLetter,
    InboxMessage,
    Order,
    OrderLine,
    OutboxMessage,
    PlaceOrderSaga,
)
from payments.models import Payment

from ..conftest import GOOD_CARD

PACTS = Path(__file__).resolve().parents[4] / "pacts"
PROVIDER = "orders"
ORDER_ID = 4242  # the examples' order: each test makes it, in the state its message expects

UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ISO_8601 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
TRACEPARENT = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"

pytestmark = pytest.mark.django_db


def envelope(message_type: str, message_id: str, payload: dict) -> dict:
    """Every message's envelope (outbox.envelope). The consumer checks it against the type's
    schema before anything else, so it relies on every field of it."""
    return {
        "id": match.regex(message_id, regex=UUID),
        "type": message_type,
        "version": 1,
        "occurred_at": match.regex("2026-11-25T10:00:00.123456+00:00", regex=ISO_8601),
        "aggregate_id": match.regex(str(ORDER_ID), regex=r"^[1-9][0-9]*$"),
        "traceparent": match.regex("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                   regex=TRACEPARENT),
        "payload": payload,
    }


def command(message_type: str, message_id: str) -> dict:
    return envelope(message_type, message_id, {"order_id": match.int(ORDER_ID)})


LINE = {"product_id": match.int(1), "quantity": match.int(2)}
FULL_LINE = {**LINE, "product_name": match.str("Espresso cup"),
             "unit_price_cents": match.int(900)}


# ---------------------------------------------------------------------------------------------
# The consumer's side of each message: the state it expects, and the effect it must have.


MADE: list[str] = []  # the reservation ids of this test's order


@pytest.fixture(autouse=True)
def _give_back_held_units(monolith):
    """A reservation left held would come back to the stock when its hold runs out, in the
    middle of a later test that counts the stock: give it back now."""
    yield
    while MADE:
        reservation_id = MADE.pop()
        if (monolith.reservation(reservation_id) or ("",))[0] == "pending":
            inventory._release_once(reservation_id)


def make_order(product, saga_state: str, status: str = "pending", total: int = 0) -> Order:
    order = Order.objects.create(id=ORDER_ID, customer_id=1, status=status, total_cents=total,
                                 reservation_id=f"pact-{uuid.uuid4()}")
    MADE.append(order.reservation_id)
    OrderLine.objects.create(order=order, product_id=product["id"],
                             product_name=product["name"], quantity=1,
                             unit_price_cents=product["price_cents"])
    PlaceOrderSaga.objects.create(order=order, state=saga_state,
                                  data={"card_number": GOOD_CARD, "email": "alice@example.com"},
                                  step_deadline=timezone.now() + timedelta(minutes=5))
    return order


def saga_state() -> str:
    return PlaceOrderSaga.objects.get(order_id=ORDER_ID).state


def reserved(order, product):
    inventory.reserve(order.reservation_id, {product["id"]: 1})


class Step:
    """A saga command: the saga is in `state`; once consumed it is in `then`."""

    def __init__(self, state, then, before=None, check=None):
        self.state, self.then, self.before, self.check = state, then, before, check

    def arrange(self, product):
        order = make_order(product, self.state, total=product["price_cents"])
        if self.before:
            self.before(order, product)
        return order

    def assert_effect(self, order, monolith):
        assert saga_state() == self.then
        assert InboxMessage.objects.filter(consumer="saga").count() == 1
        if self.check:
            assert self.check(order, monolith), f"{self.state}: the step had no effect"


def charged(order, _product):
    Payment.objects.create(order=order, amount_cents=order.total_cents, status="charged",
                           charge_ref="ch_pact", card_last4="4242")


INTERACTIONS = {
    # consumer -> [(description, provider state, body, arrange + effect)]
    "place-order-saga": [
        ("a saga.reserve_stock command", "an order was placed",
         command("saga.reserve_stock", "5b0e5a8c-3f1a-4c55-9a55-0c7d7a1c0001"),
         Step("reserving", "charging",
              check=lambda order, monolith:
              monolith.reservation(order.reservation_id)[0] == "pending")),
        ("a saga.charge_payment command", "an order's units are reserved",
         command("saga.charge_payment", "5b0e5a8c-3f1a-4c55-9a55-0c7d7a1c0002"),
         Step("charging", "confirming",
              check=lambda order, _: Payment.objects.get(order=order).status == "charged")),
        ("a saga.confirm_order command", "an order's units are reserved and its card charged",
         command("saga.confirm_order", "5b0e5a8c-3f1a-4c55-9a55-0c7d7a1c0003"),
         Step("confirming", "confirmed", before=reserved)),
        ("a saga.refund_payment command", "an order's charge did not answer in time",
         command("saga.refund_payment", "5b0e5a8c-3f1a-4c55-9a55-0c7d7a1c0004"),
         Step("refunding", "releasing", before=charged,
              check=lambda order, _: Payment.objects.get(order=order).status == "refunded")),
        ("a saga.release_stock command", "an order's card was declined",
         command("saga.release_stock", "5b0e5a8c-3f1a-4c55-9a55-0c7d7a1c0005"),
         Step("releasing", "rejected", before=reserved,
              check=lambda order, monolith:
              monolith.reservation(order.reservation_id)[0] == "released")),
    ],
    "notifications": [
        ("an order.confirmed event", "an order was confirmed",
         envelope("order.confirmed", "5b0e5a8c-3f1a-4c55-9a55-0c7d7a1c0006", {
             "order_id": match.int(ORDER_ID), "customer_id": match.int(1),
             "total_cents": match.int(1800), "lines": match.each_like(LINE),
             "customer_email": match.str("alice@example.com")}),
         "email"),
        ("an order.rejected event", "an order was rejected",
         envelope("order.rejected", "5b0e5a8c-3f1a-4c55-9a55-0c7d7a1c0007", {
             "order_id": match.int(ORDER_ID), "customer_id": match.int(1),
             "reason": match.str("payment_declined")}),
         "noted"),
    ],
    "order-history": [
        ("an order.changed event", "an order was confirmed",
         envelope("order.changed", "5b0e5a8c-3f1a-4c55-9a55-0c7d7a1c0008", {
             "order_id": match.int(ORDER_ID), "customer_id": match.int(1),
             "status": match.regex("confirmed", regex=r"^(pending|confirmed|rejected|cancelled)$"),
             "reason": match.str(""), "total_cents": match.int(1800),
             "created_at": match.regex("2026-11-25T10:00:00.123456+00:00", regex=ISO_8601),
             "lines": match.each_like(FULL_LINE)}),
         "projected"),
    ],
}
CASES = [(name, *case) for name, cases in INTERACTIONS.items() for case in cases]


def arrange_and_check(effect, message, product, monolith):
    """Set up what the consumer expects for `message`; returns the check of its effect."""
    if isinstance(effect, Step):
        order = effect.arrange(product)
        return lambda: effect.assert_effect(order, monolith)
    if effect == "email":
        make_order(product, "confirmed", status="confirmed")

        def emailed():
            assert [m.to for m in mail.outbox] == [[message["payload"]["customer_email"]]]
            assert InboxMessage.objects.filter(consumer="notifications").count() == 1
        return emailed
    if effect == "noted":
        make_order(product, "rejected", status="rejected")
        return lambda: InboxMessage.objects.get(consumer="notifications")
    if effect == "projected":
        from orders.projections import order_history

        # The projection orders events by their outbox position: the event is in the outbox.
        OutboxMessage.objects.create(message_id=message["id"], type=message["type"], version=1,
                                     aggregate_id=message["aggregate_id"], envelope=message,
                                     sent_at=timezone.now())

        def projected():
            rows = [row[:5] for row in order_history.rows()]
            p = message["payload"]
            assert rows == [(ORDER_ID, p["customer_id"], p["status"], p["reason"],
                             p["total_cents"])], rows
        return projected
    raise AssertionError(effect)


# ---------------------------------------------------------------------------------------------
# Which fields the consumer reads: every read outside the contract check is recorded.


class Reads(dict):
    """A message that records the path of every field read from it (also `.get` of a field
    that is not there: a consumer that falls back to a default still relies on the field)."""

    def __init__(self, data, path, log):
        super().__init__(data)
        self._path, self._log = path, log

    def _wrap(self, key, value):
        path = f"{self._path}.{key}" if self._path else key
        if isinstance(value, dict):
            return Reads(value, path, self._log)
        if isinstance(value, list):
            return [Reads(v, f"{path}[]", self._log) if isinstance(v, dict) else v
                    for v in value]
        return value

    def __getitem__(self, key):
        self._log.add(f"{self._path}.{key}" if self._path else key)
        return self._wrap(key, super().__getitem__(key))

    def get(self, key, default=None):
        self._log.add(f"{self._path}.{key}" if self._path else key)
        return self._wrap(key, super().get(key, default)) if key in self else default


def paths(value, prefix="") -> set[str]:
    out = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            out |= {path} | paths(item, path)
    elif isinstance(value, list):
        for item in value:
            out |= paths(item, f"{prefix}[]")
    return out


@pytest.fixture
def read_fields(monkeypatch):
    """The contract check reads every field; only the consumer's own reads count."""
    log: set[str] = set()
    check = contracts.check

    def quiet_check(message, *args, **kwargs):
        plain = json.loads(json.dumps(message))
        return check(plain, *args, **kwargs)

    monkeypatch.setattr(contracts, "check", quiet_check)
    return log


# ---------------------------------------------------------------------------------------------
# The pacts: written per test into a temporary folder, compared with the committed ones.


@pytest.fixture(scope="module")
def written(tmp_path_factory, request):
    out = tmp_path_factory.mktemp("pacts")
    yield out
    fresh = {path.name: json.loads(path.read_text()) for path in out.glob("*.json")}
    if not fresh:
        return  # no test got as far as writing: their own failures say why
    ran = len([item for item in request.session.items if item.module is request.module
               and item.originalname == "test_the_consumer_handles_the_message_it_relies_on"])
    whole = ran == len(CASES) == sum(len(p["interactions"]) for p in fresh.values())
    if request.config.getoption("--update-pact"):
        assert whole, "run the whole module (no -k) to update the pacts"
        for name in fresh:
            shutil.copyfile(out / name, PACTS / name)  # byte for byte, as pact wrote it
        return
    problems = []
    for name in sorted({f"{who}-{PROVIDER}.json" for who in INTERACTIONS}):
        committed = PACTS / name
        if not committed.exists():
            problems.append(f"{name} is not committed")
        elif name in fresh:
            problems += [f"{name}: {p}" for p in drift(fresh[name],
                                                       json.loads(committed.read_text()), whole)]
    assert not problems, (
        f"the message pacts changed: {'; '.join(problems)}. If that is meant, run `python -m "
        "pytest tests/contract/test_message_pacts_consumers.py --update-pact` in "
        "03-events/services/orders and commit pacts/*-orders.json (the provider verifies them: "
        "tests/contract/test_message_pacts_provider.py).")


def drift(fresh: dict, committed: dict, whole: bool) -> list[str]:
    """As the storefront's pact test does: interactions new or different; with the whole module
    run, also committed ones no test writes any more."""
    by_name = {i["description"]: i for i in committed["interactions"]}
    problems = [f"{i['description']!r} differs" if i["description"] in by_name
                else f"{i['description']!r} is new"
                for i in fresh["interactions"] if by_name.get(i["description"]) != i]
    if whole:
        written = {i["description"] for i in fresh["interactions"]}
        problems += [f"{name!r} is no longer written" for name in by_name if name not in written]
        if fresh["metadata"] != committed["metadata"]:
            problems.append("the pact's metadata (pact versions) differs")
    return problems


@pytest.mark.parametrize(("consumer_name", "description", "state", "body", "effect"), CASES,
                         ids=[f"{c[0]}:{c[1].split()[1]}" for c in CASES])
def test_the_consumer_handles_the_message_it_relies_on(
        consumer_name, description, state, body, effect, written, product, monolith,
        read_fields):
    pact = Pact(consumer_name, PROVIDER).with_specification("V4")
    (pact.upon_receiving(description, "Async")
         .given(state)
         .with_body(body, content_type="application/json"))
    checks = []

    def handle(contents, metadata):
        message = json.loads(contents)
        checks.append(arrange_and_check(effect, message, product, monolith))
        consumer.consume(Reads(message, "", read_fields))  # the worker's task, in this process
        assert not DeadLetter.objects.exists(), DeadLetter.objects.values("kind", "error")[0]
        checks[-1]()
        unpinned = read_fields - paths(message)
        assert not unpinned, f"the consumer reads {sorted(unpinned)}, which the pact lacks"

    errors = pact.verify(handle, "Async", raises=False)
    if errors:  # the consumer's own failure, with its traceback, rather than pact's summary
        raise errors[0].error
    assert checks, "pact handed the consumer no message"
    pact.write_file(written, overwrite=False)


def test_a_field_read_but_not_in_the_pact_is_caught():
    """The check above can fail: a consumer that reads a field with a default (`.get`) relies
    on it as much as one that indexes it, present or not."""
    log: set[str] = set()
    message = Reads({"id": "m-1", "payload": {"order_id": 1, "lines": [{"quantity": 2}]}},
                    "", log)
    message.get("traceparent")
    message["payload"]["order_id"]
    message["payload"]["lines"][0]["quantity"]
    assert log - paths(dict(message)) == {"traceparent"}
    assert "payload.lines[].quantity" in log
