"""The harness of the black-box suite: a running shop, HTTP clients, and stage-proof helpers.

Everything here speaks HTTP to the shop's front door and nothing else. The only stage-aware code
is how the shop gets started when no address is given: through the repo's own supervisor, exactly
as `python3 -m workshop up` starts it. The helpers hide the one thing allowed to differ between
stages, synchronous or asynchronous order processing, so every test states only the contract of
docs/api-contract.md.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

CUSTOMERS = {"alice": "wonderland", "bob": "builder", "carol": "christmas"}
STAFF = {"admin": "workshop-admin"}
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
TIMEOUT_CARD = "4000000000000119"
FINAL_STATUSES = {"confirmed", "rejected", "cancelled"}
ORDER_TIMEOUT = float(os.environ.get("ACCEPTANCE_ORDER_TIMEOUT", "15"))
HTTP_TIMEOUT = 30.0
LOG_TAIL_LINES = 60

T = TypeVar("T")

# Where the stage we started writes its log (shown at the end of a failing run).
_stage_log: dict[str, Path] = {}


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _routes_with_weight(stage, weight: int, tmp: Path) -> Path:
    """The stage's own routing table with every canary weight set to `weight` (0..100).

    The same suite must pass whichever side serves a customer: run it at 0, 50 and 100 %.
    """
    table = stage.path / stage.process(stage.front_door).cwd / "routes.toml"
    text = re.sub(r"(?m)^weight\s*=\s*\d+", f"weight = {weight}", table.read_text("utf-8"))
    out = tmp / "routes.toml"
    out.write_text(text, encoding="utf-8")
    return out


@contextlib.contextmanager
def _started_stage() -> Iterator[str]:
    """Start ACCEPTANCE_STAGE (default: the latest) on free ports with a throwaway database."""
    sys.path.insert(0, str(REPO_ROOT))
    from workshop import stages, supervisor

    stage = stages.load(os.environ.get("ACCEPTANCE_STAGE") or None)
    tmp = Path(tempfile.mkdtemp(prefix=f"acceptance-{stage.name}-"))
    log_path = tmp / "stage.log"
    _stage_log["path"] = log_path
    env = {
        "DATABASE_URL": f"sqlite:///{(tmp / 'db.sqlite3').as_posix()}",
        # From stage 02 on, the orders service has a database of its own.
        "ORDERS_DATABASE_URL": f"sqlite:///{(tmp / 'orders.sqlite3').as_posix()}",
        "DJANGO_DEBUG": "0",
        "PAYMENT_TIMEOUT_SECONDS": "0.3",
        "EMAIL_FILE_PATH": str(tmp / "mail"),
    }
    weight = os.environ.get("ACCEPTANCE_ROUTE_WEIGHT")
    if weight is not None:
        env["FACADE_ROUTES"] = str(_routes_with_weight(stage, int(weight), tmp))
    try:
        with contextlib.ExitStack() as stack:
            log = stack.enter_context(open(log_path, "w", encoding="utf-8"))
            try:
                run = stack.enter_context(
                    supervisor.running(stage, free_ports=True, log=log, log_path=log_path, env=env))
            except Exception as exc:
                _stage_log["keep"] = True
                log.flush()
                raise RuntimeError(
                    f"stage {stage.name} did not start: {exc}\n--- last lines of {log_path} ---\n"
                    f"{_tail(log_path)}"
                ) from exc
            yield run.front_door_url
    finally:
        if not _stage_log.get("keep"):
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The shop's front door: ACCEPTANCE_BASE_URL, or a stage this session starts and stops."""
    given = os.environ.get("ACCEPTANCE_BASE_URL")
    if given:
        url = given.rstrip("/")
        try:
            httpx.get(f"{url}/healthz", timeout=10)
        except httpx.HTTPError as exc:
            pytest.exit(f"ACCEPTANCE_BASE_URL={given} does not answer: {exc}", returncode=3)
        yield url
        return
    with _started_stage() as url:
        yield url
        if request.session.testsfailed:
            _stage_log["keep"] = True  # keep the log of a failing run for the summary


