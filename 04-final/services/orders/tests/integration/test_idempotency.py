"""`Idempotency-Key` on POST /api/v1/orders/ (docs/api-contract.md): a retry is answered, never
done twice. On SQLite (extract-orders) and PostgreSQL (extract-orders-postgres); the race of
concurrent duplicates runs against this service as a real server process."""

import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.utils import timezone

from orders.models import IdempotencyKey, Order
from payments.models import Payment

from ..conftest import DECLINED_CARD, GOOD_CARD, settle
from ..monolith import free_port, stop_process

URL = "/api/v1/orders/"
SERVICE = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def body(product, quantity=1, card=GOOD_CARD):
    return {"lines": [{"product_id": product["id"], "quantity": quantity}], "card_number": card}


def post(client, payload, key):
    return client.post(URL, payload, format="json", headers={"Idempotency-Key": key})


def test_the_same_key_and_body_answer_the_same_order_once(alice_api, product, monolith):
    before = monolith.stock()[product["id"]]
    first = post(alice_api, body(product, 2), "k-1")
    again = post(alice_api, body(product, 2), "k-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    settle()
    assert post(alice_api, body(product, 2), "k-1").json()["status"] == "confirmed"
    assert Order.objects.count() == 1 and Payment.objects.count() == 1
    assert monolith.stock()[product["id"]] == before - 2


def test_the_replay_shows_the_order_as_it_is_now(alice_api, product):
    first = post(alice_api, body(product), "k-2").json()
    settle()
    alice_api.post(f"{URL}{first['id']}/cancel/")
    again = post(alice_api, body(product), "k-2")
    assert again.status_code == 202 and again.json()["status"] == "cancelled"


def test_the_same_key_with_another_body_is_422(alice_api, product):
    post(alice_api, body(product, 1), "k-3")
    resp = post(alice_api, body(product, 2), "k-3")
    assert resp.status_code == 422 and resp.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


def test_the_body_is_compared_as_canonical_json(alice_api, product):
    post(alice_api, body(product), "k-4")
    reordered = (f'{{"card_number": "{GOOD_CARD}", '
                 f'"lines": [{{"quantity": 1, "product_id": {product["id"]}}}]}}')
    resp = alice_api.post(URL, reordered, content_type="application/json",
                          headers={"Idempotency-Key": "k-4"})
    assert resp.status_code == 202 and resp["Idempotent-Replayed"] == "true"


def test_keys_are_scoped_per_customer(alice_api, bob_api, product):
    assert post(alice_api, body(product), "shared").status_code == 202
    assert post(bob_api, body(product), "shared").status_code == 202
    assert Order.objects.count() == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there", "é"])
def test_a_malformed_key_is_400_naming_the_header(alice_api, product, key):
    resp = alice_api.post(URL, body(product), format="json",
                          headers={"Idempotency-Key": key.encode().decode("latin-1")})
    assert resp.status_code == 400 and "Idempotency-Key" in resp.json(), resp.content
    assert not Order.objects.exists() and not IdempotencyKey.objects.exists()


def test_a_rejected_order_is_replayed_not_run_again(alice_api, product, monolith):
    """Since stage 03 a rejection is an order's final status: the replay shows that order."""
    declined = post(alice_api, body(product, card=DECLINED_CARD), "k-5")
    settle()
    again = post(alice_api, body(product, card=DECLINED_CARD), "k-5")
    assert declined.status_code == again.status_code == 202
    assert again.json()["id"] == declined.json()["id"] and again["Idempotent-Replayed"] == "true"
    assert (again.json()["status"], again.json()["reason"]) == ("rejected", "payment_declined")
    assert settle() == 0 and Order.objects.count() == 1


def test_an_answer_that_kept_nothing_is_not_recorded(alice_api, product, monolith, settings):
    """503 (the inventory is unreachable): a retry with the same key runs again."""
    settings.MONOLITH_GRPC = f"127.0.0.1:{free_port()}"
    assert post(alice_api, body(product), "k-7").status_code == 503
    settings.MONOLITH_GRPC = monolith.target
    resp = post(alice_api, body(product), "k-7")
    assert resp.status_code == 202 and "Idempotent-Replayed" not in resp
    assert Order.objects.count() == 1


def test_a_validation_error_is_not_recorded(alice_api, product):
    assert post(alice_api, {"lines": [], "card_number": GOOD_CARD}, "k-8").status_code == 400
    assert not IdempotencyKey.objects.exists()


def test_a_key_in_flight_is_409_with_retry_after(alice_api, alice, product):
    from orders.idempotency import fingerprint

    IdempotencyKey.objects.create(customer_id=alice.id, key="k-9",
                                  request_hash=fingerprint(body(product)), attempt="other",
                                  locked_until=timezone.now() + timedelta(seconds=30))
    resp = post(alice_api, body(product), "k-9")
    assert resp.status_code == 409 and resp.json()["code"] == "idempotency_key_in_use"
    assert resp["Retry-After"] == "1" and not Order.objects.exists()


def test_a_claim_whose_request_died_is_taken_over_after_its_lease(alice_api, alice, product):
    """Its request was killed before recording anything (an order would have completed the
    claim in its own transaction): once the lease has passed, a retry runs."""
    from orders.idempotency import fingerprint

    IdempotencyKey.objects.create(customer_id=alice.id, key="k-10",
                                  request_hash=fingerprint(body(product)), attempt="dead",
                                  locked_until=timezone.now() - timedelta(seconds=1))
    resp = post(alice_api, body(product), "k-10")
    assert resp.status_code == 202 and "Idempotent-Replayed" not in resp
    assert IdempotencyKey.objects.get(key="k-10").order_id == resp.json()["id"]


# -- the race, against the service as a real server process --------------------------------

@contextlib.contextmanager
def own_database(tmp_path):
    """A database of this test's own, on the backend the suite runs on; dropped afterwards."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        yield f"sqlite:///{tmp_path / 'orders.sqlite3'}"
        return
    import psycopg

    server, _, name = url.rpartition("/")
    database = f"{name}_race_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        yield f"{server}/{database}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


def scalar(url: str, query: str):
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            return db.execute(query).fetchone()[0]
    import psycopg

    with psycopg.connect(url) as db:
        return db.execute(query).fetchone()[0]


@contextlib.contextmanager
def orders_service(url: str, monolith, workdir: Path):
    env = {**os.environ, "DATABASE_URL": url, "MONOLITH_GRPC": monolith.target,
           "DJANGO_SECRET_KEY": "tests-only", "DJANGO_SETTINGS_MODULE": "orders_service.settings",
           "EMAIL_FILE_PATH": str(workdir / "mail"), "PYTHONUNBUFFERED": "1"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=SERVICE, env=env,
                   check=True)
    port, log_path = free_port(), workdir / "orders.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}",
                                 "--threads=8", "orders_service.wsgi:application"],
                                cwd=SERVICE, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield base
    finally:
        stop_process(proc)


def test_concurrent_duplicates_make_one_order_one_reservation_one_charge(
    tmp_path, monolith, product
):
    token, key, callers = monolith.token_for("carol"), f"race-{uuid.uuid4().hex}", 8
    payload = body(product, 3)
    headers = {"Authorization": f"Token {token}", "Idempotency-Key": key}
    with own_database(tmp_path) as url, orders_service(url, monolith, tmp_path) as base:
        httpx.get(f"{base}{URL}", headers=headers, timeout=30)  # the token is cached now
        stock = monolith.stock()[product["id"]]
        (reservations,), = monolith.sql("SELECT count(*) FROM inventory_reservation")
        start = threading.Barrier(callers)

        def place(_):
            start.wait(30)
            return httpx.post(f"{base}{URL}", json=payload, headers=headers, timeout=60)

        with ThreadPoolExecutor(callers) as pool:
            answers = list(pool.map(place, range(callers)))
        codes = [a.status_code for a in answers]
        assert set(codes) <= {202, 409} and 202 in codes, [a.text for a in answers]
        assert all(a.json()["code"] == "idempotency_key_in_use" and a.headers["Retry-After"]
                   == "1" for a in answers if a.status_code == 409)
        placed = {a.json()["id"] for a in answers if a.status_code == 202}
        assert len(placed) == 1, placed
        replay = httpx.post(f"{base}{URL}", json=payload, headers=headers, timeout=60)
        assert replay.status_code == 202 and replay.json()["id"] in placed
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert scalar(url, "SELECT count(*) FROM orders_order") == 1
        # One saga, one first command: the reservation and the charge happen once, later (no
        # worker runs here; the saga's own tests run them).
        assert scalar(url, "SELECT count(*) FROM orders_placeordersaga") == 1
        assert scalar(url, "SELECT count(*) FROM orders_outboxmessage "
                           "WHERE type != 'order.changed'") == 1
        assert monolith.sql("SELECT count(*) FROM inventory_reservation")[0][0] == reservations
        assert monolith.stock()[product["id"]] == stock
