"""Exercise 03.2: the order.confirmed consumer sends one email per message, however often and
however badly the message is delivered.

What the lesson guarantees, one check each, through the stage's real Celery task
(`consumer.consume`, called in this process as a worker calls it):
- a message delivered twice sends one email, and leaves one inbox row;
- an email that fails (the mail server is down) records nothing: the retry sends it;
- a second delivery that arrives while the first is still sending (Redis's visibility timeout
  ran out under a slow worker) sends nothing;
- a worker killed right after its commit has recorded the message with its effect: the
  redelivery sends nothing;
- two distinct messages that say the same thing are two messages: only the id de-duplicates.
"""

import contextlib
import uuid

import pytest
from django.core import mail
from orders.events import consumer, outbox
from orders.sagas.participants import Transient

from notifications import services as notifications
from orders.models import InboxMessage, Order, OrderLine

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def confirmed() -> dict:
    """A confirmed order and its order.confirmed message, as the saga emits it."""
    order = Order.objects.create(customer_id=7, status="confirmed", total_cents=3000,
                                 reservation_id=uuid.uuid4().hex)
    OrderLine.objects.create(order=order, product_id=3, product_name="French press",
                             unit_price_cents=1500, quantity=2)
    return outbox.envelope("order.confirmed", 1, order.id, {
        "order_id": order.id, "customer_id": 7, "total_cents": 3000,
        "lines": [{"product_id": 3, "quantity": 2}], "customer_email": "alice@example.com"})


def deliver(message) -> Exception | None:
    """Deliver as a worker does: an exception is Celery's cue to retry, not the test's end."""
    try:
        consumer.consume(message)
    except Exception as exc:  # noqa: BLE001
        return exc
    return None


def emails() -> int:
    return len(mail.outbox)


def test_a_message_delivered_twice_sends_one_email(confirmed):
    assert deliver(confirmed) is None and emails() == 1
    assert deliver(confirmed) is None
    assert emails() == 1, "the same message, delivered again, sent a second email"
    assert InboxMessage.objects.filter(message_id=confirmed["id"]).count() == 1


def test_an_email_that_fails_records_nothing_and_the_retry_sends_it(confirmed, monkeypatch):
    real, calls = notifications.send_order_confirmed, []

    def down_once(event):
        calls.append(event)
        if len(calls) == 1:
            raise Transient("the mail server did not answer")
        real(event)

    monkeypatch.setattr(notifications, "send_order_confirmed", down_once)
    assert isinstance(deliver(confirmed), Transient)  # Celery retries it later
    assert deliver(confirmed) is None
    assert emails() == 1, (
        "the first try failed, the retry found the message recorded as processed and did "
        "nothing: the customer never gets the email")


def test_a_second_delivery_while_the_first_is_still_sending_sends_nothing(confirmed,
                                                                          monkeypatch):
    """The second delivery runs inside the first one's email (on its database connection, so
    the interleaving is the same every run): on PostgreSQL a second worker's insert of the same
    inbox row waits for the first one's transaction, then fails, the same outcome."""
    real, again = notifications.send_order_confirmed, []

    def slow_send(event):
        real(event)
        if not again:
            again.append(deliver(confirmed))

    monkeypatch.setattr(notifications, "send_order_confirmed", slow_send)
    deliver(confirmed)
    assert emails() == 1, (
        f"{emails()} emails: the second delivery looked for the message's id before the first "
        "had recorded it (check, then act), and sent again")


def test_a_worker_killed_right_after_its_commit_has_recorded_the_message(confirmed,
                                                                         crash_after_commit):
    assert deliver(confirmed) is None and emails() == 1
    with contextlib.suppress(Exception):
        deliver(confirmed)  # the redelivery of the unacknowledged message
    assert emails() == 1, (
        "the worker died after its commit, before its after-commit code: the message was not "
        "recorded with its effect, and its redelivery sent the email again")


def test_two_messages_that_say_the_same_thing_are_two_messages(confirmed):
    """Support re-sends a confirmation the customer lost: a new message, with the same content.
    Only a message's id says whether it is a duplicate."""
    resent = {**confirmed, "id": str(uuid.uuid4())}
    assert deliver(confirmed) is None and deliver(resent) is None
    assert emails() == 2, "a distinct message was dropped because its content looked familiar"
