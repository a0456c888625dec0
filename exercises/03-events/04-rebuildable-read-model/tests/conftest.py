"""Exercise 03.4's fixtures: no monolith (the read model needs this service's database and its
own store only), and a fresh store per check."""

import pytest


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    """The stage's autouse fixture starts the monolith's gRPC server: not needed here."""
    settings.ORDER_HISTORY_DB = str(tmp_path / "order_history.sqlite3")
    yield
