"""Exercise 00.2: a confirmation email goes out only for an order that really committed."""

import pytest
from django.core import mail

from orders import services
from orders.models import Order

from ..conftest import DECLINED_CARD, GOOD_CARD, stock_of


def test_a_declined_card_sends_no_email_and_keeps_the_stock(alice, product):
    before = stock_of(product)
    with pytest.raises(services.PaymentFailed):
        services.place_order(alice, [services.Line(product.id, 1)], DECLINED_CARD)
    assert mail.outbox == [], "the customer got a confirmation for an order that does not exist"
    assert stock_of(product) == before and not Order.objects.exists()


def test_the_email_waits_for_the_commit(alice, product, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = services.place_order(alice, [services.Line(product.id, 1)], GOOD_CARD)
    assert mail.outbox == [], "the email left before the transaction committed"
    for callback in callbacks:
        callback()
    assert [m.subject for m in mail.outbox] == [f"Your order #{order.id} is confirmed"]
