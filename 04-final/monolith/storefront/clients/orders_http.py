"""The storefront's client for the orders service's HTTP API: place and cancel.

It speaks the same public API as any customer's app, with the customer's own token, so the
orders service authorises it like anyone else. What this client relies on is written down as a
pact (tests/contract/test_orders_pact.py -> ../pacts/): the orders service is verified against
it, so a change there that would break this page fails the service's build, not the shop.
"""

from dataclasses import dataclass

import httpx
from django.conf import settings


@dataclass
class Rejected(Exception):
    """A business rejection (402, 409): the service's machine code and human sentence."""

    code: str
    detail: str
    product_id: int | None = None


class Invalid(Exception):
    """400: the request was wrong; `errors` is keyed by field."""

    def __init__(self, errors):
        super().__init__(str(errors))
        self.errors = errors


class NotFound(Exception):
    pass


class Unavailable(Exception):
    """The orders service did not answer, or answered 5xx: nothing is known to have happened."""


# We wait the budget we give plus this margin, so the service's answer always reaches us
# (docs/api-contract.md, deadline budget): it never carries on after we gave up.
BUDGET_MARGIN_SECONDS = 1.0


class OrdersClient:
    def __init__(self, token: str, base_url: str | None = None, timeout: float | None = None):
        self.base_url = (base_url or settings.ORDERS_URL).rstrip("/")
        self.timeout = settings.ORDERS_TIMEOUT_SECONDS if timeout is None else timeout
        budget_ms = max(int((self.timeout - BUDGET_MARGIN_SECONDS) * 1000), 0)
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json",
                        "X-Request-Budget-Ms": str(budget_ms)}

    def _post(self, path: str, json=None) -> dict:
        try:
            resp = httpx.post(f"{self.base_url}{path}", json=json, headers=self.headers,
                              timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise Unavailable(f"orders service: {exc}") from exc
        if resp.status_code >= 500:
            raise Unavailable(f"orders service answered {resp.status_code}")
        body = resp.json()
        if resp.status_code == 404:
            raise NotFound(body.get("detail", "not found"))
        if resp.status_code == 400:
            raise Invalid(body)
        if resp.status_code in (402, 409):
            raise Rejected(body["code"], body["detail"], body.get("product_id"))
        resp.raise_for_status()
        return body

    def place_order(self, lines: list[tuple[int, int]], card_number: str) -> dict:
        """lines: (product_id, quantity). Returns the order: {"id", "status", ...}."""
        return self._post("/api/v1/orders/", {
            "lines": [{"product_id": pid, "quantity": qty} for pid, qty in lines],
            "card_number": card_number,
        })

    def cancel_order(self, order_id: int) -> dict:
        return self._post(f"/api/v1/orders/{order_id}/cancel/")
