"""`manage.py stream_consumer --group G`: one member of consumer group G on the event stream,
building the sales-by-product read model (orders/projections/sales_by_product.py), forever.

Start two with the same group: they share the entries. Start one with another group: it reads
every entry again, independently. Its port answers gRPC health only, like the relay's.
"""

from django.core.management.base import BaseCommand

from orders.events import stream
from orders.projections.sales_by_product import Reader
from orders.rpc.server import Every, serve


def no_services(server) -> list[str]:
    return []  # only the health service: `workshop up` and probes ask whether the reader lives


class Command(BaseCommand):
    help = "Read the orders event stream as a member of a consumer group, forever."

    def add_arguments(self, parser):
        parser.add_argument("--group", default="sales-by-product",
                            help="the consumer group (its own offset, its own read model)")
        parser.add_argument("--name", default=None,
                            help="this member's name in the group (default: host-pid)")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=50056,
                            help="where its gRPC health service answers")

    def handle(self, *args, group, name, host, port, **options):
        reader = Reader(group=group, name=name or stream.member_name())
        serve(no_services, host, port, background=(Every(0.0, reader.forever_step),))
