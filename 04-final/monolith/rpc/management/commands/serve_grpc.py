import logging

from django.conf import settings
from django.core.management.base import BaseCommand

from inventory import services as inventory
from rpc import servicers
from rpc.server import Every, serve

log = logging.getLogger(__name__)


def release_expired_reservations() -> None:
    """Units held for a caller that never confirmed (it crashed, or gave up) come back."""
    released = inventory.release_expired()
    if released:
        log.warning("released %s expired reservation(s): %s", len(released), ", ".join(released))


class Command(BaseCommand):
    help = ("Serve the monolith's gRPC APIs (inventory, customers) with health and reflection, "
            "and release expired reservations in the background.")

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=50051)

    def handle(self, *args, host, port, **options):
        serve(servicers.register, host, port, background=(
            Every(settings.RESERVATION_SWEEP_SECONDS, release_expired_reservations),
        ))
