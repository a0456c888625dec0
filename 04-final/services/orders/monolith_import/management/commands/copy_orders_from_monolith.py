"""Copy the orders out of the monolith's database into this service's own: the data half of
"move the code first, the data later".

    python manage.py copy_orders_from_monolith [--batch-size N] [--verify-only]

- Resumable: rows go in batches, in id order; each batch commits together with a checkpoint
  (the last id copied). Killed mid-copy, a re-run starts after the last committed batch.
- Idempotent: ids are kept and inserts skip rows that exist, so re-running copies nothing twice.
- Verified: afterwards, every table's row count and a checksum over its rows are computed on
  both sides and must match; the command fails loudly if not.
- Legacy orders keep their reservation in the monolith's inventory as `legacy-order-<id>`
  (the monolith's migration 0003 made them), so the service can cancel them like its own.
"""

import hashlib
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import connections, transaction
from orders.projections import order_history

from monolith_import.models import Checkpoint, LegacyOrder, LegacyOrderLine, LegacyPayment
from orders.models import Order, OrderLine
from payments.models import Payment

SOURCE = "monolith"
# (name, source model, target model, the columns both sides must agree on)
TABLES = [
    ("orders", LegacyOrder, Order,
     ["id", "customer_id", "status", "reason", "total_cents", "created_at"]),
    ("order lines", LegacyOrderLine, OrderLine,
     ["id", "order_id", "product_id", "product_name", "unit_price_cents", "quantity"]),
    ("payments", LegacyPayment, Payment,
     ["id", "order_id", "amount_cents", "status", "charge_ref", "refund_ref", "card_last4"]),
]


def legacy_reservation(order_id: int) -> str:
    return f"legacy-order-{order_id}"


def checksum(queryset, columns) -> tuple[int, str]:
    """Row count and a SHA-256 over every row's columns, in id order: equal on both sides, or
    something was lost, doubled or changed on the way."""
    digest, count = hashlib.sha256(), 0
    for row in queryset.order_by("id").values_list(*columns).iterator(chunk_size=2000):
        digest.update(repr(tuple(v.isoformat() if hasattr(v, "isoformat") else v
                                 for v in row)).encode())
        count += 1
    return count, digest.hexdigest()[:16]


class Command(BaseCommand):
    help = "Copy the monolith's orders into this service's database: resumable, verified."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--verify-only", action="store_true",
                            help="copy nothing; compare counts and checksums")
        parser.add_argument("--pause", type=float, default=0.0,
                            help="seconds to wait between batches (demos: watch it, kill it)")

    def handle(self, *args, batch_size, verify_only, pause, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if not verify_only:
            self.copy(batch_size, pause)
        self.verify()

    def copy(self, batch_size: int, pause: float) -> None:
        total = LegacyOrder.objects.using(SOURCE).count()
        checkpoint, _ = Checkpoint.objects.get_or_create(name="orders")
        if checkpoint.last_id:
            self.stdout.write(f"resuming after order {checkpoint.last_id} "
                              f"({checkpoint.copied} of {total} copied before)")
        started = time.monotonic()
        while True:
            batch = list(LegacyOrder.objects.using(SOURCE)
                         .filter(id__gt=checkpoint.last_id).order_by("id")[:batch_size])
            if not batch:
                break
            ids = [order.id for order in batch]
            lines = LegacyOrderLine.objects.using(SOURCE).filter(order_id__in=ids)
            payments = LegacyPayment.objects.using(SOURCE).filter(order_id__in=ids)
            with transaction.atomic():
                Order.objects.bulk_create(
                    [Order(id=o.id, customer_id=o.customer_id, status=o.status, reason=o.reason,
                           total_cents=o.total_cents, created_at=o.created_at,
                           reservation_id=legacy_reservation(o.id)) for o in batch],
                    ignore_conflicts=True,
                )
                OrderLine.objects.bulk_create(
                    [OrderLine(id=x.id, order_id=x.order_id, product_id=x.product_id,
                               product_name=x.product_name, unit_price_cents=x.unit_price_cents,
                               quantity=x.quantity) for x in lines],
                    ignore_conflicts=True,
                )
                Payment.objects.bulk_create(
                    [Payment(id=p.id, order_id=p.order_id, amount_cents=p.amount_cents,
                             status=p.status, charge_ref=p.charge_ref, refund_ref=p.refund_ref,
                             card_last4=p.card_last4) for p in payments],
                    ignore_conflicts=True,
                )
                # The read model (orders/projections/order_history.py) learns of copied orders
                # as of any other: an order.changed event each, in the same transaction.
                for copied in Order.objects.filter(id__in=ids).prefetch_related("lines"):
                    order_history.emit_changed(copied)
                checkpoint.last_id = ids[-1]
                checkpoint.copied += len(ids)
                checkpoint.save()
            self.stdout.write(
                f"copied {checkpoint.copied}/{total} orders "
                f"({100 * checkpoint.copied // max(total, 1)} %), up to id {ids[-1]}"
            )
            self.stdout.flush()
            if pause:
                time.sleep(pause)
        self._advance_sequences()
        self.stdout.write(f"copy done in {time.monotonic() - started:.1f} s")

    def _advance_sequences(self) -> None:
        """Copied rows kept their ids; the next order here must not reuse one (PostgreSQL's
        sequences do not move on explicit ids; SQLite's AUTOINCREMENT does by itself)."""
        connection = connections["default"]
        sql = connection.ops.sequence_reset_sql(no_style(), [Order, OrderLine, Payment])
        if sql:
            with connection.cursor() as cursor:
                for statement in sql:
                    cursor.execute(statement)

    def verify(self) -> None:
        failed = False
        self.stdout.write(f"{'table':<12} {'monolith':>9} {'orders':>9}  checksum")
        for name, source, target, columns in TABLES:
            theirs = checksum(source.objects.using(SOURCE).all(), columns)
            max_id = source.objects.using(SOURCE).order_by("-id").values_list("id", flat=True)
            limit = max_id.first() or 0
            # Orders placed here since the copy have higher ids: they are not part of it.
            ours = checksum(target.objects.filter(id__lte=limit), columns)
            ok = theirs == ours
            failed |= not ok
            self.stdout.write(f"{name:<12} {theirs[0]:>9} {ours[0]:>9}  "
                              f"{'match ' + ours[1] if ok else 'MISMATCH'}")
        if failed:
            self.stderr.write("verification FAILED: counts or checksums differ")
            sys.exit(1)
        self.stdout.write("verified: every row copied once, unchanged")
