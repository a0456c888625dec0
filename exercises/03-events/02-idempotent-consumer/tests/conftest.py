"""Exercise 03.2's fixtures: no monolith (the consumer under test needs this service's database
only), and a worker that dies right after a commit."""

import pytest
from django.db import connections


@pytest.fixture(autouse=True)
def _settings(settings):
    """The stage's autouse fixture starts the monolith's gRPC server: not needed here."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    yield


@pytest.fixture
def crash_after_commit(monkeypatch):
    """The worker dies right after a COMMIT: nothing registered to run after it runs
    (transaction.on_commit callbacks are dropped, as they are when the process is killed)."""

    def dropped(self):
        self.run_on_commit = []

    monkeypatch.setattr(type(connections["default"]), "run_and_clear_commit_hooks", dropped)
