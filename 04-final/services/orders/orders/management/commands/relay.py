from django.core.management.base import BaseCommand

from orders.events.relay import Relay
from orders.rpc.server import Every, serve


def no_services(server) -> list[str]:
    return []  # only the health service: `workshop up` and probes ask whether the relay lives


class Command(BaseCommand):
    help = "Publish the outbox to the broker, forever (orders/events/relay.py)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=50054,
                            help="where its gRPC health service answers")

    def handle(self, *args, host, port, **options):
        relay = Relay()
        serve(no_services, host, port, background=(Every(0.0, relay.step),))
