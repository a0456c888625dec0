from django.core.management.base import BaseCommand

from orders.rpc import servicers
from orders.rpc.server import serve


class Command(BaseCommand):
    help = "Serve the Orders gRPC API with health and reflection."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=50052)

    def handle(self, *args, host, port, **options):
        serve(servicers.register, host, port)