def pytest_terminal_summary(terminalreporter):
    path = _stage_log.get("path")
    if path and _stage_log.get("keep"):
        terminalreporter.section("log of the stage under test (last lines)")
        terminalreporter.write_line(f"full log: {path}")
        terminalreporter.write_line(_tail(path))


# ------------------------------------------------------------------------------------------------
# HTTP clients


def _client(base_url: str, token: str | None = None) -> httpx.Client:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    return httpx.Client(base_url=base_url, headers=headers, timeout=HTTP_TIMEOUT)


@pytest.fixture(scope="session")
def _tokens() -> dict[tuple[str, str], str]:
    return {}


@pytest.fixture(scope="session")
def login(base_url: str, _tokens: dict) -> Callable[[str, str], str]:
    """login(username, password) -> token, through POST /api/v1/auth/token/ (cached)."""

    def do_login(username: str, password: str) -> str:
        key = (username, password)
        if key not in _tokens:
            resp = httpx.post(f"{base_url}/api/v1/auth/token/", timeout=HTTP_TIMEOUT,
                              json={"username": username, "password": password})
            assert resp.status_code == 200, f"login {username}: {resp.status_code} {resp.text}"
            _tokens[key] = resp.json()["token"]
        return _tokens[key]

    return do_login


@pytest.fixture
def anon(base_url: str) -> Iterator[httpx.Client]:
    """A client with no credentials at all."""
    with _client(base_url) as client:
        yield client


@pytest.fixture
def browser(base_url: str) -> Iterator[httpx.Client]:
    """A client that asks for HTML and keeps cookies, like a browser (storefront pages)."""
    with httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT, follow_redirects=True,
                      headers={"Accept": "text/html"}) as client:
        yield client


@pytest.fixture
def customer(base_url: str, login) -> Iterator[Callable[[str], httpx.Client]]:
    """customer("alice") -> an authenticated API client for that demo customer."""
    clients: list[httpx.Client] = []

    def make(name: str) -> httpx.Client:
        client = _client(base_url, login(name, CUSTOMERS[name]))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def alice(customer) -> httpx.Client:
    return customer("alice")


@pytest.fixture
def bob(customer) -> httpx.Client:
    return customer("bob")


@pytest.fixture
def admin(base_url: str, login) -> Iterator[httpx.Client]:
    with _client(base_url, login("admin", STAFF["admin"])) as client:
        yield client


# ------------------------------------------------------------------------------------------------
# Reading the catalogue


def all_products(client: httpx.Client, search: str | None = None) -> list[dict]:
    """Every product, following the `next` links page by page."""
    params = {"search": search} if search is not None else None
    resp = client.get("/api/v1/products/", params=params)
    out: list[dict] = []
    for _ in range(100):
        assert resp.status_code == 200, resp.text
        body = resp.json()
        out.extend(body["results"])
        if not body["next"]:
            return out
        resp = client.get(body["next"])
    raise AssertionError("more than 100 pages of products: `next` never ends")


def stock_of(client: httpx.Client, product_id: int) -> int:
    resp = client.get(f"/api/v1/products/{product_id}/")
    assert resp.status_code == 200, resp.text
    return resp.json()["stock"]


