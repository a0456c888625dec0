"""Exercise 03.3's fixtures: no monolith. The compensation under test is the refund, whose
participant is this service's payment provider; the release is checked as the message the saga
sends (its participant, the inventory, is stage 02's and exercise 02.1's)."""

import pytest


@pytest.fixture(autouse=True)
def _settings(settings):
    """The stage's autouse fixture starts the monolith's gRPC server: not needed here."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    yield
