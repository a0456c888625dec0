"""`Idempotency-Key` on POST /api/v1/orders/ (docs/api-contract.md; the IETF draft
draft-ietf-httpapi-idempotency-key-header): a client that got no answer, or a 502/503/504, retries
with the same key and gets the first answer again, never a second order, charge or reservation.

- The key is claimed before any work (a row, unique per customer and key): a concurrent
  duplicate finds the claim and is told 409 `idempotency_key_in_use`, Retry-After: 1.
- The outcome is recorded in the same transaction as the order it creates (Claim.record_order),
  or with the business rejection it answered (402, 409), and replayed with
  `Idempotent-Replayed: true`: the order as it is now, or the same rejection.
- The same key with another body (SHA-256 of its canonical JSON) is 422 `idempotency_key_reused`.
- What kept nothing (400, 503, 504) deletes the claim: a retry runs again. A claim whose request
  died without answering is taken over once its lease (the request's deadline) has passed: an
  order would have completed it in its own transaction, so that request kept nothing either.
"""

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from orders.deadline import Deadline
from orders.models import IdempotencyKey, Order
from orders.serializers import OrderOut

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
# Business rejections are answers too: replayed, not run again.
RECORDED = {402: {"payment_declined", "payment_timeout"}, 409: {"out_of_stock"}}


class ClaimLost(Exception):
    """Our claim was taken over (our request outlived its lease): we must not record anything."""


def key_of(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all("\x21" <= char <= "\x7e" for char in key):
        raise ValidationError({HEADER: ["1 to 255 visible ASCII characters (no spaces)."]})
    return key


def fingerprint(body) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def in_use() -> Response:
    return Response({"code": "idempotency_key_in_use",
                     "detail": "A request with this Idempotency-Key is still being processed; "
                               "retry in a moment."}, status=409, headers={"Retry-After": "1"})


def _reused() -> Response:
    return Response({"code": "idempotency_key_reused",
                     "detail": "This Idempotency-Key was used with a different request body."},
                    status=422)


def _replay(claimed: IdempotencyKey) -> Response:
    if claimed.order_id is not None:
        order = Order.objects.prefetch_related("lines").get(pk=claimed.order_id)
        response = Response(OrderOut(order).data, status=claimed.status_code,
                            headers={"Location": f"/api/v1/orders/{order.id}/"})
    else:
        response = Response(claimed.body, status=claimed.status_code)
    response["Idempotent-Replayed"] = "true"
    return response


@dataclass(frozen=True)
class Claim:
    customer_id: int
    key: str
    attempt: str

    def _mine(self):
        return IdempotencyKey.objects.filter(customer_id=self.customer_id, key=self.key,
                                             attempt=self.attempt, status_code=None)

    def record_order(self, order: Order) -> None:
        """Inside the order's transaction: the key and its order commit together, or neither."""
        if not self._mine().update(order=order, status_code=202):
            raise ClaimLost(f"Idempotency-Key {self.key!r} was taken over")

    def settle(self, response: Response) -> None:
        """After answering anything but a 201: record a business rejection, forget the rest."""
        try:
            code = response.data.get("code") if isinstance(response.data, dict) else None
            if code in RECORDED.get(response.status_code, ()):
                self._mine().update(status_code=response.status_code, body=response.data)
            elif response.status_code not in (201, 202):
                self._mine().delete()
        except DatabaseError:  # the claim lapses with its lease; a retry then runs again
            log.exception("could not settle Idempotency-Key %r", self.key)


def claim(customer_id: int, key: str, body, deadline: Deadline) -> Claim | Response:
    """Claim the key for this request, or the answer to give instead (replay, 409, 422)."""
    digest, attempt, now = fingerprint(body), uuid.uuid4().hex, timezone.now()
    lease = now + timedelta(seconds=max(deadline.left(), 0) + settings.SETTLE_MARGIN_SECONDS)
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(customer_id=customer_id, key=key, request_hash=digest,
                                          attempt=attempt, locked_until=lease)
        return Claim(customer_id, key, attempt)
    except IntegrityError:
        pass
    claimed = IdempotencyKey.objects.filter(customer_id=customer_id, key=key).first()
    if claimed is None:  # its first request kept nothing and let go just now: try again
        return in_use()
    if claimed.request_hash != digest:
        return _reused()
    if claimed.status_code is None:
        if claimed.locked_until > now:
            return in_use()
        taken = IdempotencyKey.objects.filter(pk=claimed.pk, attempt=claimed.attempt,
                                              status_code=None).update(attempt=attempt,
                                                                       locked_until=lease)
        return Claim(customer_id, key, attempt) if taken else in_use()
    return _replay(claimed)
