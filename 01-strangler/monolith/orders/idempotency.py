"""`Idempotency-Key` on POST /api/v1/orders/: a client may retry a request, never pay twice.

The contract (docs/api-contract.md, after draft-ietf-httpapi-idempotency-key-header):
- the first request with a key runs; its outcome is kept with the key, in the same database
  transaction as the order it creates (or right after the business rejection it answers);
- the same key and the same body (SHA-256 of the canonical JSON) answer that outcome again,
  with `Idempotent-Replayed: true`: never a second order, charge or reservation;
- the same key with another body: 422 `idempotency_key_reused`;
- the same key while its first request is still running: 409 `idempotency_key_in_use`;
- a 400, or an answer that kept nothing, is not kept: a retry runs again.

How a duplicate is stopped: the first request commits a claim (a row with no outcome yet)
before it places anything. The unique (customer, key) constraint lets exactly one claim in,
whatever the database and however many processes race; the others read the row and answer from
it. A claim whose request died (a crash, a kill -9) is taken over after its lease: the dead
request's transaction was rolled back, so nothing it did was kept. The lease is only about
waiting: writing an outcome requires still holding the claim, in the order's own transaction,
so a request overtaken while still alive (slower than its lease) commits nothing either.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions

from orders.models import IdempotencyKey

HEADER = "Idempotency-Key"
VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")


class KeyReused(Exception):
    """The key was first used with another body."""


class KeyInUse(Exception):
    """The key's first request is still running."""


class ClaimLost(Exception):
    """Another request took the key over (this one outlived its lease): keep nothing."""


@dataclass(frozen=True)
class Claim:
    """This request holds the key: its outcome goes into row `pk` if the claim still matches."""

    pk: int
    token: str


def key_of(request) -> str | None:
    """The request's key; None if it sent none. A malformed key answers 400 naming the header."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    if not VALID_KEY.fullmatch(raw):
        raise exceptions.ValidationError({HEADER: [
            "An idempotency key is 1 to 255 visible ASCII characters (0x21-0x7E)."]})
    return raw


def fingerprint(body) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def begin(customer, key: str, body) -> Claim | IdempotencyKey:
    """Claim `key` for this request, or return the finished row to answer from.

    Raises KeyReused (another body) or KeyInUse (its first request is still running).
    """
    digest = fingerprint(body)
    for _ in range(3):  # a lost race re-reads the row the winner wrote
        token = uuid.uuid4().hex
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    customer=customer, key=key, request_hash=digest, claim=token,
                    lease_until=_lease_end())
            return Claim(row.pk, token)
        except IntegrityError:
            pass
        row = IdempotencyKey.objects.filter(customer=customer, key=key).first()
        if row is None:  # released between our insert and our read: try again
            continue
        if row.request_hash != digest:
            raise KeyReused()
        if row.status_code is not None:
            return row
        if row.lease_until > timezone.now():
            raise KeyInUse()
        taken = IdempotencyKey.objects.filter(
            pk=row.pk, claim=row.claim, status_code__isnull=True,
        ).update(claim=token, lease_until=_lease_end())
        if taken:
            return Claim(row.pk, token)
    raise KeyInUse()


def place_once(claim: Claim, place, status_code: int = 201):
    """Run `place()` (which creates an order) and keep the outcome in the same transaction."""
    with transaction.atomic():
        order = place()
        _finish(claim, status_code=status_code, order=order)
    return order


def keep_rejection(claim: Claim, status_code: int, body: dict) -> None:
    """A business rejection (402, 409 out_of_stock) is an outcome: a retry gets it again."""
    with transaction.atomic():
        _finish(claim, status_code=status_code, response_body=body)


def release(claim: Claim) -> None:
    """Nothing was kept (a 400, a crash, a deadline): the key is free for a retry to run again."""
    IdempotencyKey.objects.filter(pk=claim.pk, claim=claim.token,
                                  status_code__isnull=True).delete()


def _finish(claim: Claim, **outcome) -> None:
    done = IdempotencyKey.objects.filter(
        pk=claim.pk, claim=claim.token, status_code__isnull=True).update(**outcome)
    if done != 1:
        raise ClaimLost()


def _lease_end():
    return timezone.now() + timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)
