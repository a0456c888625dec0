"""One OpenAPI document for the whole shop, though two services now serve it.

The facade sends /api/v1/orders to the orders service, so the monolith's own schema no longer
has those paths. This hook fetches the orders service's schema and adds its paths and
components, so /api/v1/docs/ still documents everything a client can call. If the service is
down, the docs say so instead of failing.
"""

import logging

import httpx
from django.conf import settings

log = logging.getLogger(__name__)


def include_orders_service(result, generator, request, public):
    try:
        resp = httpx.get(f"{settings.ORDERS_URL}/api/v1/schema/",
                         params={"format": "json"}, timeout=settings.ORDERS_TIMEOUT_SECONDS)
        resp.raise_for_status()
        theirs = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("orders service schema unavailable: %s", exc)
        result["info"]["description"] += (
            "\n\nThe orders service did not answer: its operations are missing from this page."
        )
        return result
    result["paths"].update(theirs.get("paths", {}))
    for kind, items in theirs.get("components", {}).items():
        mine = result.setdefault("components", {}).setdefault(kind, {})
        for name, item in items.items():
            mine.setdefault(name, item)  # same name, same meaning: ours wins (e.g. tokenAuth)
    result["paths"] = dict(sorted(result["paths"].items()))
    return result
