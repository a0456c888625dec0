"""A revoked access token is announced in Redis, so the gateway refuses it before it expires.

A JWT is checked by its signature alone: revoking it in the provider's database changes
nothing for a verifier that never asks the database. So every access token row that goes (DOT
deletes the row on revocation) is published as `revoked:<sha256 of the token>` (the checksum DOT
stores, the only form of the token kept) until the token would have expired anyway. The gateway
looks the checksum up beside its rate-limit counter.

Without a Redis (REVOCATION_REDIS_URL empty, e.g. unit tests) nothing is published and the token
stays valid at the gateway until it expires (5 minutes at most): the log says so.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db.models.signals import post_delete
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

log = logging.getLogger(__name__)
PREFIX = "revoked:"
_client: redis.Redis | None = None


def _redis() -> redis.Redis | None:
    global _client
    if _client is None and settings.REVOCATION_REDIS_URL:
        _client = redis.Redis.from_url(settings.REVOCATION_REDIS_URL, socket_timeout=1,
                                       socket_connect_timeout=1)
    return _client


def publish(checksum: str, expires) -> bool:
    ttl = int((expires - timezone.now()).total_seconds()) + 1
    if ttl <= 0:
        return True  # expired already: every verifier refuses it by its `exp`
    client = _redis()
    if client is None:
        log.warning("revoked token not announced (no REVOCATION_REDIS_URL): the gateway "
                    "accepts it until it expires in %d s", ttl)
        return False
    try:
        client.set(PREFIX + checksum, 1, ex=ttl)
    except redis.RedisError as exc:
        log.error("revoked token not announced (%s): the gateway accepts it until it expires "
                  "in %d s", exc, ttl)
        return False
    return True


def _on_delete(sender, instance, **kwargs):
    if instance.token_checksum:
        publish(instance.token_checksum, instance.expires)


def connect() -> None:
    post_delete.connect(_on_delete, sender=get_access_token_model(),
                        dispatch_uid="identity.revocation")
