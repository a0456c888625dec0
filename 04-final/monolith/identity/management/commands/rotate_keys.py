from django.conf import settings
from django.core.management.base import BaseCommand

from identity import keys


class Command(BaseCommand):
    help = "Rotate the signing keys: next signs, current stays published as previous."

    def handle(self, *args, **options):
        new = keys.rotate(settings.OIDC_KEYS_DIR)
        self.stdout.write(f"signing with {keys.kid(new.current)}; published next: "
                          f"{keys.kid(new.next)}. Restart the monolith to sign with it.")
