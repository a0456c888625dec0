from django.core.management.base import BaseCommand

from rpc import servicers
from rpc.server import serve


class Command(BaseCommand):
    help = "Serve the monolith's gRPC APIs (inventory, customers) with health and reflection."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=50051)

    def handle(self, *args, host, port, **options):
        serve(servicers.register, host, port)
