from django.conf import settings
from django.core.management.base import BaseCommand

from orders import services
from orders.rpc.server import Every, serve


def no_services(server) -> list[str]:
    return []  # only the health service: `workshop up` and probes ask whether the sweeper lives


class Command(BaseCommand):
    help = ("Run the orders service's sweeper every SWEEP_SECONDS: deliver stranded releases, "
            "settle orders a crash left pending (orders/services.py: sweep).")

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=50053,
                            help="where its gRPC health service answers")

    def handle(self, *args, host, port, **options):
        serve(no_services, host, port, background=(Every(settings.SWEEP_SECONDS, services.sweep),))
