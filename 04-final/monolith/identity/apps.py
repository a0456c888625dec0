from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity (OAuth2 / OpenID Connect provider)"

    def ready(self):
        from identity import revocation

        revocation.connect()
