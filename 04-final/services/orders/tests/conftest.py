import pytest
from rest_framework.test import APIClient

from orders.clients import customers

from .monolith import Monolith

# PostgreSQL runs get a server in a container when Docker answers (an autouse fixture).
from .servers import postgres_for_this_run  # noqa: F401

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
TIMEOUT_CARD = "4000000000000119"


def settle(rounds: int = 50) -> int:
    """Deliver every unsent outbox message to the consumer, in this process, oldest first,
    until none is left: the relay's and the worker's job, done by the test (no broker). Returns
    how many were delivered. tests/integration/test_relay.py runs the real relay and worker."""
    from django.utils import timezone
    from orders.events import consumer

    from orders.models import OutboxMessage

    delivered = 0
    for _ in range(rounds):
        rows = list(OutboxMessage.objects.filter(sent_at=None).order_by("position"))
        if not rows:
            return delivered
        for row in rows:
            OutboxMessage.objects.filter(pk=row.pk).update(sent_at=timezone.now())
            consumer.consume(row.envelope)
            delivered += 1
    raise AssertionError(f"the outbox never emptied after {rounds} rounds")


@pytest.fixture(scope="session")
def monolith(tmp_path_factory):
    """The monolith's real gRPC server (inventory, customers), seeded, for the whole session."""
    server = Monolith(tmp_path_factory.mktemp("monolith"))
    server.prepare()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _settings(settings, monolith, tmp_path):
    settings.PAYMENT_TIMEOUT_SECONDS = 0.05
    # The order-history read model is a file of its own, outside the test's transaction: a
    # fresh one per test, or it would keep rows of orders a rolled-back test made.
    settings.ORDER_HISTORY_DB = str(tmp_path / "order_history.sqlite3")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.MONOLITH_GRPC = monolith.target
    customers.forget_all()
    yield
    customers.forget_all()


def api_as(customer=None) -> APIClient:
    client = APIClient()
    if customer is not None:
        client.force_authenticate(customer)
    return client


def customer(monolith, username) -> customers.Customer:
    return customers.Customer(monolith.user_id(username), username, f"{username}@example.com")


@pytest.fixture
def alice(monolith):
    return customer(monolith, "alice")


@pytest.fixture
def bob(monolith):
    return customer(monolith, "bob")


@pytest.fixture
def alice_api(alice):
    return api_as(alice)


@pytest.fixture
def bob_api(bob):
    return api_as(bob)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def product(monolith):
    item = monolith.product("french-press")
    monolith.set_stock(item["id"], 12)
    return item
