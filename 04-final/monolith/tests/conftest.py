import os

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from catalog.models import Product
from inventory.models import Stock

# PostgreSQL runs get a server in a container when Docker answers (an autouse fixture).
from .servers import postgres_for_this_run  # noqa: F401

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
TIMEOUT_CARD = "4000000000000119"


def pytest_addoption(parser):
    parser.addoption("--update-pact", action="store_true",
                     help="accept what the contract tests write as the committed pact "
                          "(../pacts/storefront-orders.json)")


@pytest.fixture(autouse=True)
def _fast_payment_timeout(settings, tmp_path):
    settings.PAYMENT_TIMEOUT_SECONDS = 0.05
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Seeding hashes four passwords per test: a fast hasher keeps the suite quick.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def seeded(db):
    with open(os.devnull, "w") as quiet:
        call_command("seed", stdout=quiet)


@pytest.fixture
def alice(seeded):
    return get_user_model().objects.get(username="alice")


@pytest.fixture
def bob(seeded):
    return get_user_model().objects.get(username="bob")


def client_for(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def alice_api(alice):
    return client_for(alice)


@pytest.fixture
def bob_api(bob):
    return client_for(bob)


@pytest.fixture
def product(seeded):
    return Product.objects.get(slug="french-press")


def stock_of(product) -> int:
    return Stock.objects.get(product=product).quantity
