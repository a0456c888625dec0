"""Register the shop's OAuth2 clients (idempotent: `workshop up` runs it at every start).

    storefront      public, authorization code + PKCE (a browser app keeps no secret)
    orders-service  confidential, client credentials (a service calling as itself); its secret
                    is made at first start and kept in the keys folder, readable by this user only
    shop-api        public, the tokens POST /api/v1/auth/token/ hands out
"""

import os
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand
from oauth2_provider.models import get_application_model

from identity import services

STOREFRONT, SERVICE = "storefront", "orders-service"


def service_secret() -> str:
    given = os.environ.get("OAUTH_SERVICE_CLIENT_SECRET")
    if given:
        return given
    path = settings.OIDC_KEYS_DIR / f"{SERVICE}.secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


class Command(BaseCommand):
    help = "Register the storefront, orders-service and shop-api OAuth2 clients."

    def handle(self, *args, **options):
        Application = get_application_model()
        redirects = " ".join(settings.OAUTH_STOREFRONT_REDIRECT_URIS)
        Application.objects.update_or_create(client_id=STOREFRONT, defaults={
            "name": "Storefront", "client_type": Application.CLIENT_PUBLIC,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": redirects, "algorithm": Application.RS256_ALGORITHM,
            "skip_authorization": True})
        app, created = Application.objects.get_or_create(client_id=SERVICE, defaults={
            "name": "Orders service", "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_CLIENT_CREDENTIALS,
            "client_secret": service_secret(), "algorithm": Application.RS256_ALGORITHM})
        services.api_application()
        self.stdout.write(
            f"oauth clients: {STOREFRONT} (code + PKCE), {SERVICE} (client credentials, secret "
            f"in {settings.OIDC_KEYS_DIR.name}/{SERVICE}.secret), {services.API_CLIENT_ID}")
