"""Place and cancel orders: the use cases of the orders context.

In the monolith, place_order is ONE database transaction. Reserving stock, charging the card and
storing the order either all happen or none does: a declined card rolls the reservations back
for free. Later stages split this across services and must earn the same guarantee by hand.
"""

from collections import Counter
from dataclasses import dataclass

from django.db import transaction

from catalog import services as catalog
from inventory import services as inventory
from notifications import services as notifications
from orders.models import Order, OrderLine
from payments import services as payments

OutOfStock = inventory.OutOfStock
PaymentFailed = payments.PaymentFailed


class UnknownProduct(Exception):
    def __init__(self, product_id: int):
        super().__init__(f"unknown product {product_id}")
        self.product_id = product_id


class NotCancellable(Exception):
    pass


@dataclass(frozen=True)
class Line:
    product_id: int
    quantity: int


def place_order(customer, lines: list[Line], card_number: str) -> Order:
    wanted = Counter()
    for line in lines:  # the same product twice becomes one line
        wanted[line.product_id] += line.quantity
    products = catalog.products_by_id(wanted)
    for product_id in wanted:
        if product_id not in products:
            raise UnknownProduct(product_id)

    with transaction.atomic():
        # Reserve in product-id order: concurrent orders then lock rows in the same order,
        # so they queue behind each other instead of deadlocking.
        for product_id in sorted(wanted):
            inventory.reserve(product_id, wanted[product_id])
        total = sum(products[pid].price_cents * qty for pid, qty in wanted.items())
        charge_ref = payments.charge(card_number, total)  # raises: everything above rolls back
        order = Order.objects.create(
            customer=customer, status=Order.Status.CONFIRMED, total_cents=total
        )
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                product_id=pid,
                product_name=products[pid].name,
                unit_price_cents=products[pid].price_cents,
                quantity=qty,
            )
            for pid, qty in sorted(wanted.items())
        )
        payments.record_charge(order, charge_ref, card_number)
        # After commit only: never email about an order that a later error rolled back.
        transaction.on_commit(lambda: notifications.send_order_confirmation(order))
    return order


def cancel_order(customer, order_id: int) -> Order:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(id=order_id, customer=customer)
        if order.status != Order.Status.CONFIRMED:
            raise NotCancellable(f"order {order.id} is {order.status}")
        for line in order.lines.all():
            inventory.release(line.product_id, 1)
        payments.refund(order)
        order.status = Order.Status.CANCELLED
        order.save(update_fields=["status"])
    return order


def orders_of(customer):
    return Order.objects.filter(customer=customer).prefetch_related("lines")
