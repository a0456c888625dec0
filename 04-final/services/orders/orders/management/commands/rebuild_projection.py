"""`manage.py rebuild_projection`: throw the order-history read model away and replay every
`order.changed` event from the outbox's first position (orders/projections/order_history.py)."""

import time

from django.core.management.base import BaseCommand

from orders.projections import order_history


class Command(BaseCommand):
    help = "Rebuild the order-history read model from every event, from the start."

    def handle(self, *args, **options):
        started = time.perf_counter()
        count = order_history.rebuild()
        elapsed = time.perf_counter() - started
        behind = order_history.lag()
        self.stdout.write(f"replayed {count} events into {len(order_history.rows())} orders in "
                          f"{elapsed:.2f} s; now behind: {behind.header()}")
