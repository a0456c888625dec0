"""Give every order placed before the split a reservation, so the orders service can cancel it.

Before stage 02 an order held its stock directly. The orders service cancels by releasing a
reservation id; a legacy order's id is `legacy-order-<order id>` (copy_orders_from_monolith
gives the copied order the same one). Confirmed orders hold their units; the others hold none.
"""

from django.db import migrations


def legacy_id(order_id: int) -> str:
    return f"legacy-order-{order_id}"


def backfill(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    Reservation = apps.get_model("inventory", "Reservation")
    for order in Order.objects.prefetch_related("lines").iterator(chunk_size=500):
        held = order.status == "confirmed"
        Reservation.objects.get_or_create(
            reservation_id=legacy_id(order.id),
            defaults={
                "status": "reserved" if held else "released",
                "lines": [
                    {"product_id": line.product_id, "product_name": line.product_name,
                     "unit_price_cents": line.unit_price_cents, "quantity": line.quantity}
                    for line in order.lines.all()
                ] if held else [],
            },
        )


class Migration(migrations.Migration):
    dependencies = [("inventory", "0002_reservation"), ("orders", "0001_initial")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
