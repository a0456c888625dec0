"""Stock reservations that can never oversell.

`reserve` is a single conditional UPDATE: the database checks and decrements in one step, under
the row lock, so two buyers of the last unit cannot both win, without any read-then-write race.
"""

from django.db.models import F

from inventory.models import Stock


class OutOfStock(Exception):
    def __init__(self, product_id: int):
        super().__init__(f"not enough stock for product {product_id}")
        self.product_id = product_id


def reserve(product_id: int, quantity: int) -> None:
    if Stock.objects.get(product_id=product_id).quantity < quantity:
        raise OutOfStock(product_id)
    updated = Stock.objects.filter(product_id=product_id).update(
        quantity=F("quantity") - quantity
    )
    if not updated:
        raise OutOfStock(product_id)


def release(product_id: int, quantity: int) -> None:
    Stock.objects.filter(product_id=product_id).update(quantity=F("quantity") + quantity)


def available(product_id: int) -> int:
    stock = Stock.objects.filter(product_id=product_id).values_list("quantity", flat=True).first()
    return stock or 0
