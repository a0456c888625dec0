"""The place-order saga against the monolith's real inventory, its messages delivered in this
process (tests/conftest.py: settle): every compensation, the sweeper's recovery of a lost
message, and idempotent consumers: every message delivered again, twice, in reverse order,
changes nothing."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from orders.events import consumer

from orders import services
from orders.models import DeadLetter, InboxMessage, Order, OutboxMessage, PlaceOrderSaga
from payments.models import Payment, ProviderCharge

from ..conftest import DECLINED_CARD, GOOD_CARD, settle

URL = "/api/v1/orders/"
pytestmark = pytest.mark.django_db


def place(api, product, quantity=1, card=GOOD_CARD):
    resp = api.post(URL, {"lines": [{"product_id": product["id"], "quantity": quantity}],
                          "card_number": card}, format="json")
    assert resp.status_code == 202, resp.content
    return Order.objects.get(id=resp.json()["id"])


def overdue(order):
    PlaceOrderSaga.objects.filter(order=order).update(
        step_deadline=timezone.now() - timedelta(seconds=1))


def lose_unsent_messages():
    """As if the broker lost them: marked sent, never delivered."""
    OutboxMessage.objects.filter(sent_at=None).update(sent_at=timezone.now())


def test_the_order_its_saga_and_its_first_command_commit_together(alice_api, product):
    order = place(alice_api, product)
    saga = PlaceOrderSaga.objects.get(order=order)
    (message,) = OutboxMessage.objects.filter(sent_at=None).exclude(type="order.changed")
    assert saga.state == "reserving" and message.type == "saga.reserve_stock"
    assert message.envelope["payload"] == {"order_id": order.id}
    assert message.envelope["traceparent"].startswith("00-")


def test_the_card_number_is_kept_only_until_it_is_charged(alice_api, product):
    order = place(alice_api, product)
    assert PlaceOrderSaga.objects.get(order=order).data["card_number"] == GOOD_CARD
    settle()
    assert "card_number" not in PlaceOrderSaga.objects.get(order=order).data


def test_an_expired_reservation_at_confirm_is_refunded_and_rejected(alice_api, product,
                                                                    monolith):
    before = monolith.stock()[product["id"]]
    order = place(alice_api, product, 2)
    # reserve and charge, then the hold runs out before the confirm is delivered
    for _ in range(2):
        row = (OutboxMessage.objects.filter(sent_at=None).exclude(type="order.changed")
               .order_by("position").first())
        OutboxMessage.objects.filter(pk=row.pk).update(sent_at=timezone.now())
        consumer.consume(row.envelope)
    assert PlaceOrderSaga.objects.get(order=order).state == "confirming"
    monolith.expire(order.reservation_id)
    monolith.wait_released(order.reservation_id)
    settle()
    order.refresh_from_db()
    assert (order.status, order.reason) == ("rejected", "reservation_expired")
    assert Payment.objects.get(order=order).status == "refunded"
    assert ProviderCharge.objects.get(idempotency_key=f"order-{order.id}").refunded
    assert monolith.stock()[product["id"]] == before


def test_a_lost_message_is_sent_again_by_the_sweeper_and_the_order_completes(alice_api,
                                                                             product):
    order = place(alice_api, product)
    lose_unsent_messages()
    overdue(order)
    services.sweep()
    assert PlaceOrderSaga.objects.get(order=order).attempts == 2
    settle()
    order.refresh_from_db()
    assert order.status == "confirmed"


def test_a_reserve_whose_inventory_never_answers_is_compensated_after_its_retries(
        alice_api, product, monolith, settings):
    from orders.sagas.participants import Transient

    before = monolith.stock()[product["id"]]
    order = place(alice_api, product)
    row = OutboxMessage.objects.exclude(type="order.changed").get(sent_at=None)
    OutboxMessage.objects.filter(pk=row.pk).update(sent_at=timezone.now())
    target, settings.MONOLITH_GRPC = settings.MONOLITH_GRPC, "127.0.0.1:1"  # nobody there
    with pytest.raises(Transient):
        consumer.consume(row.envelope)
    # what Celery does once the last retry failed
    consumer.consume.on_failure(Transient("UNAVAILABLE"), row.envelope["id"], [row.envelope],
                                {}, None)
    assert PlaceOrderSaga.objects.get(order=order).state == "releasing"
    assert not DeadLetter.objects.exists()  # the saga owns it: no dead letter
    settings.MONOLITH_GRPC = target
    settle()
    order.refresh_from_db()
    assert (order.status, order.reason) == ("rejected", "reserving_timeout")
    assert monolith.stock()[product["id"]] == before
    assert monolith.reservation(order.reservation_id)[0] == "released"  # a tombstone


def test_a_late_charge_after_its_refund_takes_nothing(alice_api, product):
    from payments import provider

    provider.refund("", 100, idempotency_key="order-999")  # the saga gave up, refunded first
    provider.charge(GOOD_CARD, 100, idempotency_key="order-999")  # the lost charge, late
    assert ProviderCharge.objects.get(idempotency_key="order-999").charge_ref == ""


@pytest.mark.parametrize("card", [GOOD_CARD, DECLINED_CARD])
def test_every_message_delivered_twice_more_in_reverse_order_has_one_effect(
        alice_api, product, monolith, card, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    before = monolith.stock()[product["id"]]
    order = place(alice_api, product, 2, card)
    settle()
    order.refresh_from_db()
    delivered = [m.envelope for m in OutboxMessage.objects.order_by("position")]
    types = {m["type"] for m in delivered}
    inbox, emails = InboxMessage.objects.count(), len(mail.outbox)
    (reservations,), = monolith.sql("SELECT count(*) FROM inventory_reservation")
    for envelope in [*reversed(delivered), *reversed(delivered)]:
        consumer.consume(envelope)
    assert settle() == 0  # nothing new was sent
    order.refresh_from_db()
    assert InboxMessage.objects.count() == inbox and len(mail.outbox) == emails
    assert monolith.sql("SELECT count(*) FROM inventory_reservation")[0][0] == reservations
    assert ProviderCharge.objects.filter(idempotency_key=f"order-{order.id}").count() <= 1
    if card == GOOD_CARD:
        assert order.status == "confirmed" and emails == 1
        assert types == {"saga.reserve_stock", "saga.charge_payment", "saga.confirm_order",
                         "order.confirmed", "order.changed"}
        assert monolith.stock()[product["id"]] == before - 2
        assert Payment.objects.filter(order=order).count() == 1
    else:
        assert (order.status, order.reason) == ("rejected", "payment_declined")
        assert types == {"saga.reserve_stock", "saga.charge_payment", "saga.release_stock",
                         "order.rejected", "order.changed"}
        assert monolith.stock()[product["id"]] == before
    assert not DeadLetter.objects.exists()


def good_envelope(order_id=1):
    from orders.events.outbox import envelope

    return envelope("saga.reserve_stock", 1, order_id, {"order_id": order_id})


@pytest.mark.parametrize(("name", "message", "error"), [
    ("not-an-object", "garbage", "a message is a JSON object"),
    ("unknown-type", {**good_envelope(), "type": "order.teleported"}, "unknown message type"),
    ("wrong-version", {**good_envelope(), "version": 7}, "has no version 7"),
    ("missing-payload", {k: v for k, v in good_envelope().items() if k != "payload"},
     "'payload' is a required property"),
    ("bad-payload", {**good_envelope(), "payload": {"order_id": "one"}}, "payload/order_id"),
    ("bad-id", {**good_envelope(), "id": "not-a-uuid"}, "id"),
])
def test_a_poison_message_is_a_dead_letter_at_once_with_its_error(name, message, error):
    consumer.consume(message)  # returns: never raises, never retried
    (letter,) = DeadLetter.objects.all()
    assert letter.kind == "poison" and error in letter.error, letter.error


def test_extra_arguments_are_poison_too():
    consumer.consume(good_envelope(), "surplus")
    assert DeadLetter.objects.get().kind == "poison"


def test_an_event_that_keeps_failing_is_retried_by_celery_then_kept_as_a_dead_letter(
        alice_api, product, monkeypatch):
    from orders.sagas.participants import Transient

    from notifications import services as notifications

    place(alice_api, product)
    settle()
    row = OutboxMessage.objects.get(type="order.confirmed")

    def mail_server_down(event):
        raise Transient("the mail server did not answer")

    monkeypatch.setattr(notifications, "send_order_confirmed", mail_server_down)
    consumer.InboxMessage.objects.filter(message_id=row.message_id).delete()
    with pytest.raises(Transient):
        consumer.consume(row.envelope)
    assert consumer.consume.autoretry_for[0] is Transient
    assert consumer.consume.retry_backoff and consumer.consume.retry_jitter
    consumer.consume.on_failure(Transient("down"), row.envelope["id"], [row.envelope], {}, None)
    letter = DeadLetter.objects.get()
    assert letter.kind == "exhausted" and letter.body == row.envelope
