import pytest
from django.core import mail

from orders import services
from orders.models import Order
from payments.models import Payment

from ..conftest import DECLINED_CARD, GOOD_CARD, TIMEOUT_CARD, stock_of


def test_an_order_reserves_stock_charges_and_emails_after_commit(
    alice, product, django_capture_on_commit_callbacks
):
    before = stock_of(product)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        order = services.place_order(alice, [services.Line(product.id, 2)], GOOD_CARD)
    assert order.status == Order.Status.CONFIRMED
    assert order.total_cents == 2 * product.price_cents
    assert stock_of(product) == before - 2
    assert Payment.objects.get(order=order).status == Payment.Status.CHARGED
    assert len(callbacks) == 1
    assert mail.outbox[0].subject == f"Your order #{order.id} is confirmed"


def test_the_same_product_twice_becomes_one_line(alice, product):
    order = services.place_order(
        alice, [services.Line(product.id, 1), services.Line(product.id, 2)], GOOD_CARD
    )
    assert [(line.product_id, line.quantity) for line in order.lines.all()] == [(product.id, 3)]


@pytest.mark.parametrize(
    ("card", "error"),
    [(DECLINED_CARD, services.PaymentFailed), (TIMEOUT_CARD, services.PaymentFailed)],
)
def test_a_failed_payment_reserves_nothing_and_stores_nothing(alice, product, card, error):
    before = stock_of(product)
    with pytest.raises(error):
        services.place_order(alice, [services.Line(product.id, 2)], card)
    assert stock_of(product) == before
    assert not Order.objects.exists()
    assert not Payment.objects.exists()


def test_one_line_out_of_stock_rolls_back_the_lines_already_reserved(alice, seeded):
    from catalog.models import Product

    plenty = Product.objects.get(slug="espresso-cup")
    last = Product.objects.get(slug="last-teapot")
    before = stock_of(plenty)
    with pytest.raises(services.OutOfStock) as exc:
        services.place_order(
            alice, [services.Line(plenty.id, 1), services.Line(last.id, 2)], GOOD_CARD
        )
    assert exc.value.product_id == last.id
    assert stock_of(plenty) == before
    assert stock_of(last) == 1


def test_no_email_when_the_order_does_not_commit(
    alice, product, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(services.PaymentFailed),
    ):
        services.place_order(alice, [services.Line(product.id, 1)], DECLINED_CARD)
    assert callbacks == []
    assert mail.outbox == []


def test_cancel_restores_stock_and_refunds_once(alice, product):
    before = stock_of(product)
    order = services.place_order(alice, [services.Line(product.id, 3)], GOOD_CARD)
    services.cancel_order(alice, order.id)
    assert stock_of(product) == before
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert Payment.objects.get(order=order).status == Payment.Status.REFUNDED
    with pytest.raises(services.NotCancellable):
        services.cancel_order(alice, order.id)
    assert stock_of(product) == before


def test_a_customer_cannot_cancel_someone_elses_order(alice, bob, product):
    order = services.place_order(alice, [services.Line(product.id, 1)], GOOD_CARD)
    with pytest.raises(Order.DoesNotExist):
        services.cancel_order(bob, order.id)


def test_an_unknown_product_is_refused_before_anything_happens(alice, seeded):
    with pytest.raises(services.UnknownProduct):
        services.place_order(alice, [services.Line(999_999, 1)], GOOD_CARD)