def eventually(fn: Callable[[], T], timeout: float = 5.0, interval: float = 0.1) -> T:
    """Call fn until it stops raising AssertionError, and return its value.

    Synchronous stages pass on the first call; asynchronous ones get `timeout` seconds to settle
    (a reservation released after a rejection, a read model catching up).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval)


@pytest.fixture(scope="session")
def catalogue(base_url: str) -> list[dict]:
    """The products as the session first saw them (ids, slugs, names, prices: not stock)."""
    with _client(base_url) as client:
        return all_products(client)


@pytest.fixture
def in_stock(anon: httpx.Client, catalogue: list[dict]) -> Callable[..., list[dict]]:
    """in_stock(n, at_least=q) -> n distinct products with at least q units now (not last-teapot).

    Picks the best-stocked products, so that repeated runs against one shop keep working.
    """

    def pick(n: int = 1, at_least: int = 5) -> list[dict]:
        fresh = [p for p in all_products(anon) if p["slug"] != "last-teapot"]
        fresh.sort(key=lambda p: p["stock"], reverse=True)
        chosen = [p for p in fresh if p["stock"] >= at_least][:n]
        if len(chosen) < n:
            pytest.fail(f"need {n} products with >= {at_least} units, the shop has "
                        f"{[(p['slug'], p['stock']) for p in fresh]}")
        return chosen

    return pick


@pytest.fixture
def teapot(catalogue: list[dict]) -> dict:
    for product in catalogue:
        if product["slug"] == "last-teapot":
            return product
    pytest.fail("the seeded product with slug last-teapot is missing")


# ------------------------------------------------------------------------------------------------
# Placing orders, whatever the stage does with them


@dataclass(frozen=True)
class Outcome:
    """The final word on an order: unpacks as (status, reason, body).

    status: "confirmed" | "rejected" | "cancelled"; reason: the rejection code (None if none);
    body: the final order, or the 4xx body of a synchronous rejection; response: the POST's answer.
    """

    status: str
    reason: str | None
    body: dict
    response: httpx.Response

    def __iter__(self):
        return iter((self.status, self.reason, self.body))

    @property
    def synchronous_rejection(self) -> bool:
        return self.response.status_code >= 400

    @property
    def order_id(self) -> int | None:
        return None if self.synchronous_rejection else self.body["id"]


def wait_final(client: httpx.Client, order_id: int, timeout: float = ORDER_TIMEOUT) -> dict:
    """Poll GET /api/v1/orders/<id>/ until the order's status is final."""
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get(f"/api/v1/orders/{order_id}/")
        assert resp.status_code == 200, f"GET order {order_id}: {resp.status_code} {resp.text}"
        order = resp.json()
        if order["status"] in FINAL_STATUSES:
            return order
        assert order["status"] == "pending", f"unknown order status: {order}"
        if time.monotonic() >= deadline:
            raise AssertionError(f"order {order_id} still pending after {timeout} s: {order}")
        time.sleep(0.1)


def submit_order(client: httpx.Client, lines: list[dict], card: str = GOOD_CARD) -> Outcome:
    resp = client.post("/api/v1/orders/", json={"lines": lines, "card_number": card})
    if resp.status_code in (201, 202):
        order = resp.json()
        if order["status"] not in FINAL_STATUSES:
            order = wait_final(client, order["id"])
        return Outcome(order["status"], order.get("reason") or None, order, resp)
    if 400 <= resp.status_code < 500:
        body = resp.json()
        if isinstance(body, dict) and "code" in body:
            return Outcome("rejected", body["code"], body, resp)
    raise AssertionError(f"POST /api/v1/orders/ {lines} card {card}: unexpected "
                         f"{resp.status_code} {resp.text[:500]}")


@pytest.fixture
def place_order() -> Iterator[Callable[..., Outcome]]:
    """place_order(client, lines, card=GOOD_CARD) -> Outcome, unpacking as (status, reason, body).

    Confirmed orders are cancelled after the test (stock goes back), so tests stay independent
    and a long-running shop does not run dry.
    """
    placed: list[tuple[httpx.Client, int]] = []

    def place(client: httpx.Client, lines: list[dict], card: str = GOOD_CARD) -> Outcome:
        outcome = submit_order(client, lines, card)
        if outcome.status == "confirmed":
            placed.append((client, outcome.body["id"]))
        return outcome

    yield place
    for client, order_id in placed:
        with contextlib.suppress(httpx.HTTPError):
            client.post(f"/api/v1/orders/{order_id}/cancel/")


def order_count(client: httpx.Client) -> int:
    resp = client.get("/api/v1/orders/")
    assert resp.status_code == 200, resp.text
    return resp.json()["count"]


def names_field(body: Any, field: str) -> bool:
    """True if a DRF-shaped error body has `field` as a key, at any depth."""
    if isinstance(body, dict):
        return any(k == field or names_field(v, field) for k, v in body.items())
    if isinstance(body, list):
        return any(names_field(item, field) for item in body)
    return False
