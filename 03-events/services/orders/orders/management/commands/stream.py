"""`manage.py stream info|read|replay|sales`: look into the orders event stream
(orders/events/stream.py) and move a consumer group's offset, as Kafka's `kafka-topics`,
`kafka-console-consumer` and `kafka-consumer-groups --reset-offsets` do."""

import json

import redis
from django.core.management.base import BaseCommand, CommandError

from orders.events import stream
from orders.projections import sales_by_product

OFFSET_HELP = ("an entry id as `info` and `read` print them (1764262800000-0), or 0 for the "
               "first entry kept")


class Command(BaseCommand):
    help = ("The orders event stream. `info`: length, first and last entry, each group's offset, "
            "pending and lag. `read --from OFFSET`: entries from there on, no group involved. "
            "`replay --group G --from OFFSET [--rebuild]`: G reads again from OFFSET (with "
            "--rebuild, from the start into an emptied read model). `sales --group G`: G's "
            "read model. `drain --group G`: read what is waiting, in this process, and stop.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["info", "read", "replay", "sales", "drain"])
        parser.add_argument("--group", default="sales-by-product")
        parser.add_argument("--from", dest="start", default=None, help=OFFSET_HELP)
        parser.add_argument("--count", type=int, default=20)
        parser.add_argument("--rebuild", action="store_true",
                            help="replay: empty the group's read model first (needs --from 0)")

    def handle(self, *args, action, group, start, count, rebuild, **options):
        try:
            getattr(self, f"do_{action}")(group, start, count, rebuild)
        except redis.ConnectionError as exc:
            raise CommandError(f"Redis does not answer ({exc}): is the stage up?") from exc
        except redis.ResponseError as exc:
            raise CommandError(f"Redis refused it: {exc} (an offset looks like "
                               "1764262800000-0)") from exc

    def do_info(self, group, start, count, rebuild):
        about = stream.info()
        out = self.stdout.write
        if not about["length"]:
            out(f"{about['stream']}: empty (no event relayed since Redis started)")
        else:
            out(f"{about['stream']}: {about['length']} entries, {about['first']} "
                f"(outbox position {about['first_position']}) .. {about['last']} "
                f"(position {about['last_position']})")
        for g in about["groups"]:
            out(f"  group {g['name']}: offset {g['last_delivered_id']}, pending {g['pending']}, "
                f"lag {g['lag']}")
            for name, pending, idle in g["consumers"]:
                out(f"    member {name}: pending {pending}, idle {idle / 1000:.1f} s")

    def do_read(self, group, start, count, rebuild):
        entries = stream.read(start or "-", count)
        for entry in entries:
            payload = entry.envelope.get("payload", {})
            self.stdout.write(f"{entry.id}  #{entry.position:<6} {entry.type:<16} "
                              f"order {payload.get('order_id')} "
                              f"{payload.get('status') or payload.get('reason') or ''}".rstrip())
        if not entries:
            self.stdout.write("no entry there")

    def do_replay(self, group, start, count, rebuild):
        if start is None:
            raise CommandError("replay needs --from OFFSET (" + OFFSET_HELP + ")")
        if rebuild and start != "0":
            raise CommandError("--rebuild empties the read model: it must replay from 0")
        if rebuild:
            sales_by_product.forget(group)
        offset = "0" if start == "0" else stream.offset_before(start)
        stream.set_offset(group, offset)
        self.stdout.write(f"group {group} reads again from {start}"
                          + (" into an emptied read model" if rebuild else "")
                          + ": its running reader picks it up; `stream drain` reads it here")

    def do_sales(self, group, start, count, rebuild):
        rows = sales_by_product.sales(group)
        self.stdout.write(json.dumps(
            [{"product_id": p, "product": n, "units": u, "revenue_cents": r}
             for p, n, u, r in rows], indent=2))

    def do_drain(self, group, start, count, rebuild):
        reader = sales_by_product.Reader(group=group, name=stream.member_name())
        handled = reader.drain()
        # A one-off member with nothing pending: leave no name behind in `info`.
        stream.client().xgroup_delconsumer(stream.STREAM, group, reader.name)
        self.stdout.write(f"group {group}: {handled} entries handled")
