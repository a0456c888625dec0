import pytest
from rest_framework.test import APIClient

from orders.clients import customers

from .monolith import Monolith

# PostgreSQL runs get a server in a container when Docker answers (an autouse fixture).
from .servers import postgres_for_this_run  # noqa: F401

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
TIMEOUT_CARD = "4000000000000119"


@pytest.fixture(scope="session")
def monolith(tmp_path_factory):
    """The monolith's real gRPC server (inventory, customers), seeded, for the whole session."""
    server = Monolith(tmp_path_factory.mktemp("monolith"))
    server.prepare()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _settings(settings, monolith):
    settings.PAYMENT_TIMEOUT_SECONDS = 0.05
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
