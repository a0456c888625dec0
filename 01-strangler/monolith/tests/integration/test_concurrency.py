"""50 buyers, 5 units: exactly 5 win. Over real HTTP, on PostgreSQL, with real concurrency.

The server is the stage's own (waitress, 8 threads) in its own process, on the test database:
Django's test live server has a listen backlog of 5 and would reset most of 50 simultaneous
connections. SQLite serialises every writer, so it cannot show the race at all: this test
insists on PostgreSQL (CI runs it in `tox -e monolith-postgres`).
"""

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.authtoken.models import Token

from catalog.models import Product
from inventory.models import Stock
from orders.models import Order

BUYERS = 50
UNITS = 5

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgresql():
    if connection.vendor == "postgresql":
        return
    message = (
        "this test needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/"
        "workshop00 (or run `python3 -m workshop test -e monolith-postgres`)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def server(transactional_db):
    """The real WSGI server in a child process, on the same (test) database; always stopped."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "concurrency-test",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "waitress",
            f"--listen=127.0.0.1:{port}",
            "--threads=8",
            "shop.wsgi:application",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            pytest.fail("the server did not become ready")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def test_fifty_concurrent_orders_for_five_units_sell_exactly_five(server, seeded):
    product = Product.objects.get(slug="espresso-machine")
    Stock.objects.filter(product=product).update(quantity=UNITS)
    users = list(get_user_model().objects.filter(is_staff=False))
    tokens = [Token.objects.get_or_create(user=user)[0].key for user in users]
    body = {"lines": [{"product_id": product.id, "quantity": 1}], "card_number": "4242424242424242"}

    def buy(i):
        with httpx.Client(base_url=server, timeout=60) as client:
            resp = client.post(
                "/api/v1/orders/",
                json=body,
                headers={"Authorization": f"Token {tokens[i % len(tokens)]}"},
            )
            return resp.status_code, resp.json()

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        results = list(pool.map(buy, range(BUYERS)))

    codes = sorted(code for code, _ in results)
    assert codes.count(201) == UNITS, codes
    assert codes.count(409) == BUYERS - UNITS, codes
    assert all(body["code"] == "out_of_stock" for code, body in results if code == 409)
    assert Stock.objects.get(product=product).quantity == 0
    assert Order.objects.filter(lines__product_id=product.id).count() == UNITS
