from django.core.management.base import BaseCommand

from orders import inventory


class Command(BaseCommand):
    help = "Retry the releases the inventory did not take (StrandedReservation), once each."

    def handle(self, *args, **options):
        released, left = inventory.release_stranded()
        self.stdout.write(f"released {released}, still stranded {left}")
        if left:
            raise SystemExit(1)
