"""Channels to the monolith's gRPC server, one per process and target, reused by every call.

A grpc channel keeps its HTTP/2 connection open, multiplexes concurrent calls over it and
reconnects by itself: making one per request would pay a TCP (and later TLS) handshake each time.

Retries belong to the channel, not to hand-written loops: every method this service calls on the
monolith is safe to repeat (reservations are idempotent by id, Authenticate only reads), so the
service config below lets gRPC itself retry a call that found the server UNAVAILABLE, with
exponential backoff, up to GRPC_ATTEMPTS tries, always within the call's own deadline. A call
that timed out (DEADLINE_EXCEEDED) is not retried: its time is spent.
"""

import functools
import json

import grpc
from django.conf import settings

from shopapi.customers.v1 import customers_pb2_grpc
from shopapi.inventory.v1 import inventory_pb2_grpc

RETRIED = ["shopapi.inventory.v1.Inventory", "shopapi.customers.v1.Customers"]


def service_config(attempts: int) -> str:
    config = {"methodConfig": [{"name": [{"service": name} for name in RETRIED]}]}
    if attempts > 1:  # gRPC wants at least 2 attempts in a retry policy (and caps them at 5)
        config["methodConfig"][0]["retryPolicy"] = {
            "maxAttempts": attempts,
            "initialBackoff": "0.1s",
            "maxBackoff": "1s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        }
    return json.dumps(config)


@functools.cache
def channel(target: str, attempts: int) -> grpc.Channel:
    return grpc.insecure_channel(target, options=[
        ("grpc.service_config", service_config(attempts)),
        # After the monolith restarts, reconnect within a second, not after a minute of backoff.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ])


def _channel() -> grpc.Channel:
    return channel(settings.MONOLITH_GRPC, settings.GRPC_ATTEMPTS)


def inventory() -> inventory_pb2_grpc.InventoryStub:
    return inventory_pb2_grpc.InventoryStub(_channel())


def customers() -> customers_pb2_grpc.CustomersStub:
    return customers_pb2_grpc.CustomersStub(_channel())
