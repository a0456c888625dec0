"""The storefront's expectations of the orders API, written down as a pact (consumer side).

Each test runs the real OrdersClient against pact's mock server, which answers only what the
interaction declares and fails the test if the client asks anything else. The pact is written to
a temporary folder and compared with the committed one, ../pacts/storefront-orders.json, which
the orders service verifies against its running server (services/orders/tests/contract/): a
change to what the storefront expects fails here until the committed pact is updated on purpose,
and running a few tests with `-k` can never shrink the contract. To accept a change:

    python -m pytest tests/contract --update-pact      (in 03-events/monolith)

Matchers say what the storefront relies on (types and the fields it reads), not exact values:
the provider may return any id, any name.
"""

import json
import shutil
from pathlib import Path

import pytest
from pact import Pact, match

from storefront.clients import orders_http

COMMITTED = Path(__file__).resolve().parents[3] / "pacts" / "storefront-orders.json"
TOKEN = "pact-alice-token"
AUTH = {"Authorization": f"Token {TOKEN}"}
GOOD_CARD = "4242424242424242"

ISO_8601 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
ORDER_LINE = {
    "product_id": match.int(1),
    "product_name": match.str("Espresso cup"),
    "quantity": match.int(2),
    "unit_price_cents": match.int(900),
}


def order(status: str, order_id: int = 1):
    return {
        "id": match.int(order_id),
        "status": status,
        "reason": match.str(""),
        "total_cents": match.int(1800),
        "lines": match.each_like(ORDER_LINE),
        # ISO 8601, with or without fractions of a second: the storefront parses either.
        "created_at": match.regex("2026-11-25T10:00:00Z", regex=ISO_8601),
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory, request):
    """Where this run writes its pact; when the module ends, it is checked against the committed
    one (or replaces it, with --update-pact)."""
    out = tmp_path_factory.mktemp("pacts")
    yield out
    if not (out / COMMITTED.name).exists():
        return  # no test got as far as writing: their own failures say why
    fresh = json.loads((out / COMMITTED.name).read_text())
    ran = len([item for item in request.session.items if item.module is request.module])
    whole = ran == len(fresh["interactions"]) == len(TESTS)
    if request.config.getoption("--update-pact"):
        assert whole, "run the whole module (no -k) to update the pact"
        shutil.copyfile(out / COMMITTED.name, COMMITTED)  # byte for byte, as pact wrote it
        return
    problems = drift(fresh, json.loads(COMMITTED.read_text()), whole)
    assert not problems, (
        f"the storefront's pact changed: {'; '.join(problems)}. If that is meant, run "
        "`python -m pytest tests/contract --update-pact` in 03-events/monolith and "
        "commit pacts/storefront-orders.json (then verify the orders service against it)."
    )


def drift(fresh: dict, committed: dict, whole: bool) -> list[str]:
    """Interactions written now that differ from (or are missing in) the committed pact; with the
    whole module run, also committed interactions that no test writes any more."""
    by_name = {i["description"]: i for i in committed["interactions"]}
    problems = [f"{i['description']!r} differs" if i["description"] in by_name
                else f"{i['description']!r} is new"
                for i in fresh["interactions"] if by_name.get(i["description"]) != i]
    if whole:
        written = {i["description"] for i in fresh["interactions"]}
        problems += [f"{name!r} is no longer written" for name in by_name if name not in written]
        if fresh["metadata"] != committed["metadata"]:
            problems.append("the pact's metadata (pact versions) differs")
    return problems


@pytest.fixture
def pact(written):
    # One Pact per test: a served pact takes no more interactions.
    pact = Pact("storefront", "orders").with_specification("V4")
    yield pact
    pact.write_file(written, overwrite=False)


def client(srv) -> orders_http.OrdersClient:
    return orders_http.OrdersClient(TOKEN, base_url=str(srv.url), timeout=5)


def test_placing_an_order(pact):
    # Since stage 03 the orders service accepts an order and decides it later (a saga): 202 and
    # `pending`. A sold-out product or a declined card is no longer an answer to this request but
    # a final status the order page shows once the saga has decided (reason: out_of_stock, ...).
    (pact.upon_receiving("a request to place an order")
         .given("alice is a customer with token pact-alice-token")
         .given("product 1 has 10 units in stock")
         .with_request("POST", "/api/v1/orders/")
         .with_headers(AUTH)
         .with_body({"lines": [{"product_id": 1, "quantity": 2}], "card_number": GOOD_CARD},
                    content_type="application/json")
         .will_respond_with(202)
         .with_body(order("pending"), content_type="application/json"))
    with pact.serve(addr="127.0.0.1") as srv:
        placed = client(srv).place_order([(1, 2)], GOOD_CARD)
    assert placed["status"] == "pending" and isinstance(placed["id"], int)


def test_cancelling_an_order(pact):
    (pact.upon_receiving("a request to cancel a confirmed order")
         .given("alice is a customer with token pact-alice-token")
         .given("alice has a confirmed order 1")
         .with_request("POST", "/api/v1/orders/1/cancel/")
         .with_headers(AUTH)
         .will_respond_with(200)
         .with_body(order("cancelled"), content_type="application/json"))
    with pact.serve(addr="127.0.0.1") as srv:
        cancelled = client(srv).cancel_order(1)
    assert cancelled["status"] == "cancelled"


def test_cancelling_someone_elses_or_no_order(pact):
    (pact.upon_receiving("a request to cancel an order alice does not have")
         .given("alice is a customer with token pact-alice-token")
         .with_request("POST", "/api/v1/orders/999/cancel/")
         .with_headers(AUTH)
         .will_respond_with(404)
         .with_body({"detail": match.str("No Order matches the given query.")},
                    content_type="application/json"))
    with pact.serve(addr="127.0.0.1") as srv, pytest.raises(orders_http.NotFound):
        client(srv).cancel_order(999)


TESTS = [name for name in dir() if name.startswith("test_")]
