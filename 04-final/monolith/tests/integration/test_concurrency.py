"""50 callers, 5 units: exactly 5 reservations win. Over real gRPC, on PostgreSQL.

Since stage 02 the orders service reserves stock through the monolith's gRPC server, so that is
where overselling would happen: the server (its own process, 16 worker threads) runs on the
test database and 50 concurrent Reserve calls race for the last 5 units, each with its own
reservation id, plus 10 retries of ids that already won (they must not take more). SQLite
serialises every writer and cannot show the race: this test insists on PostgreSQL (CI runs it
in `tox -e extract-monolith-postgres`).
"""

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from django.db import connection
from grpc_health.v1 import health_pb2, health_pb2_grpc

from catalog.models import Product
from inventory.models import Reservation, Stock
from shopapi.inventory.v1 import inventory_pb2, inventory_pb2_grpc

CALLERS = 50
UNITS = 5

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgresql():
    if connection.vendor == "postgresql":
        return
    message = (
        "this test needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/"
        "workshop02 (or run `python3 -m workshop test -e extract-monolith-postgres`)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def inventory(transactional_db):
    """The monolith's gRPC server in a child process, on the same (test) database."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SECRET_KEY": "concurrency-test"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.Popen([sys.executable, "manage.py", "serve_grpc", "--port", str(port)],
                            cwd=Path(__file__).resolve().parents[2], env=env)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 120  # a loaded CI box starts Django slowly
        while True:
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    break
            except grpc.RpcError:
                time.sleep(0.05)
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("the gRPC server did not become healthy")
        yield inventory_pb2_grpc.InventoryStub(channel)
    finally:
        channel.close()
        proc.terminate()
        proc.wait(10)


def test_fifty_concurrent_reserves_for_five_units_win_exactly_five(inventory, seeded):
    product = Product.objects.get(slug="espresso-machine")
    Stock.objects.filter(product=product).update(quantity=UNITS)

    def reserve(reservation_id):
        request = inventory_pb2.ReserveRequest(
            reservation_id=reservation_id,
            lines=[inventory_pb2.Line(product_id=product.id, quantity=1)])
        try:
            inventory.Reserve(request, timeout=30)
            return reservation_id, "OK"
        except grpc.RpcError as exc:
            return reservation_id, exc.code().name

    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        results = list(pool.map(reserve, [f"buyer-{i}" for i in range(CALLERS)]))
    codes = sorted(code for _, code in results)
    assert codes.count("OK") == UNITS, codes
    assert codes.count("FAILED_PRECONDITION") == CALLERS - UNITS, codes
    assert Stock.objects.get(product=product).quantity == 0

    winners = [rid for rid, code in results if code == "OK"]
    with ThreadPoolExecutor(max_workers=10) as pool:  # retries of the winners, all at once
        retried = list(pool.map(reserve, winners * 2))
    assert all(code == "OK" for _, code in retried), retried
    assert Stock.objects.get(product=product).quantity == 0
    assert Reservation.objects.filter(status="pending").exclude(
        reservation_id__startswith="legacy-").count() == UNITS
